"""The CloudFormation-role onboarding flow (accounts.services) against moto."""

import re
import uuid
from decimal import Decimal

import pytest
from django.conf import settings as django_settings

from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from accounts.models import Account
from accounts.services import (
    INSTALLATION_DEFAULT,
    AccountConflict,
    account_create_pending,
    account_delete,
    account_discovery_queue,
    account_retry,
    account_update,
    account_verify_role,
    parse_role_arn,
)
from spotopt import aws
from spotopt.api import status_for
from spotopt.errors import DomainError, PermissionRefused
from tests.aws_fixtures import (
    ALLOW_ASSUME_ROLE,
    CUSTOMER_ACCOUNT,
    ROLE_ARN,
    ROLE_NAME,
    AwsCalls,
    create_role,
    create_user_with_keys,
    failed_role_account,
    launch_instances,
    moto,  # noqa: F401
    set_role_trust,
    use_platform_identity,
    with_iam_auth,
)

pytestmark = pytest.mark.django_db


def rows():
    """Every account row, for 'nothing changed' checks."""
    return list(Account.objects.order_by("pk").values())


# --- account_create_pending --------------------------------------------------------------------------


def test_create_pending_makes_a_placeholder_with_a_server_generated_external_id(client_user):
    account = account_create_pending(user=client_user, account_name="  Production  ")

    account.refresh_from_db()
    assert account.user == client_user
    assert account.status == AccountStatus.PENDING
    assert account.connection_method == ConnectionMethod.IAM_ROLE
    assert account.account_name == "Production"
    assert account.environment_type == EnvironmentType.PROD
    assert re.fullmatch(r"pending-[0-9a-f-]{36}", account.account_id)
    uuid.UUID(account.account_id.removeprefix("pending-"))
    assert re.fullmatch(r"spot-optimizer-[0-9a-f-]{36}", account.external_id)
    uuid.UUID(account.external_id.removeprefix("spot-optimizer-"))
    assert account.region == django_settings.AWS_DEFAULT_REGION
    assert account.regions == [account.region]
    assert account.role_arn == ""
    assert not account.has_access_keys


def test_every_placeholder_gets_its_own_external_id_and_placeholder_id(client_user, other_client):
    accounts = [
        account_create_pending(user=user, account_name="A") for user in (client_user, client_user, other_client)
    ]
    assert len({a.external_id for a in accounts}) == 3
    assert len({a.account_id for a in accounts}) == 3


def test_create_pending_keeps_chosen_regions_in_order_without_duplicates(client_user):
    account = account_create_pending(
        user=client_user,
        account_name="Lab",
        environment_type=EnvironmentType.LAB,
        region="eu-west-1",
        regions=["eu-west-1", " us-east-1 ", "eu-west-1"],
    )
    assert (account.region, account.regions) == ("eu-west-1", ["eu-west-1", "us-east-1"])
    assert account.environment_type == EnvironmentType.LAB


@pytest.mark.parametrize(
    "kwargs",
    [{"region": "mars-north-1"}, {"regions": ["us-east-1", "moon-1"]}],
    ids=["home region", "scan region"],
)
def test_create_pending_refuses_an_unknown_region(client_user, kwargs):
    with pytest.raises(DomainError) as excinfo:
        account_create_pending(user=client_user, account_name="Prod", **kwargs)
    assert excinfo.value.code == "invalid_region"
    assert "is not a region spotopt can scan" in excinfo.value.message
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "kwargs,code",
    [({"account_name": "   "}, "invalid_name"), ({"environment_type": "STAGING"}, "invalid_environment_type")],
)
def test_create_pending_refuses_bad_input(client_user, kwargs, code):
    with pytest.raises(DomainError) as excinfo:
        account_create_pending(user=client_user, **{"account_name": "Prod", **kwargs})
    assert excinfo.value.code == code
    assert not Account.objects.exists()


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_readonly_and_lab_users_cannot_onboard_or_manage(make_user, make_account, client_user, role):
    person = make_user(role)
    with pytest.raises(PermissionRefused):
        account_create_pending(user=person, account_name="Mine")
    assert not Account.objects.exists()

    # Even an account they can see (their own or a LAB one) cannot be verified, retried or changed by them.
    account = make_account(person, status=AccountStatus.PENDING, environment_type=EnvironmentType.LAB)
    before = rows()
    for call in (
        lambda: account_verify_role(user=person, account=account, role_arn=ROLE_ARN),
        lambda: account_retry(user=person, account=account),
        lambda: account_update(user=person, account=account, account_name="Renamed"),
        lambda: account_update(user=person, account=account, allow_automatic_switches=True),
        lambda: account_delete(user=person, account=account),
        lambda: account_discovery_queue(user=person, account=account),
    ):
        with pytest.raises(PermissionRefused) as excinfo:
            call()
        assert status_for(excinfo.value) == 403
    assert rows() == before


