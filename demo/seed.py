"""Seeding the demo: the customers' estate in the AWS emulator (demo.estate), then everything on spotopt's side
through the product's own services:

- one user per role; the Acme team (its client renames it, invites the read-only user, who accepts, and one
  more invitation stays open, so the Team page has something to show);
- both Acme accounts connected through the CloudFormation-role onboarding (pending account with a
  server-generated External ID, the role "deployed" by the customer in moto, verification) and discovered
  by fleet discovery, which also flags the untagged rogue instance;
- pending approval requests of the actions that have a workflow today;
- interruption events (demo.interruptions): each account's event queues and rules, real EventBridge events
  read by the listener's own code, so the hive has poisoned pools, the safety net has acted and the SLA
  has a month with downtime.

- waste (demo_waste_seed): each account scanned by the waste scanner; one idle resource flagged (tagged in
  moto), one flagged a grace period ago and so scheduled, its DELETE_WASTE request pending. The emulator
  cannot backdate creation times, so the demo's idle resources carry their age in a tag that the demo's
  configuration (WASTE_AGE_TAG in demo/demo.env) tells the scanner to read.

- the optimizer (demo_optimizer_seed): the shipped baseline through model governance, five synthetic weeks
  of Spot prices (labelled synthetic: the emulator's prices are constant), then one optimizer cycle: the
  Lab's switches run at once in the emulator (LINEAR and CLUSTER), PROD's wait for their approval requests.
  The Lab's cycle runs on a clock set 30 days back (clock_set_back: the emulator cannot backdate a launch),
  so the savings ledger closes a month of what its replacements ran (demo_ledger_seed).

Where a domain service does not exist yet, the demo shows nothing of it rather than faking it.

`manage.py seed_demo` runs demo_preflight(), demo_users_ensure() and demo_estate_seed() in that order;
running it again creates nothing twice and keeps the users' passwords (unless asked to reset them).
"""

import json
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.choices import AccountStatus, EnvironmentType, InvitationStatus, Role
from accounts.models import Account, TeamInvitation, User
from accounts.services import PENDING_PREFIX, account_create_pending, account_update, account_verify_role
from accounts.teams import team_invitation_accept, team_invitation_create, team_rename
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import approval_request_create
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from fleet.models import Instance
from fleet.services import account_discover

from .estate import (
    DEMO_ACCOUNTS,
    ROLE_NAME,
    AccountClients,
    AccountSpec,
    DemoError,
    demo_account_verify,
    demo_aws_estate_ensure,
    demo_customer_role_deploy,
    demo_platform_role_ensure,
    wrap_aws,
)
from .interruptions import InterruptionSeed, demo_interruptions_seed
from .kubernetes import KubernetesSeed, demo_kubernetes_seed

USER_EMAIL_DOMAIN = "demo.spotopt.local"
TEAM_NAME = "Acme"
DEMO_USERS = (
    ("demo-superadmin", Role.SUPER_ADMIN, "Demo Super Admin"),
    ("demo-admin", Role.ADMIN, "Demo Admin"),
    ("demo-client", Role.CLIENT, "Demo Client (Acme)"),
    ("demo-user", Role.USER, "Demo Read-only User (Acme)"),
    ("demo-lab", Role.LAB, "Demo Lab Operator"),
)
DEMO_CLIENT_USERNAME = "demo-client"
DEMO_READONLY_USERNAME = "demo-user"
DEMO_ADMIN_USERNAME = "demo-admin"
DEMO_LAB_USERNAME = "demo-lab"
# An invitation nobody has accepted yet, for the Team page.
OPEN_INVITATION_EMAIL = f"new.colleague@{USER_EMAIL_DOMAIN}"
# What the last seed run learnt (sign-in URL, AWS endpoint), for `seed_demo --reset-passwords`.
STATE_FILE = "demo.json"
RESET_COMMAND = ".venv/bin/python manage.py seed_demo --reset-passwords"


# --- Results ------------------------------------------------------------------------------------------


@dataclass
class DemoUserResult:
    username: str
    role: str
    created: bool
    password: str | None  # set only when created or reset: it is shown once


@dataclass
class AccountSummary:
    name: str
    aws_account_id: str
    environment_type: str
    status: str
    created_in_aws: dict[str, list[str]]  # region -> what was created this run
    instances: int = 0
    asgs: int = 0
    eks_nodes: int = 0
    spot: int = 0
    rogue: int = 0


