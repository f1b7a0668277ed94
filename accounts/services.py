"""Writes and workflows of AWS account connections.

Two ways in (the seed's methods):
1. CloudFormation role: `account_create_pending` makes a pending account with a server-generated External
   ID -> the customer creates the stack from our template -> `account_verify_role` with the Role ARN
   assumes the role with the External ID, reads the AWS account id from the assumed identity and moves the
   account pending -> connected; discovery is queued after commit.
2. Access keys: `account_connect_access_keys` validates the keys with STS GetCallerIdentity, encrypts them
   and upserts: the team's own row for that AWS account is reconnected, otherwise a new account is made;
   an AWS account connected by another team is refused (Conflict, HTTP 409) with nothing changed. A
   pending CloudFormation account becomes a keys account only when asked to, on that account
   (`account_connect_pending_with_keys`), never as a side effect.

Accounts belong to a team (accounts.teams); the person who connected one stays its owner. An AWS account
id is connected at most once across all tenants: the unique constraint on account_id decides races; the
loser gets the same Conflict as a sequential attempt would.
"""

import logging
import re
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction

from spotopt import aws, crypto
from spotopt.db import pk_batches
from spotopt.errors import Conflict, DomainError, PermissionRefused
from spotopt.q import enqueue_on_commit

from .choices import AccountStatus, ConnectionMethod, EnvironmentType
from .models import Account, Team, User, instance_type_patterns_clean
from .roles import Capability, can
from .teams import team_ensure

logger = logging.getLogger(__name__)

PENDING_PREFIX = "pending-"
EXTERNAL_ID_PREFIX = "spot-optimizer-"
ROLE_ARN_PATTERN = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):iam::(\d{12}):role/([\w+=,.@/-]{1,512})$")
ACCESS_KEY_ID_PATTERN = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,124}$")
DISCOVERY_TASK = "fleet.tasks.discover_account"


class AccountConflict(Conflict):
    code = "account_owned_elsewhere"


def _require(user: User, capability: Capability) -> None:
    if not can(user, capability):
        raise PermissionRefused("Your role does not allow this.")


def _clean_regions(regions, *, home_region: str) -> list[str]:
    chosen = []
    for region in regions or []:
        region = str(region).strip()
        if region not in settings.SPOTOPT_REGIONS:
            raise DomainError(f"'{region}' is not a region spotopt can scan.", code="invalid_region")
        if region not in chosen:
            chosen.append(region)
    return chosen or [home_region]


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError("Give the account a name.", code="invalid_name")
    if len(name) > 255:
        raise DomainError("An account name has at most 255 characters.", code="invalid_name")
    return name


def _queue_discovery(account: Account) -> None:
    enqueue_on_commit(DISCOVERY_TASK, str(account.pk))


# --- CloudFormation role -----------------------------------------------------------------------------


@transaction.atomic
def account_create_pending(
    *, user: User, account_name: str, environment_type: str = EnvironmentType.PROD, region: str = "", regions=()
) -> Account:
    """Step 1 of the role flow: a pending account with a server-generated External ID."""
    _require(user, Capability.CONNECT_ACCOUNTS)
    region = region or settings.AWS_DEFAULT_REGION
    if region not in settings.SPOTOPT_REGIONS:
        raise DomainError(f"'{region}' is not a region spotopt can scan.", code="invalid_region")
    if environment_type not in EnvironmentType.values:
        raise DomainError("The environment type is PROD or LAB.", code="invalid_environment_type")
    return Account.objects.create(
        user=user,
        team=team_ensure(user=user),
        account_id=f"{PENDING_PREFIX}{uuid.uuid4()}",
        account_name=_clean_name(account_name),
        environment_type=environment_type,
        connection_method=ConnectionMethod.IAM_ROLE,
        external_id=f"{EXTERNAL_ID_PREFIX}{uuid.uuid4()}",
        region=region,
        regions=_clean_regions(regions, home_region=region),
        status=AccountStatus.PENDING,
    )


def parse_role_arn(role_arn: str) -> str:
    """The AWS account id named by a role ARN; a clear error when it is not one."""
    match = ROLE_ARN_PATTERN.match((role_arn or "").strip())
    if not match:
        raise DomainError(
            "That is not an IAM role ARN. It looks like arn:aws:iam::123456789012:role/"
            f"{settings.CLOUDFORMATION_ROLE_NAME} (see the stack's Outputs tab).",
            code="invalid_role_arn",
        )
    return match.group(2)