# --- parse_role_arn --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn,account_id",
    [
        ("arn:aws:iam::123456789012:role/Name", "123456789012"),
        ("  arn:aws:iam::111122223333:role/SpotOptimizerCrossAccountRole ", "111122223333"),
        ("arn:aws:iam::111122223333:role/service-role/path/My.Role+=,@-_", "111122223333"),
        ("arn:aws-us-gov:iam::210987654321:role/Gov", "210987654321"),
    ],
)
def test_parse_role_arn_accepts_role_arns(arn, account_id):
    assert parse_role_arn(arn) == account_id


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:user/Bob",
        "arn:aws:iam::12345678901:role/Name",
        "arn:aws:iam::1234567890123:role/Name",
        "arn:aws:sts::123456789012:assumed-role/Name/session",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::abcdefghijkl:role/Name",
        "garbage",
        "",
        None,
    ],
)
def test_parse_role_arn_refuses_anything_else_and_names_the_expected_form(arn):
    with pytest.raises(DomainError) as excinfo:
        parse_role_arn(arn)
    assert excinfo.value.code == "invalid_role_arn"
    expected_form = f"arn:aws:iam::123456789012:role/{django_settings.CLOUDFORMATION_ROLE_NAME}"
    assert expected_form in excinfo.value.message


# --- account_verify_role ------------------------------------------------------------------------------


@pytest.mark.usefixtures("moto")
def test_verify_role_connects_the_account_and_discovery_runs_after_commit(
    client_user, django_capture_on_commit_callbacks
):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    account = account_create_pending(user=client_user, account_name="Production")
    placeholder_pk, external_id = account.pk, account.external_id
    calls = AwsCalls().install()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        verified = account_verify_role(user=client_user, account=account, role_arn=f"  {ROLE_ARN}  ")
        # Until the transaction commits, the account is connected and discovery has not run.
        assert verified.status == AccountStatus.CONNECTED
        assert "discovery" not in Account.objects.get(pk=placeholder_pk).account_metadata

    assert len(callbacks) == 1
    # The verification assumed the customer's role with the account's own External ID.
    verify_calls = [c for c in calls.named("AssumeRole") if c["RoleSessionName"] == "spotopt-verify"]
    assert verify_calls == [
        {"RoleArn": ROLE_ARN, "RoleSessionName": "spotopt-verify", "ExternalId": external_id, "DurationSeconds": 900}
    ]
    assert verified.pk == placeholder_pk
    account = Account.objects.get(pk=placeholder_pk)
    assert account.account_id == CUSTOMER_ACCOUNT
    assert account.role_arn == ROLE_ARN
    assert account.external_id == external_id
    assert account.connection_method == ConnectionMethod.IAM_ROLE
    assert account.access_key_id_encrypted == account.secret_access_key_encrypted == ""
    # Discovery (django-q sync) ran inline once the transaction committed.
    assert account.status == AccountStatus.ACTIVE
    discovery = account.account_metadata["discovery"]
    assert discovery["state"] == "succeeded"
    assert discovery["regions_done"] == discovery["regions_total"] == 1
    assert discovery["regions"] == {"us-east-1": 2}
    assert discovery["instances_found"] == 2
    assert "last_error" not in account.account_metadata