@dataclass
class DemoSeedResult:
    endpoint: str
    login_url: str
    accounts: list[AccountSummary] = field(default_factory=list)
    approvals_filed: int = 0
    approvals_pending: int = 0
    interruptions: InterruptionSeed | None = None
    kubernetes: KubernetesSeed | None = None
    preview: dict = field(default_factory=dict)
    ledger_rows: int = 0
    waste: dict = field(default_factory=dict)
    model: str = ""
    experiments: dict = field(default_factory=dict)


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def login_url() -> str:
    return f"{settings.SITE_URL.rstrip('/')}/login/"


# --- Preflight ------------------------------------------------------------------------------------------


def demo_preflight() -> str:
    """The demo only ever fills an emulator: refuse without AWS_ENDPOINT_URL or when it is real AWS, and
    check the emulator answers (and knows the platform's role) before anything is written."""
    endpoint = settings.AWS_ENDPOINT_URL
    if not endpoint:
        raise DemoError(
            "AWS_ENDPOINT_URL is not set. seed_demo only fills an AWS emulator, never real AWS: run `make demo` "
            "(scripts/run_demo.sh starts moto and sets it), or start moto yourself and set the variables of "
            "demo/demo.env."
        )
    host = urlparse(endpoint).hostname or ""
    if host.endswith(("amazonaws.com", "amazonaws.com.cn")):
        raise DemoError(f"AWS_ENDPOINT_URL points at real AWS ({endpoint}); seed_demo only fills an emulator.")
    if not settings.PLATFORM_AWS_PRINCIPAL_ARN:
        raise DemoError(
            "PLATFORM_AWS_PRINCIPAL_ARN is not set: the demo runs the platform as the role demo/demo.env names, "
            "so that customers' CloudFormation roles can trust it. Use `make demo`, or export demo/demo.env."
        )
    try:
        wrap_aws(demo_platform_role_ensure)
    except DemoError as error:
        raise DemoError(f"{error.message} Is moto_server running at {endpoint}?") from None
    return endpoint


# --- Users and the team ---------------------------------------------------------------------------------


def demo_users_ensure(*, reset_passwords: bool = False) -> list[DemoUserResult]:
    """One demo user per role. A password is generated (and returned) only for new users or on reset.
    The read-only user joins the Acme team through an invitation, as a colleague would."""
    results = []
    with transaction.atomic():
        for username, role, full_name in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            password = secrets.token_urlsafe(12) if user is None or reset_passwords else None
            if user is None:
                email = f"{username}@{USER_EMAIL_DOMAIN}"
                if role == Role.SUPER_ADMIN:
                    User.objects.create_superuser(email, username, password, full_name=full_name)
                else:
                    User.objects.create_user(email, username, password, role=role, full_name=full_name)
                results.append(DemoUserResult(username, role, created=True, password=password))
                continue
            if password:
                user.set_password(password)
                user.save(update_fields=["password", "updated_at"])
            results.append(DemoUserResult(username, role, created=False, password=password))
        demo_team_ensure()
    return results


def demo_team_ensure() -> None:
    """The Acme team: named by its client, with the read-only user invited and in, and one open invitation."""
    client = User.objects.get(username=DEMO_CLIENT_USERNAME)
    if client.team.name != TEAM_NAME:
        team_rename(user=client, name=TEAM_NAME)
    colleague = User.objects.get(username=DEMO_READONLY_USERNAME)
    if colleague.team_id != client.team_id:
        invitation, _link = team_invitation_create(user=client, email=colleague.email, role=Role.USER)
        team_invitation_accept(invitation=invitation, user=colleague)
    if not TeamInvitation.objects.filter(
        team=client.team, email=OPEN_INVITATION_EMAIL, status=InvitationStatus.PENDING
    ).exists():
        team_invitation_create(user=client, email=OPEN_INVITATION_EMAIL, role=Role.USER)


# --- Accounts: the real onboarding --------------------------------------------------------------------


