"""The access-keys onboarding flow (accounts.services.account_connect_access_keys) against moto."""

import logging

import pytest

from accounts.choices import AccountStatus, ConnectionMethod, EnvironmentType, Role
from accounts.models import Account
from accounts.services import (
    AccountConflict,
    account_connect_access_keys,
    account_connect_pending_with_keys,
    account_create_pending,
    account_retry,
)
from spotopt.api import status_for
from spotopt.errors import DomainError, PermissionRefused, ServiceUnavailable
from tests.aws_fixtures import (
    DISCOVERY_FAILED,
    KEYS_ACCOUNT,
    AwsCalls,
    create_user_with_keys,
    delete_access_key,
    launch_instances,
    moto,  # noqa: F401
    new_access_key,
    with_iam_auth,
)

pytestmark = pytest.mark.django_db


def rows():
    return list(Account.objects.order_by("pk").values())


@pytest.fixture
def iam_keys(request):
    """A customer's IAM user with an access key, in KEYS_ACCOUNT (inside moto): (access key id, secret)."""
    request.getfixturevalue("moto")
    _, key_id, secret = create_user_with_keys(KEYS_ACCOUNT, "spotopt-reader")
    return key_id, secret


def connect(user, keys, **kwargs):
    key_id, secret = keys
    return account_connect_access_keys(user=user, access_key_id=key_id, secret_access_key=secret, **kwargs)


def test_connect_creates_an_encrypted_account_and_discovery_makes_it_active(
    client_user, iam_keys, django_capture_on_commit_callbacks
):
    key_id, secret = iam_keys
    launch_instances(KEYS_ACCOUNT, "us-east-1", 1)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        account, created = connect(client_user, (f" {key_id} ", f" {secret} "), account_name="Keys")
        assert account.status == AccountStatus.CONNECTED  # before commit: discovery not run yet

    assert created is True
    assert len(callbacks) == 1
    account.refresh_from_db()
    assert account.user == client_user
    assert account.account_id == KEYS_ACCOUNT
    assert account.account_name == "Keys"
    assert account.connection_method == ConnectionMethod.ACCESS_KEYS
    assert account.role_arn == ""
    assert account.regions == ["us-east-1"]
    # Encrypted at rest: neither column holds either plaintext.
    for column in (account.access_key_id_encrypted, account.secret_access_key_encrypted):
        assert column.startswith("v1:")
        assert key_id not in column and secret not in column
    assert account.get_access_keys() == (key_id, secret)
    # Discovery ran (django-q sync) after the commit, with the customer's keys.
    assert account.status == AccountStatus.ACTIVE
    assert account.account_metadata["discovery"]["state"] == "succeeded"
    assert account.account_metadata["discovery"]["regions"] == {"us-east-1": 1}


def test_connect_without_a_name_names_the_account_after_its_id(client_user, iam_keys):
    account, created = connect(client_user, iam_keys, environment_type=EnvironmentType.LAB, regions=["eu-west-1"])
    assert created is True
    assert account.account_name == f"AWS {KEYS_ACCOUNT}"
    assert (account.environment_type, account.region, account.regions) == (
        EnvironmentType.LAB,
        "us-east-1",
        ["eu-west-1"],
    )


@pytest.mark.parametrize(
    "key_id,secret,code",
    [
        ("AKIA123", "x" * 40, "invalid_keys"),
        ("akiaiosfodnn7example", "x" * 40, "invalid_keys"),
        ("XKIAIOSFODNN7EXAMPLE", "x" * 40, "invalid_keys"),
        ("", "x" * 40, "invalid_keys"),
        ("AKIAIOSFODNN7EXAMPLE", "short", "invalid_keys"),
        ("AKIAIOSFODNN7EXAMPLE", "", "invalid_keys"),
    ],
)
def test_malformed_keys_are_refused_before_any_aws_call(client_user, settings, key_id, secret, code):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # an AWS call would end in aws_unreachable instead
    settings.AWS_MAX_ATTEMPTS = 1
    with pytest.raises(DomainError) as excinfo:
        account_connect_access_keys(user=client_user, access_key_id=key_id, secret_access_key=secret)
    assert excinfo.value.code == code
    assert not Account.objects.exists()