def _platform_in_customer_account(monkeypatch) -> str:
    """The platform signs as an IAM user allowed to call sts:AssumeRole. It lives in the customer's account
    because moto only checks trust policies for same-account AssumeRole (see tests/aws_fixtures.py)."""
    platform_arn, key_id, secret = create_user_with_keys(CUSTOMER_ACCOUNT, "spotopt-platform", policy=ALLOW_ASSUME_ROLE)
    use_platform_identity(monkeypatch, key_id, secret)
    return platform_arn


@pytest.mark.usefixtures("moto")
def test_verify_role_needs_the_right_external_id_in_iam_auth_mode(client_user, monkeypatch):
    account = account_create_pending(user=client_user, account_name="Production")
    right_external_id = account.external_id
    platform_arn = _platform_in_customer_account(monkeypatch)
    role_arn = create_role(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id=right_external_id)

    # A wrong External ID: AWS (moto with IAM auth on) refuses AssumeRole.
    wrong_external_id = f"spot-optimizer-{uuid.uuid4()}"
    Account.objects.filter(pk=account.pk).update(external_id=wrong_external_id)
    account.refresh_from_db()
    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(account_verify_role, user=client_user, account=account, role_arn=role_arn)

    error = excinfo.value
    assert error.code == "role_not_assumable"
    assert wrong_external_id in error.message  # what the trust policy must use
    assert platform_arn in error.message  # and whom it must trust
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING
    assert account.account_id.startswith("pending-")
    assert account.role_arn == ""
    # The page shows the same message the person was given.
    assert account.account_metadata["last_error"] == {
        "message": error.message,
        "code": "role_not_assumable",
        "role_arn": role_arn,
    }

    # The right External ID: connected, and the failure is forgotten.
    Account.objects.filter(pk=account.pk).update(external_id=right_external_id)
    account.refresh_from_db()
    verified = with_iam_auth(account_verify_role, user=client_user, account=account, role_arn=role_arn)

    account.refresh_from_db()
    assert verified.pk == account.pk
    assert (account.status, account.account_id, account.role_arn) == (
        AccountStatus.CONNECTED,
        CUSTOMER_ACCOUNT,
        role_arn,
    )
    assert "last_error" not in account.account_metadata


@pytest.mark.usefixtures("moto")
def test_verify_role_of_a_role_that_does_not_trust_the_platform_is_refused(client_user, monkeypatch):
    account = account_create_pending(user=client_user, account_name="Production")
    _platform_in_customer_account(monkeypatch)
    someone_else, _, _ = create_user_with_keys(CUSTOMER_ACCOUNT, "someone-else")
    role_arn = create_role(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=someone_else, external_id=account.external_id)

    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(account_verify_role, user=client_user, account=account, role_arn=role_arn)

    assert excinfo.value.code == "role_not_assumable"
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING
    assert account.account_metadata["last_error"]["code"] == "role_not_assumable"


@pytest.mark.usefixtures("moto")
def test_verify_role_refuses_a_role_in_another_account_than_the_arn_says(client_user, monkeypatch):
    account = account_create_pending(user=client_user, account_name="Production")
    monkeypatch.setattr(
        aws,
        "identity_for_role",
        lambda role_arn, external_id: aws.Identity("999999999999", "arn:aws:sts::999999999999:assumed-role/R/s"),
    )

    with pytest.raises(DomainError) as excinfo:
        account_verify_role(user=client_user, account=account, role_arn=ROLE_ARN)

    assert excinfo.value.code == "wrong_account"
    assert "999999999999" in excinfo.value.message and CUSTOMER_ACCOUNT in excinfo.value.message
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING
    assert account.account_id.startswith("pending-")
    assert account.account_metadata["last_error"]["code"] == "wrong_account"
    assert not Account.objects.filter(account_id__in=["999999999999", CUSTOMER_ACCOUNT]).exists()