def account_verify_role(*, user: User, account: Account, role_arn: str = "") -> Account:
    """Step 3 of the role flow (and Retry of a failed role account): assume the role with the External ID,
    confirm the AWS account, move to connected and queue discovery."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    if account.connection_method != ConnectionMethod.IAM_ROLE:
        raise DomainError("This account is connected with access keys; reconnect it with new keys instead.")
    if account.status not in (AccountStatus.PENDING, AccountStatus.FAILED):
        raise DomainError(f"This account is already {account.status}; there is nothing to verify.")
    role_arn = (role_arn or account.role_arn).strip()
    arn_account_id = parse_role_arn(role_arn)
    try:
        with aws.aws_errors("assume the role with the account's External ID"):
            identity = aws.identity_for_role(role_arn, account.external_id)
    except DomainError as error:
        # Record what the person is told (the role hint), not the raw AWS refusal.
        error = _role_error(error, account)
        _record_error(account, error, role_arn=role_arn)
        raise error from None
    if identity.account_id != arn_account_id:
        error = DomainError(
            f"The role belongs to AWS account {identity.account_id}, not {arn_account_id} as the ARN says.",
            code="wrong_account",
        )
        _record_error(account, error, role_arn=role_arn)
        raise error
    return _claim(
        user=user,
        aws_account_id=identity.account_id,
        source=account,
        updates={"role_arn": role_arn, "connection_method": ConnectionMethod.IAM_ROLE},
    )


def _role_error(error: DomainError, account: Account) -> DomainError:
    if error.code == "aws_access_denied":
        return DomainError(
            "AWS refused to let spotopt assume this role. Check that the CloudFormation stack finished "
            f"creating, that the ARN is the stack's RoleArn output, and that its trust policy uses the External "
            f"ID {account.external_id} and trusts {aws.platform_principal_arn_or_unknown()}.",
            code="role_not_assumable",
        )
    return error


# --- Access keys --------------------------------------------------------------------------------------


def _checked_keys(access_key_id: str, secret_access_key: str) -> tuple[str, str, "aws.Identity"]:
    """The keys, stripped and checked in shape, and the AWS identity STS says they belong to."""
    access_key_id = (access_key_id or "").strip()
    secret_access_key = (secret_access_key or "").strip()
    if not ACCESS_KEY_ID_PATTERN.match(access_key_id):
        raise DomainError("That does not look like an AWS access key id (AKIA… or ASIA…).", code="invalid_keys")
    if len(secret_access_key) < 16:
        raise DomainError("The secret access key is incomplete.", code="invalid_keys")
    with aws.aws_errors("check the access keys with STS GetCallerIdentity"):
        identity = aws.identity_for_keys(access_key_id, secret_access_key)
    return access_key_id, secret_access_key, identity


def account_connect_access_keys(
    *,
    user: User,
    access_key_id: str,
    secret_access_key: str,
    account_name: str = "",
    environment_type: str = EnvironmentType.PROD,
    region: str = "",
    regions=(),
    owner: User | None = None,
    team: Team | None = None,
) -> tuple[Account, bool]:
    """Validate the keys with STS, encrypt them, and connect the AWS account they belong to: the team's
    row for it is reconnected, else a new account is made. Returns (account, created).

    `owner` and `team` are whose account it is (default: the user acting and their team); an admin
    retrying a customer's account acts for its owner and team."""
    _require(user, Capability.CONNECT_ACCOUNTS)
    if environment_type not in EnvironmentType.values:
        raise DomainError("The environment type is PROD or LAB.", code="invalid_environment_type")
    region = region or settings.AWS_DEFAULT_REGION
    regions = _clean_regions(regions, home_region=region)
    access_key_id, secret_access_key, identity = _checked_keys(access_key_id, secret_access_key)
    updates = {
        "connection_method": ConnectionMethod.ACCESS_KEYS,
        "role_arn": "",
        "region": region,
        "regions": regions,
        "environment_type": environment_type,
        "_keys": (access_key_id, secret_access_key),
    }
    if account_name:
        updates["account_name"] = _clean_name(account_name)
    existed = Account.objects.filter(account_id=identity.account_id).exists()
    owner = owner or user
    account = _claim(
        user=user,
        owner=owner,
        team=team or team_ensure(user=owner),
        aws_account_id=identity.account_id,
        source=None,
        updates=updates,
        default_name=account_name or f"AWS {identity.account_id}",
    )
    return account, not existed