def demo_account_ensure(*, owner: User, spec: AccountSpec) -> Account:
    """The account row: the connected one from an earlier run, else a pending account made by the real
    onboarding service (server-generated External ID), reusing a placeholder a failed run left behind."""
    account = Account.objects.filter(account_id=spec.aws_account_id).first()
    if account is not None:
        return account
    placeholder = Account.objects.filter(
        team=owner.team, account_name=spec.name, status=AccountStatus.PENDING, account_id__startswith=PENDING_PREFIX
    ).first()
    if placeholder is not None:
        return placeholder
    return account_create_pending(
        user=owner,
        account_name=spec.name,
        environment_type=spec.environment_type,
        region=spec.regions[0].region,
        regions=spec.region_names,
    )


def demo_account_onboard(*, account: Account, spec: AccountSpec, progress: Progress) -> dict[str, list[str]]:
    """The CloudFormation flow, as a customer goes through it: the stack creates the role (here: we create
    it in moto, as the customer's administrator), the platform verifies it (pending -> connected), then
    fleet discovery (-> active)."""
    role_arn = f"arn:aws:iam::{spec.aws_account_id}:role/{ROLE_NAME}"
    clients = AccountClients(account, as_customer_admin=spec.aws_account_id)
    wrap_aws(demo_customer_role_deploy, account=account, clients=clients)
    if account.status in (AccountStatus.PENDING, AccountStatus.FAILED):
        account = account_verify_role(user=account.user, account=account, role_arn=role_arn)
        progress(f"  verified the role {role_arn}: {account.status}")
    clients = AccountClients(account)
    wrap_aws(demo_account_verify, account=account, clients=clients)

    created = {}
    for region_spec in spec.regions:
        created[region_spec.region] = wrap_aws(
            demo_aws_estate_ensure, account=account, spec=region_spec, clients=clients
        )
        what = ", ".join(created[region_spec.region]) or "nothing (already present)"
        progress(f"  {region_spec.region}: created {what}")

    discovery = account_discover(account=account)
    account.refresh_from_db()
    progress(
        f"  discovery: {discovery.instances_found} instances in {len(discovery.instances_by_region)} regions"
        f" ({discovery.created} new, {discovery.deactivated} gone, {discovery.flagged} flagged as rogue)"
    )
    return created


# --- Approvals ------------------------------------------------------------------------------------------


def _pending_request_exists(action_type: str, key: str, value: str) -> bool:
    return ApprovalRequest.objects.filter(
        action_type=action_type, status=ApprovalStatus.PENDING, **{f"action_payload__{key}": value}
    ).exists()


def demo_approvals_seed(*, prod: Account, lab: Account) -> int:
    """Pending requests through the approval service, so the queue is populated: the rogue instance's
    termination (filed by spotopt, HIGH; the demo does not wait out the grace period), a Lab switch to Spot
    asked by the Lab user (LOW) and a production switch asked by the admin (CRITICAL: only a super_admin
    decides). No duplicates on re-runs."""
    filed = 0
    rogue = Instance.objects.filter(account=prod, is_active=True, auth_status=AuthStatus.FLAGGED).first()
    if rogue and not _pending_request_exists(ActionType.TERMINATE_ROGUE, "instance_id", rogue.instance_id):
        approval_request_create(
            action_type=ActionType.TERMINATE_ROGUE,
            payload={
                "instance_id": rogue.instance_id,
                "region": rogue.region,
                "flagged_at": rogue.flagged_at.isoformat() if rogue.flagged_at else None,
                "reason": "No authorizing tag (the demo files this without waiting for the grace period).",
            },
            risk_level=RiskLevel.HIGH,
            instance=rogue,
        )
        filed += 1
    switches = [
        (lab, DEMO_LAB_USERNAME, RiskLevel.LOW, "Lab experiment: move to Spot."),
        (prod, DEMO_ADMIN_USERNAME, RiskLevel.CRITICAL, "Production web tier: move to Spot."),
    ]
    for account, username, risk, reason in switches:
        candidate = (
            Instance.objects.filter(account=account, is_active=True, lifecycle=Lifecycle.ON_DEMAND)
            .exclude(auth_status=AuthStatus.FLAGGED)
            .order_by("instance_id")
            .first()
        )
        already = ApprovalRequest.objects.filter(
            action_type=ActionType.SWITCH_INSTANCE, status=ApprovalStatus.PENDING, account=account
        ).exists()  # one per account: a re-run may see new instances (the safety net's) sort first
        if candidate is None or already:
            continue
        approval_request_create(
            action_type=ActionType.SWITCH_INSTANCE,
            payload={
                "instance_id": candidate.instance_id,
                "target_instance_type": candidate.instance_type,
                "target_availability_zone": candidate.availability_zone,
                "target_lifecycle": "spot",
                "reason": reason,
            },
            risk_level=risk,
            requester=User.objects.get(username=username),
            instance=candidate,
        )
        filed += 1
    return filed