def test_verify_role_refuses_a_malformed_arn_without_calling_aws(client_user, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # any AWS call would fail with aws_unreachable instead
    account = account_create_pending(user=client_user, account_name="Production")

    with pytest.raises(DomainError) as excinfo:
        account_verify_role(user=client_user, account=account, role_arn=f"arn:aws:iam::{CUSTOMER_ACCOUNT}:user/Bob")

    assert excinfo.value.code == "invalid_role_arn"
    account.refresh_from_db()
    assert account.status == AccountStatus.PENDING
    assert account.account_metadata == {}


def test_verify_role_refuses_connected_and_access_key_accounts(client_user, make_account):
    active = make_account(client_user, status=AccountStatus.ACTIVE)
    keys = make_account(
        client_user, status=AccountStatus.PENDING, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn=""
    )
    before = rows()
    with pytest.raises(DomainError, match="already active"):
        account_verify_role(user=client_user, account=active, role_arn=ROLE_ARN)
    with pytest.raises(DomainError, match="access keys"):
        account_verify_role(user=client_user, account=keys, role_arn=ROLE_ARN)
    assert rows() == before


@pytest.mark.usefixtures("moto")
def test_retry_of_a_failed_role_account_verifies_the_role_again(client_user, make_account):
    account = failed_role_account(make_account, client_user)
    calls = AwsCalls().install()

    retried = account_retry(user=client_user, account=account)

    assert [c["ExternalId"] for c in calls.named("AssumeRole") if c["RoleSessionName"] == "spotopt-verify"] == [
        account.external_id
    ]
    account.refresh_from_db()
    assert retried.pk == account.pk
    assert account.status == AccountStatus.CONNECTED
    assert "last_error" not in account.account_metadata
    assert Account.objects.count() == 1


@pytest.mark.usefixtures("moto")
def test_retry_of_a_failed_role_account_whose_role_is_gone_stays_failed(client_user, make_account, monkeypatch):
    platform_arn = _platform_in_customer_account(monkeypatch)
    account = make_account(
        client_user,
        account_id=CUSTOMER_ACCOUNT,
        role_arn=ROLE_ARN,
        status=AccountStatus.FAILED,
    )
    # The customer's stack trusts somebody else's External ID (e.g. the stack of another placeholder).
    create_role(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id="spot-optimizer-other")

    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(account_retry, user=client_user, account=account)

    assert excinfo.value.code == "role_not_assumable"
    account.refresh_from_db()
    assert account.status == AccountStatus.FAILED
    assert account.account_metadata["last_error"]["code"] == "role_not_assumable"


def test_retry_of_a_pending_role_account_without_an_arn_asks_for_it(client_user):
    account = account_create_pending(user=client_user, account_name="Production")
    with pytest.raises(DomainError) as excinfo:
        account_retry(user=client_user, account=account)
    assert excinfo.value.code == "no_role"


def test_retry_refuses_a_healthy_account(client_user, make_account):
    account = make_account(client_user, status=AccountStatus.ACTIVE)
    with pytest.raises(DomainError, match="Only a failed or pending account"):
        account_retry(user=client_user, account=account)


@pytest.mark.usefixtures("moto")
def test_verifying_a_second_placeholder_for_the_same_aws_account_keeps_one_row(client_user):
    first = account_create_pending(user=client_user, account_name="Production")
    connected = account_verify_role(user=client_user, account=first, role_arn=ROLE_ARN)
    second = account_create_pending(user=client_user, account_name="Production again")

    merged = account_verify_role(user=client_user, account=second, role_arn=ROLE_ARN)

    assert merged.pk == connected.pk == first.pk
    assert not Account.objects.filter(pk=second.pk).exists()
    assert list(Account.objects.filter(user=client_user).values_list("pk", "account_id", "status")) == [
        (first.pk, CUSTOMER_ACCOUNT, AccountStatus.CONNECTED)
    ]


@pytest.mark.usefixtures("moto")
def test_after_a_merge_the_account_uses_the_external_id_its_role_now_trusts(client_user, monkeypatch):
    """The customer re-onboarded the same AWS account: a second placeholder, a stack with its External ID.
    Verification proved the role trusts that External ID, so the kept row must assume the role with it."""
    first = account_create_pending(user=client_user, account_name="Production")
    platform_arn = _platform_in_customer_account(monkeypatch)
    role_arn = create_role(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id=first.external_id)
    with_iam_auth(account_verify_role, user=client_user, account=first, role_arn=role_arn)

    second = account_create_pending(user=client_user, account_name="Production again")
    set_role_trust(CUSTOMER_ACCOUNT, ROLE_NAME, trusted_arn=platform_arn, external_id=second.external_id)
    merged = with_iam_auth(account_verify_role, user=client_user, account=second, role_arn=role_arn)

    merged.refresh_from_db()
    assert merged.pk == first.pk
    assert merged.external_id == second.external_id
    aws.forget_cached_credentials()
    identity = with_iam_auth(lambda: aws.client_for(merged, "sts").get_caller_identity())
    assert identity["Account"] == CUSTOMER_ACCOUNT


@pytest.mark.usefixtures("moto")
def test_verify_role_of_an_aws_account_owned_by_another_user_is_a_conflict(client_user, other_client, make_account):
    theirs = make_account(other_client, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, status=AccountStatus.ACTIVE)
    mine = account_create_pending(user=client_user, account_name="Production")
    before = rows()

    with pytest.raises(AccountConflict) as excinfo:
        account_verify_role(user=client_user, account=mine, role_arn=ROLE_ARN)

    assert status_for(excinfo.value) == 409
    assert excinfo.value.code == "account_owned_elsewhere"
    assert CUSTOMER_ACCOUNT in excinfo.value.message
    assert rows() == before
    assert Account.objects.get(pk=theirs.pk).user == other_client
    assert Account.objects.get(pk=mine.pk).status == AccountStatus.PENDING


# --- Everyday management ------------------------------------------------------------------------------


def test_account_update_changes_name_environment_and_regions(client_user, make_account):
    account = make_account(client_user, region="us-east-1", regions=["us-east-1"])
    account_update(
        user=client_user,
        account=account,
        account_name=" Renamed ",
        environment_type=EnvironmentType.LAB,
        regions=["eu-west-1", "eu-west-1"],
    )
    account.refresh_from_db()
    assert (account.account_name, account.environment_type, account.regions) == (
        "Renamed",
        EnvironmentType.LAB,
        ["eu-west-1"],
    )
    account_update(user=client_user, account=account, regions=[])
    account.refresh_from_db()
    assert account.regions == ["us-east-1"]  # nothing chosen: the home region


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"regions": ["us-east-1", "atlantis-1"]}, "invalid_region"),
        ({"account_name": ""}, "invalid_name"),
        ({"environment_type": "QA"}, "invalid_environment_type"),
    ],
)
def test_account_update_refuses_bad_input_and_changes_nothing(client_user, make_account, kwargs, code):
    account = make_account(client_user)
    before = rows()
    with pytest.raises(DomainError) as excinfo:
        account_update(user=client_user, account=account, **{"account_name": "Renamed", **kwargs})
    assert excinfo.value.code == code
    assert rows() == before