def account_connect_pending_with_keys(
    *, user: User, account: Account, access_key_id: str, secret_access_key: str
) -> Account:
    """Connect a pending CloudFormation account with access keys instead (asked for on that account's
    page): its External ID is dropped, its name, environment and regions stay. When the team already has
    the keys' AWS account, that one is reconnected and the pending placeholder removed."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    if account.status != AccountStatus.PENDING or account.connection_method != ConnectionMethod.IAM_ROLE:
        raise DomainError(
            "Only a pending CloudFormation account can switch to access keys; connect keys from the Connect page.",
            code="not_pending",
        )
    access_key_id, secret_access_key, identity = _checked_keys(access_key_id, secret_access_key)
    return _claim(
        user=user,
        aws_account_id=identity.account_id,
        source=account,
        updates={
            "connection_method": ConnectionMethod.ACCESS_KEYS,
            "role_arn": "",
            "external_id": None,
            "_keys": (access_key_id, secret_access_key),
        },
    )


# --- The one place an AWS account id is claimed ------------------------------------------------------


def _claim(
    *,
    user,
    aws_account_id: str,
    source: Account | None,
    updates: dict,
    default_name: str = "",
    owner: User | None = None,
    team: Team | None = None,
) -> Account:
    """Attach `aws_account_id` to the team's row: its existing row for it, else `source` (a pending
    placeholder), else a new row. Refuse (Conflict) when another team has it. Moves to connected and
    queues discovery. The team and owner are `source`'s, else `team`/`owner`, else the user acting's."""
    owner = source.user if source else (owner or user)
    team = source.team if source else (team or team_ensure(user=owner))
    keys = updates.pop("_keys", None)
    try:
        with transaction.atomic():
            existing = Account.objects.select_for_update().filter(account_id=aws_account_id).first()
            if existing and existing.team_id != team.pk:
                raise _owned_elsewhere(aws_account_id)
            if existing:
                account = existing
                if source and source.pk != existing.pk and source.status == AccountStatus.PENDING:
                    # The team verified a second placeholder for an account it already has: keep one row.
                    Account.objects.filter(pk=source.pk).delete()
                    if updates.get("connection_method") == ConnectionMethod.IAM_ROLE:
                        # The role was just assumed with the placeholder's External ID: keep using that one.
                        account.external_id = source.external_id
            elif source:
                account = Account.objects.select_for_update().get(pk=source.pk)
                account.account_id = aws_account_id
            else:
                account = Account(
                    user=owner,
                    team=team,
                    account_id=aws_account_id,
                    account_name=default_name,
                    status=AccountStatus.PENDING,
                )
            for field, value in updates.items():
                setattr(account, field, value)
            if account.connection_method == ConnectionMethod.ACCESS_KEYS:
                if account._state.adding:
                    account.save()  # the row id binds the encrypted keys to this row
                account.set_access_keys(*keys)
            else:
                account.access_key_id_encrypted = account.secret_access_key_encrypted = ""
            if account.status in (AccountStatus.PENDING, AccountStatus.FAILED):
                account.move_to(AccountStatus.CONNECTED)
            metadata = dict(account.account_metadata)
            metadata.pop("last_error", None)
            account.account_metadata = metadata
            account.is_active = True
            account.save()
            _queue_discovery(account)
    except IntegrityError:
        # Somebody else claimed the same AWS account at the same moment and committed first.
        team_pk = Account.objects.filter(account_id=aws_account_id).values_list("team_id", flat=True).first()
        if team_pk is not None and team_pk != team.pk:
            raise _owned_elsewhere(aws_account_id) from None
        raise Conflict("This AWS account was just connected by another request; reload and try again.") from None
    logger.info("account %s connected (%s) by user %s", aws_account_id, account.connection_method, user.pk)
    return account


def _owned_elsewhere(aws_account_id: str) -> AccountConflict:
    return AccountConflict(
        f"AWS account {aws_account_id} is already connected to spotopt by another team. Ask them (or an "
        "administrator) to remove it first."
    )


def _record_error(account: Account, error: DomainError, **extra) -> None:
    """Remember why the last attempt failed, for the page and the API (never secrets)."""
    metadata = dict(account.account_metadata)
    metadata["last_error"] = {"message": error.message, "code": error.code, **extra}
    Account.objects.filter(pk=account.pk).update(account_metadata=metadata)
    account.account_metadata = metadata


# --- Everyday management ----------------------------------------------------------------------------


def account_retry(*, user: User, account: Account) -> Account:
    """Retry of a failed (or still pending) account: verify its role again, or re-check its keys."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    if account.status not in (AccountStatus.FAILED, AccountStatus.PENDING):
        raise DomainError(f"Only a failed or pending account can be retried; this one is {account.status}.")
    if account.connection_method == ConnectionMethod.IAM_ROLE:
        if not account.role_arn:
            raise DomainError("Paste the Role ARN from the CloudFormation stack's Outputs first.", code="no_role")
        return account_verify_role(user=user, account=account)
    try:
        access_key_id, secret_access_key = account.get_access_keys()
    except crypto.DecryptionError as exc:
        raise DomainError(str(exc), code="undecryptable_keys") from None
    account, _ = account_connect_access_keys(
        user=user,
        owner=account.user,
        team=account.team,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        environment_type=account.environment_type,
        region=account.region,
        regions=account.regions,
    )
    return account