# --- The whole seed -------------------------------------------------------------------------------------


def demo_estate_seed(*, progress: Progress | None = None) -> DemoSeedResult:
    """Build (or complete) the demo estate in the AWS emulator and the database (users must exist)."""
    endpoint = demo_preflight()
    say = progress or _quiet
    result = DemoSeedResult(endpoint=endpoint, login_url=login_url())
    owner = User.objects.filter(username=DEMO_CLIENT_USERNAME).first()
    if owner is None:
        raise DemoError(f"The demo client user '{DEMO_CLIENT_USERNAME}' does not exist: create the demo users first.")

    accounts = []
    for spec in DEMO_ACCOUNTS:
        say(f"Account {spec.name} ({spec.aws_account_id}) ...")
        account = demo_account_ensure(owner=owner, spec=spec)
        created = demo_account_onboard(account=account, spec=spec, progress=say)
        accounts.append(account)
        result.accounts.append(demo_account_summary(account=account, created_in_aws=created))

    say("Approval queue ...")
    prod = next(a for a in accounts if a.environment_type == EnvironmentType.PROD)
    lab = next(a for a in accounts if a.environment_type == EnvironmentType.LAB)
    result.approvals_filed = demo_approvals_seed(prod=prod, lab=lab)
    say("Kubernetes ...")
    result.kubernetes = demo_kubernetes_seed(
        prod=prod, registrar=User.objects.get(username=DEMO_ADMIN_USERNAME), progress=say
    )
    say("Models ...")
    result.model = demo_model_seed()
    say("Optimizer, a month ago ...")
    # The Lab's cycle "a month ago" (clock_set_back) comes before the interruptions, which happen now.
    lab_decisions = demo_optimizer_seed(accounts=[lab])
    say("Interruption events ...")
    result.interruptions = demo_interruptions_seed(prod=prod, lab=lab, progress=say)
    say("Optimizer ...")
    result.experiments = dict(Counter(lab_decisions) + Counter(demo_optimizer_seed(accounts=[prod])))
    result.preview = demo_preview_seed(prod=prod, progress=say)
    result.ledger_rows = demo_ledger_seed(progress=say)
    say("Waste ...")
    result.waste = demo_waste_seed(accounts=accounts, prod=prod)
    result.approvals_pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count()
    demo_state_write(result)
    return result


DEMO_MODEL_NAME = "baseline-v1"
DEMO_LAB_MODEL_NAME, DEMO_LAB_MODEL_VERSION = "baseline-v1-lab", "1.0-lab"


def demo_model_seed() -> str:
    """The shipped baseline model, through model governance: uploaded and graduated by the lab user, enabled
    and made the production model by the super_admin (each move recorded)."""
    from mlgov.choices import ModelStatus
    from mlgov.models import MLModel
    from mlgov.services import model_activate, model_move, model_upload

    model = MLModel.objects.filter(name=DEMO_MODEL_NAME).first()
    if model is None:
        lab = User.objects.get(username=DEMO_LAB_USERNAME)
        boss = User.objects.get(username="demo-superadmin")
        data = (Path(settings.BASE_DIR) / "mlgov" / "data" / "baseline-v1.onnx").read_bytes()
        model = model_upload(
            user=lab,
            name=DEMO_MODEL_NAME,
            version="1.0",
            feature_schema_version="1",
            data=data,
            description="Trained by scripts/train_baseline_model.py on documented synthetic data.",
        )
        for status in (ModelStatus.TESTING, ModelStatus.GRADUATED):
            model = model_move(user=lab, model=model, status=status)
        model = model_move(user=boss, model=model, status=ModelStatus.ENABLED)
        model = model_activate(user=boss, model=model, note="the demo's production model")
    if not MLModel.objects.filter(name=DEMO_LAB_MODEL_NAME).exists():
        # The Lab tests a model on its own instances: the same file, under test.
        lab = User.objects.get(username=DEMO_LAB_USERNAME)
        candidate = model_upload(
            user=lab,
            name=DEMO_LAB_MODEL_NAME,
            version=DEMO_LAB_MODEL_VERSION,
            feature_schema_version="1",
            data=(Path(settings.BASE_DIR) / "mlgov" / "data" / "baseline-v1.onnx").read_bytes(),
            description="The baseline under test on the Lab's instances.",
        )
        model_move(user=lab, model=candidate, status=ModelStatus.TESTING)
    return str(model)