def test_an_unknown_region_is_refused_before_any_aws_call(client_user, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    with pytest.raises(DomainError) as excinfo:
        account_connect_access_keys(
            user=client_user,
            access_key_id="AKIAIOSFODNN7EXAMPLE",
            secret_access_key="x" * 40,
            regions=["us-east-1", "narnia-1"],
        )
    assert excinfo.value.code == "invalid_region"
    assert not Account.objects.exists()


@pytest.mark.parametrize("role", [Role.USER, Role.LAB])
def test_readonly_and_lab_users_cannot_connect_keys(make_user, iam_keys, role):
    with pytest.raises(PermissionRefused):
        connect(make_user(role), iam_keys)
    assert not Account.objects.exists()


@pytest.mark.usefixtures("moto")
def test_keys_aws_does_not_know_are_refused_in_iam_auth_mode(client_user):
    key_id, secret = "AKIA" + "Z" * 16, "s3cr3t/" + "Q" * 33
    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(account_connect_access_keys, user=client_user, access_key_id=key_id, secret_access_key=secret)
    assert excinfo.value.code == "aws_invalid_credentials"
    assert "InvalidClientTokenId" in excinfo.value.message
    assert key_id not in excinfo.value.message and secret not in excinfo.value.message
    assert not Account.objects.exists()


@pytest.mark.usefixtures("moto")
def test_a_wrong_secret_is_refused_in_iam_auth_mode(client_user, iam_keys):
    key_id, _ = iam_keys
    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(connect, client_user, (key_id, "not-the-secret-" + "x" * 25))
    assert excinfo.value.code == "aws_invalid_credentials"
    assert not Account.objects.exists()


def test_the_same_user_reconnecting_updates_their_row(client_user, iam_keys):
    first, created = connect(client_user, iam_keys, account_name="Keys")
    assert created is True
    rotated = new_access_key(KEYS_ACCOUNT, "spotopt-reader")

    again, created = connect(client_user, rotated, account_name="Keys (rotated)")

    assert created is False
    assert again.pk == first.pk
    assert Account.objects.count() == 1
    again.refresh_from_db()
    assert again.account_name == "Keys (rotated)"
    assert again.get_access_keys() == rotated

    # Without a name, the name is kept.
    connect(client_user, rotated)
    again.refresh_from_db()
    assert again.account_name == "Keys (rotated)"


def test_connecting_keys_leaves_a_pending_placeholder_alone(client_user, iam_keys):
    placeholder = account_create_pending(user=client_user, account_name="Production")

    account, created = connect(client_user, iam_keys)

    assert created is True
    assert account.pk != placeholder.pk
    placeholder.refresh_from_db()
    assert (placeholder.status, placeholder.connection_method) == (AccountStatus.PENDING, ConnectionMethod.IAM_ROLE)
    assert placeholder.external_id.startswith("spot-optimizer-")


def test_a_pending_placeholder_becomes_the_keys_account_when_asked(client_user, iam_keys):
    placeholder = account_create_pending(user=client_user, account_name="Production")

    account = account_connect_pending_with_keys(
        user=client_user, account=placeholder, access_key_id=iam_keys[0], secret_access_key=iam_keys[1]
    )

    assert account.pk == placeholder.pk
    account.refresh_from_db()
    assert account.account_id == KEYS_ACCOUNT
    assert account.connection_method == ConnectionMethod.ACCESS_KEYS
    assert account.status == AccountStatus.CONNECTED
    assert account.account_name == "Production"
    assert account.external_id is None
    assert account.get_access_keys() == iam_keys
    assert Account.objects.count() == 1


def test_asking_for_keys_on_a_pending_placeholder_of_an_account_the_team_has_merges_them(client_user, iam_keys):
    existing, _ = connect(client_user, iam_keys)
    placeholder = account_create_pending(user=client_user, account_name="Production")

    account = account_connect_pending_with_keys(
        user=client_user, account=placeholder, access_key_id=iam_keys[0], secret_access_key=iam_keys[1]
    )

    assert account.pk == existing.pk
    assert not Account.objects.filter(pk=placeholder.pk).exists()


def test_a_placeholder_is_left_alone_when_the_user_already_has_that_aws_account(client_user, iam_keys):
    existing, _ = connect(client_user, iam_keys)
    placeholder = account_create_pending(user=client_user, account_name="Production")

    account, created = connect(client_user, iam_keys)

    assert (account.pk, created) == (existing.pk, False)
    placeholder.refresh_from_db()
    assert placeholder.status == AccountStatus.PENDING
    assert placeholder.account_id.startswith("pending-")


def test_another_users_aws_account_is_a_conflict_and_nothing_changes(client_user, other_client, iam_keys):
    theirs, _ = connect(other_client, iam_keys, account_name="Theirs")
    mine = account_create_pending(user=client_user, account_name="Mine")
    before = rows()

    with pytest.raises(AccountConflict) as excinfo:
        connect(client_user, new_access_key(KEYS_ACCOUNT, "spotopt-reader"), account_name="Stolen")

    assert status_for(excinfo.value) == 409
    assert KEYS_ACCOUNT in excinfo.value.message
    assert rows() == before
    theirs.refresh_from_db()
    assert (theirs.user, theirs.account_name, theirs.get_access_keys()) == (other_client, "Theirs", iam_keys)
    mine.refresh_from_db()
    assert (mine.status, mine.connection_method) == (AccountStatus.PENDING, ConnectionMethod.IAM_ROLE)


def test_retry_of_a_failed_keys_account_checks_the_keys_again_and_reconnects(client_user, iam_keys):
    account, _ = connect(client_user, iam_keys, account_name="Keys", regions=["us-east-1", "eu-west-1"])
    Account.objects.filter(pk=account.pk).update(
        status=AccountStatus.FAILED,
        account_metadata=DISCOVERY_FAILED,
    )
    account.refresh_from_db()
    calls = AwsCalls().install()

    retried = account_retry(user=client_user, account=account)

    assert len(calls.named("GetCallerIdentity")) == 1
    assert retried.pk == account.pk
    account.refresh_from_db()
    assert account.status == AccountStatus.CONNECTED
    assert "last_error" not in account.account_metadata
    assert (account.account_name, account.regions) == ("Keys", ["us-east-1", "eu-west-1"])
    assert account.get_access_keys() == iam_keys


def test_retry_of_a_failed_keys_account_whose_key_was_deleted_stays_failed(client_user, iam_keys):
    account, _ = connect(client_user, iam_keys)
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.FAILED)
    account.refresh_from_db()
    delete_access_key(KEYS_ACCOUNT, "spotopt-reader", iam_keys[0])

    with pytest.raises(DomainError) as excinfo:
        with_iam_auth(account_retry, user=client_user, account=account)

    assert excinfo.value.code == "aws_invalid_credentials"
    account.refresh_from_db()
    assert account.status == AccountStatus.FAILED