def optimizer_settings(account):
    account.refresh_from_db()
    return (
        account.optimizer_min_saving,
        account.optimizer_max_risk,
        account.allow_automatic_switches,
        account.switch_max_group_share,
    )


def test_account_update_saves_the_optimizer_settings_and_puts_back_the_installation_defaults(client_user, make_account):
    account = make_account(client_user)
    assert optimizer_settings(account) == (None, None, False, Decimal("0.25"))  # the installation's, by default

    account_update(
        user=client_user,
        account=account,
        optimizer_min_saving="0.3",
        optimizer_max_risk=Decimal("0.05"),
        allow_automatic_switches=True,
        switch_max_group_share=0.5,
    )
    assert optimizer_settings(account) == (Decimal("0.3"), Decimal("0.05"), True, Decimal("0.5"))

    account_update(user=client_user, account=account, account_name="Renamed")  # None: left as they are
    assert optimizer_settings(account) == (Decimal("0.3"), Decimal("0.05"), True, Decimal("0.5"))

    account_update(
        user=client_user,
        account=account,
        optimizer_min_saving=INSTALLATION_DEFAULT,
        optimizer_max_risk=INSTALLATION_DEFAULT,
        allow_automatic_switches=False,
    )
    assert optimizer_settings(account) == (None, None, False, Decimal("0.5"))

    # The edges of the ranges are allowed.
    account_update(
        user=client_user,
        account=account,
        optimizer_min_saving="0.95",
        optimizer_max_risk="0.001",
        switch_max_group_share=1,
    )
    assert optimizer_settings(account) == (Decimal("0.95"), Decimal("0.001"), False, Decimal("1"))