def demo_optimizer_seed(*, accounts: list[Account]) -> dict:
    """Five synthetic weeks of Spot prices for the fleet's pools and their closest candidates (labelled
    synthetic on the pages: the emulator's prices are constant), then the optimizer's cycle, as the 5-minute
    job runs it but with the switches run here: PROD's once, now (filed for approval); the Lab's three times,
    a day apart, a month ago (clock_set_back; they execute in the emulator). On-demand prices are the shipped
    catalog's (the emulator has no Pricing API)."""
    from fleet.catalog import compatible_spot_pools
    from fleet.execution import optimizer_cycle
    from fleet.market import synthetic_spot_history_seed
    from fleet.optimizer import optimizer_instances
    from fleet.services import instance_lab_update
    from mlgov.models import ExperimentLog

    decisions = Counter()
    lab_user = User.objects.get(username=DEMO_LAB_USERNAME)
    for account in accounts:
        if account.environment_type == EnvironmentType.LAB:
            # The Lab's instances are scored by the model under test (the Lab controls, as a lab user sets them).
            for instance in optimizer_instances(account=account).filter(assigned_model_version=""):
                instance_lab_update(user=lab_user, instance=instance, assigned_model_version=DEMO_LAB_MODEL_VERSION)
        instances = list(optimizer_instances(account=account))
        pools = set()
        for instance in instances:
            pools.add((instance.region, instance.availability_zone, instance.instance_type))
            pools.update(compatible_spot_pools(instance=instance, limit=20))
        synthetic_spot_history_seed(pools=pools, days=DEMO_HISTORY_DAYS + 7)
        if ExperimentLog.objects.filter(instance__account=account).exists():
            continue
        if account.environment_type == EnvironmentType.LAB and account.optimizer_max_risk is None:
            # The Lab tries a looser risk appetite than the installation's 0.15 (its account settings).
            account = account_update(
                user=User.objects.get(username=DEMO_CLIENT_USERNAME),
                account=account,
                optimizer_max_risk=DEMO_LAB_MAX_RISK,
            )
        # The Lab's cycles run "a month ago", one a day for the first days (the 5-minute job would run many):
        # a group's next member is switched once the first is done, a fallback returns when a pool is safe.
        days_back = (
            range(DEMO_HISTORY_DAYS, DEMO_HISTORY_DAYS - 3, -1)
            if account.environment_type == EnvironmentType.LAB
            else [0]
        )
        for days in days_back:
            with clock_set_back(timedelta(days=days)):
                cycle = optimizer_cycle(account=account, inline=True)
            decisions.update(cycle.decisions)
            for status in cycle.executed.values():
                decisions[f"switch {status.lower()}"] += 1
            if cycle.awaiting_approval:
                decisions["switch awaiting approval"] += cycle.awaiting_approval
    return dict(decisions)


DEMO_LAB_MAX_RISK = Decimal("0.25")
# The Lab's switches run on a clock this many days behind, so the ledger has a month of what ran to close.
DEMO_HISTORY_DAYS = 30


@contextmanager
def clock_set_back(delta: timedelta) -> Iterator[None]:
    """Inside, the product's clock (django.utils.timezone.now, which its services and auto_now fields read)
    runs `delta` behind, still advancing. For the demo only: the AWS emulator launches everything now and
    cannot backdate a launch, so the Lab's first cycle is run "a month ago" through the product's own code."""
    real_now = timezone.now
    timezone.now = lambda: real_now() - delta
    try:
        yield
    finally:
        timezone.now = real_now


def demo_ledger_seed(*, progress) -> int:
    """The savings ledger's days since the Lab's switches (what the hourly job closes, day by day), for the
    Savings page and the overview: last month's days and this month's so far."""
    from savings.ledger import days_close

    today = timezone.now().date()
    first = today - timedelta(days=DEMO_HISTORY_DAYS)
    rows = days_close(first=first, last=today)
    progress(f"  savings ledger: {rows} row(s) closed from {first:%Y-%m-%d} to {today:%Y-%m-%d}")
    return rows