def test_no_secret_reaches_any_log_line(
    client_user, other_client, iam_keys, caplog, django_capture_on_commit_callbacks
):
    key_id, secret = iam_keys
    caplog.set_level(logging.DEBUG)

    with django_capture_on_commit_callbacks(execute=True):
        account, _ = connect(client_user, iam_keys, account_name="Keys")
    connect(client_user, iam_keys)
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.FAILED)
    account.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        account_retry(user=client_user, account=account)
    with pytest.raises(AccountConflict):
        connect(other_client, iam_keys)
    with pytest.raises(DomainError):
        with_iam_auth(connect, client_user, (key_id, secret[::-1]))

    assert f"account {KEYS_ACCOUNT} connected" in caplog.text  # the flow was logged ...
    # ... by our code and the libraries it runs (moto's own logs are the emulated AWS side, not ours).
    ours = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("moto"))
    assert secret not in ours
    assert key_id not in ours
    assert secret not in caplog.text
    # botocore at DEBUG prints request headers; the product's LOGGING keeps it at WARNING.
    assert logging.getLogger("botocore").getEffectiveLevel() >= logging.WARNING


def test_aws_unreachable_is_a_retryable_error_and_writes_nothing(client_user, settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    placeholder = account_create_pending(user=client_user, account_name="Production")
    before = rows()

    with pytest.raises(ServiceUnavailable) as excinfo:
        account_connect_access_keys(
            user=client_user, access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="x" * 40, account_name="Keys"
        )

    assert excinfo.value.code == "aws_unreachable"
    assert status_for(excinfo.value) == 503
    assert "could not be reached" in excinfo.value.message
    assert rows() == before
    assert Account.objects.get(pk=placeholder.pk).status == AccountStatus.PENDING