@pytest.mark.parametrize(
    "kwargs,code,says",
    [
        ({"optimizer_min_saving": "0.009"}, "invalid_optimizer_min_saving", "1% to 95%"),
        ({"optimizer_min_saving": Decimal("0.96")}, "invalid_optimizer_min_saving", "0.01 to 0.95"),
        ({"optimizer_min_saving": "0.1234"}, "invalid_optimizer_min_saving", "three decimals"),
        ({"optimizer_min_saving": ""}, "invalid_optimizer_min_saving", "1% to 95%"),  # only the sentinel clears
        ({"optimizer_min_saving": "twenty"}, "invalid_optimizer_min_saving", "1% to 95%"),
        ({"optimizer_min_saving": "NaN"}, "invalid_optimizer_min_saving", "1% to 95%"),
        ({"optimizer_max_risk": 0}, "invalid_optimizer_max_risk", "0.1% to 50%"),
        ({"optimizer_max_risk": "0.51"}, "invalid_optimizer_max_risk", "0.001 to 0.5"),
        ({"optimizer_max_risk": True}, "invalid_optimizer_max_risk", "0.1% to 50%"),
        ({"switch_max_group_share": "0"}, "invalid_switch_max_group_share", "1% to 100%"),
        ({"switch_max_group_share": "1.001"}, "invalid_switch_max_group_share", "0.01 to 1"),
        ({"switch_max_group_share": INSTALLATION_DEFAULT}, "invalid_switch_max_group_share", "1% to 100%"),
    ],
)
def test_account_update_refuses_optimizer_settings_out_of_range_and_changes_nothing(
    client_user, make_account, kwargs, code, says
):
    account = make_account(client_user, optimizer_min_saving=Decimal("0.3"))
    before = rows()
    with pytest.raises(DomainError) as excinfo:
        account_update(user=client_user, account=account, **{"account_name": "Renamed", **kwargs})
    assert excinfo.value.code == code
    assert says in excinfo.value.message
    assert rows() == before


def test_account_delete_removes_the_account_and_its_instances(client_user, make_account, make_instance):
    from fleet.models import Instance

    account = make_account(client_user)
    kept = make_account(client_user)
    make_instance(account)
    make_instance(kept)
    account_delete(user=client_user, account=account)
    assert list(Account.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(Instance.objects.values_list("account_id", flat=True)) == [kept.pk]


@pytest.mark.usefixtures("moto")
def test_discovery_queue_runs_discovery_again_for_a_connected_account(
    client_user, make_account, django_capture_on_commit_callbacks
):
    account = make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, status=AccountStatus.ACTIVE)
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        account_discovery_queue(user=client_user, account=account)
    assert len(callbacks) == 1
    account.refresh_from_db()
    assert account.account_metadata["discovery"]["instances_found"] == 3
    assert account.status == AccountStatus.ACTIVE


def test_discovery_queue_refuses_a_pending_account(client_user, django_capture_on_commit_callbacks):
    account = account_create_pending(user=client_user, account_name="Production")
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(DomainError, match="needs a connected account"),
    ):
        account_discovery_queue(user=client_user, account=account)
    assert callbacks == []