def demo_preview_seed(*, prod: Account, progress) -> dict:
    """The production account's savings preview (fleet.preview, what Estimate now makes), for its page."""
    from fleet.preview import savings_preview

    preview = savings_preview(account=prod)
    progress(
        f"  savings preview of {prod.account_name}: ${preview['monthly_saving']} a month "
        f"({len(preview['moves'])} would move, {len(preview['left_alone'])} left alone)"
    )
    return preview


# The demo's waste story: one resource flagged today, one flagged a grace period ago (so the scan filed its
# deletion request, which waits for an approver). Named by the demo estate's Name tags.
DEMO_WASTE_FLAGGED = "eip-old-nat"
DEMO_WASTE_SCHEDULED = "vol-old-db-data"


def demo_waste_seed(*, accounts: list[Account], prod: Account) -> dict:
    """Scan every account with the waste scanner, then flag and schedule through the waste services."""
    from datetime import timedelta

    from django.utils import timezone

    from waste.choices import WasteStatus
    from waste.models import WasteResource
    from waste.services import account_scan_waste, waste_flag, waste_schedule_due

    if not settings.WASTE_AGE_TAG:
        raise DemoError("The demo needs WASTE_AGE_TAG (demo/demo.env): the emulator cannot backdate resources.")
    found = {}
    for account in accounts:
        found[account.account_name] = account_scan_waste(account=account).found
    client = User.objects.get(username=DEMO_CLIENT_USERNAME)
    now = timezone.now()
    on_prod = WasteResource.objects.filter(account=prod, status=WasteStatus.DETECTED)
    waste_flag(user=client, resources=on_prod.filter(resource_metadata__name=DEMO_WASTE_FLAGGED), now=now)
    long_ago = now - timedelta(days=prod.waste_grace_days, hours=1)
    waste_flag(user=client, resources=on_prod.filter(resource_metadata__name=DEMO_WASTE_SCHEDULED), now=long_ago)
    waste_schedule_due(account=prod, now=now)
    return found


def demo_account_summary(*, account: Account, created_in_aws: dict[str, list[str]]) -> AccountSummary:
    """Counts for the command's final report, read back from the database."""
    account.refresh_from_db()
    active = Instance.objects.filter(account=account, is_active=True)
    asgs = active.exclude(cluster_membership__asg_name=None).values("region", "cluster_membership__asg_name")
    return AccountSummary(
        name=account.account_name,
        aws_account_id=account.account_id,
        environment_type=account.environment_type,
        status=account.status,
        created_in_aws=created_in_aws,
        instances=active.count(),
        asgs=asgs.distinct().count(),
        eks_nodes=active.filter(orchestrator_type=OrchestratorType.KUBERNETES).count(),
        spot=active.filter(lifecycle=Lifecycle.SPOT).count(),
        rogue=active.filter(auth_status=AuthStatus.FLAGGED).count(),
    )


# --- What the last run learnt, and the sign-in summary ------------------------------------------------


def _state_path() -> Path:
    return Path(settings.VAR_DIR) / STATE_FILE


def demo_state_write(result: DemoSeedResult) -> None:
    state = {"login_url": result.login_url, "aws_endpoint": result.endpoint}
    _state_path().write_text(json.dumps(state, indent=2) + "\n")


def demo_login_url() -> str:
    """Where to sign in: what the last seed run recorded (its SITE_URL, e.g. another PORT), else SITE_URL."""
    try:
        return json.loads(_state_path().read_text())["login_url"]
    except (OSError, ValueError, KeyError):
        return login_url()


def sign_in_summary(users: list[DemoUserResult], *, url: str) -> str:
    """The block the demo ends with: where to sign in, as whom, and the passwords (or how to get them)."""
    lines = ["", "=" * 72, f"Sign in at {url}", ""]
    for user in users:
        secret = f"password: {user.password}" if user.password else "password unchanged"
        lines.append(f"  {user.username:16} {Role(user.role).label:18} {secret}")
    if not all(user.password for user in users):
        lines += ["", f"Unchanged passwords were shown when the users were created; new ones: {RESET_COMMAND}"]
    lines += [
        "",
        "demo-superadmin also opens the Django admin at /admin/. demo-client and demo-user are the Acme team.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (the summary holds passwords)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