class _InstallationDefault:
    """The value that clears an account's optimizer threshold in account_update: the installation's applies."""

    def __repr__(self):
        return "INSTALLATION_DEFAULT"


INSTALLATION_DEFAULT = _InstallationDefault()

# The ranges of the optimizer settings (the model's validators and check constraints say the same).
_MIN_SAVING = {
    "low": Decimal("0.01"),
    "high": Decimal("0.95"),
    "code": "invalid_optimizer_min_saving",
    "message": "The least saving of a switch is 1% to 95% of the hourly price (a share from 0.01 to 0.95).",
}
_MAX_RISK = {
    "low": Decimal("0.001"),
    "high": Decimal("0.5"),
    "code": "invalid_optimizer_max_risk",
    "message": "The highest interruption risk accepted is 0.1% to 50% (a share from 0.001 to 0.5).",
}
_GROUP_SHARE = {
    "low": Decimal("0.01"),
    "high": Decimal("1"),
    "code": "invalid_switch_max_group_share",
    "message": "The largest share of an Auto Scaling group switched at once is 1% to 100% (0.01 to 1).",
}
_SHARE_STEP = Decimal("0.001")  # the columns keep three decimals (a tenth of a percent)


def _share(value, *, low: Decimal, high: Decimal, code: str, message: str) -> Decimal:
    """A share from low to high with at most three decimals, or a DomainError with the range."""
    try:
        share = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        share = None
    if isinstance(value, bool) or share is None or not share.is_finite() or not low <= share <= high:
        raise DomainError(message, code=code)
    if share != share.quantize(_SHARE_STEP):
        raise DomainError(f"{message} At most three decimals (a tenth of a percent).", code=code)
    return share.quantize(_SHARE_STEP)


def _optional_share(value, **limits) -> Decimal | None:
    return None if value is INSTALLATION_DEFAULT else _share(value, **limits)


@transaction.atomic
def account_update(
    *,
    user: User,
    account: Account,
    account_name=None,
    environment_type=None,
    regions=None,
    allowed_instance_types=None,
    denied_instance_types=None,
    waste_grace_days=None,
    waste_final_snapshot=None,
    optimizer_min_saving=None,
    optimizer_max_risk=None,
    allow_automatic_switches=None,
    switch_max_group_share=None,
    kubernetes_dry_run=None,
) -> Account:
    """Change what was given (None leaves it as it is); instance-type patterns are checked and normalised by
    accounts.models.instance_type_patterns_clean.

    The optimizer settings are shares, not percents (Decimal, or anything Decimal() reads, at most three
    decimals): `optimizer_min_saving` 0.01 to 0.95 of the hourly price, `optimizer_max_risk` 0.001 to 0.5
    (the model's predicted interruption probability), `switch_max_group_share` 0.01 to 1 of an Auto Scaling
    group; out of range is a DomainError (invalid_<setting>) that gives the range. The two thresholds may
    also be given INSTALLATION_DEFAULT (and only that clears them; "" is refused): the account's own value
    is cleared and the installation's OPTIMIZER_MIN_SAVING / OPTIMIZER_MAX_RISK apply again."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    account = Account.objects.select_for_update().get(pk=account.pk)
    if account_name is not None:
        account.account_name = _clean_name(account_name)
    if environment_type is not None:
        if environment_type not in EnvironmentType.values:
            raise DomainError("The environment type is PROD or LAB.", code="invalid_environment_type")
        account.environment_type = environment_type
    if regions is not None:
        account.regions = _clean_regions(regions, home_region=account.region)
    if allowed_instance_types is not None:
        account.allowed_instance_types = instance_type_patterns_clean(
            allowed_instance_types, field="allowed_instance_types"
        )
    if denied_instance_types is not None:
        account.denied_instance_types = instance_type_patterns_clean(
            denied_instance_types, field="denied_instance_types"
        )
    if waste_grace_days is not None:
        if not 1 <= int(waste_grace_days) <= 90:
            raise DomainError("The waste grace period is 1 to 90 days.", code="invalid_waste_grace_days")
        account.waste_grace_days = int(waste_grace_days)
    if waste_final_snapshot is not None:
        account.waste_final_snapshot = bool(waste_final_snapshot)
    if optimizer_min_saving is not None:
        account.optimizer_min_saving = _optional_share(optimizer_min_saving, **_MIN_SAVING)
    if optimizer_max_risk is not None:
        account.optimizer_max_risk = _optional_share(optimizer_max_risk, **_MAX_RISK)
    if allow_automatic_switches is not None:
        account.allow_automatic_switches = bool(allow_automatic_switches)
    if switch_max_group_share is not None:
        account.switch_max_group_share = _share(switch_max_group_share, **_GROUP_SHARE)
    if kubernetes_dry_run is not None:
        account.kubernetes_dry_run = bool(kubernetes_dry_run)
    account.save()
    return account


@transaction.atomic
def account_delete(*, user: User, account: Account) -> None:
    """Remove the account and everything under it (instances, experiment logs, waste). Approval and
    downtime records stay for the audit trail."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    logger.info("account %s removed by user %s", account.account_id, user.pk)
    account.delete()


def account_discovery_queue(*, user: User, account: Account) -> Account:
    """Run discovery again now (connected or active accounts)."""
    _require(user, Capability.MANAGE_ACCOUNTS)
    if account.status not in (AccountStatus.CONNECTED, AccountStatus.ACTIVE):
        raise DomainError(f"Discovery needs a connected account; this one is {account.status}.")
    with transaction.atomic():
        _queue_discovery(account)
    return account


# --- Key rotation -------------------------------------------------------------------------------------


def credentials_rotate_key() -> dict:
    """Re-encrypt every stored secret under the newest key. Undecryptable rows are reported, not lost."""
    ring = crypto.keyring()
    result = {"key_id": ring.current_kid, "re_encrypted": 0, "already_current": 0, "failed": []}
    accounts = Account.objects.exclude(access_key_id_encrypted="").only(
        "pk", "account_id", "account_name", "access_key_id_encrypted", "secret_access_key_encrypted"
    )
    for account in (account for batch in pk_batches(accounts, 500) for account in batch):
        try:
            stored = (account.access_key_id_encrypted, account.secret_access_key_encrypted)
            if all(crypto.key_id_of(value) == ring.current_kid for value in stored):
                result["already_current"] += 1
                continue
            keys = account.get_access_keys()
        except crypto.DecryptionError as exc:
            result["failed"].append(str(exc))
            continue
        with transaction.atomic():
            account.set_access_keys(*keys)
            Account.objects.filter(pk=account.pk).update(
                access_key_id_encrypted=account.access_key_id_encrypted,
                secret_access_key_encrypted=account.secret_access_key_encrypted,
            )
        result["re_encrypted"] += 1
    _rotate_cluster_tokens(ring, result)
    return result


def _rotate_cluster_tokens(ring, result: dict) -> None:
    """Registered Kubernetes clusters' service-account tokens, the same way (counted apart)."""
    from kube.models import KubeCluster

    result.setdefault("clusters_re_encrypted", 0)

    clusters = KubeCluster.objects.exclude(token_encrypted="").only("pk", "name", "token_encrypted")
    for cluster in (cluster for batch in pk_batches(clusters, 500) for cluster in batch):
        if crypto.key_id_of(cluster.token_encrypted) == ring.current_kid:
            continue
        try:
            token = cluster.get_token()
        except crypto.DecryptionError as exc:
            result["failed"].append(f"The token of the cluster {cluster.name} cannot be decrypted: {exc}")
            continue
        cluster.set_token(token)
        KubeCluster.objects.filter(pk=cluster.pk).update(token_encrypted=cluster.token_encrypted)
        result["clusters_re_encrypted"] += 1
