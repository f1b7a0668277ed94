"""spotopt.aws: per-account sessions (role + External ID, or keys), the AssumeRole cache, client settings,
errors a person can act on, and the platform's own principal. AWS is moto."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from accounts.choices import ConnectionMethod
from spotopt import aws
from spotopt.errors import ServiceUnavailable
from tests.aws_fixtures import (
    ALLOW_ASSUME_ROLE,
    CUSTOMER_ACCOUNT,
    MOTO_DEFAULT_ACCOUNT,
    OTHER_CUSTOMER_ACCOUNT,
    AwsCalls,
    create_role,
    create_user_with_keys,
    moto,  # noqa: F401
    use_platform_identity,
    with_iam_auth,
)

pytestmark = pytest.mark.django_db

ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/SpotOptimizerCrossAccountRole"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def role_account(make_account, client_user):
    return make_account(client_user, account_id=CUSTOMER_ACCOUNT, role_arn=ROLE_ARN, region="eu-west-1")


def keys_account(make_account, user, keys, **overrides):
    account = make_account(user, connection_method=ConnectionMethod.ACCESS_KEYS, role_arn="", **overrides)
    account.set_access_keys(*keys)
    account.save()
    return account


# --- Sessions per account ----------------------------------------------------------------------------


@pytest.mark.usefixtures("moto")
def test_client_for_a_role_account_acts_in_the_customer_account_with_its_external_id(role_account):
    calls = AwsCalls().install()

    sts = aws.client_for(role_account, "sts")
    identity = sts.get_caller_identity()

    assert identity["Account"] == CUSTOMER_ACCOUNT
    assert identity["Arn"] == (
        f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/SpotOptimizerCrossAccountRole/spotopt-{role_account.pk}"
    )
    assert calls.named("AssumeRole") == [
        {
            "RoleArn": ROLE_ARN,
            "RoleSessionName": f"spotopt-{role_account.pk}",
            "ExternalId": role_account.external_id,
            "DurationSeconds": aws.ASSUME_ROLE_DURATION_SECONDS,
        }
    ]
    assert sts.meta.region_name == "eu-west-1"  # the account's home region by default
    assert aws.client_for(role_account, "ec2", "ap-south-1").meta.region_name == "ap-south-1"


@pytest.mark.usefixtures("moto")
def test_client_for_presents_the_external_id_the_role_trusts(make_account, client_user, monkeypatch):
    # moto checks trust policies only for same-account AssumeRole (see tests/aws_fixtures.py).
    platform_arn, key_id, secret = create_user_with_keys(CUSTOMER_ACCOUNT, "spotopt-platform", policy=ALLOW_ASSUME_ROLE)
    role_arn = create_role(CUSTOMER_ACCOUNT, "Trusting", trusted_arn=platform_arn, external_id="spot-optimizer-right")
    use_platform_identity(monkeypatch, key_id, secret)
    right = make_account(client_user, account_id="a1", role_arn=role_arn, external_id="spot-optimizer-right")
    wrong = make_account(client_user, account_id="a2", role_arn=role_arn, external_id="spot-optimizer-wrong")

    identity = with_iam_auth(lambda: aws.client_for(right, "sts").get_caller_identity())
    assert identity["Arn"].startswith(f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/Trusting/")

    with pytest.raises(ClientError) as excinfo:
        with_iam_auth(aws.client_for, wrong, "sts")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.usefixtures("moto")
def test_assumed_role_credentials_are_cached_until_close_to_expiry(role_account):
    calls = AwsCalls().install()

    aws.client_for(role_account, "ec2").describe_instances()
    aws.client_for(role_account, "ec2", "us-west-2").describe_instances()
    assert len(calls.named("AssumeRole")) == 1

    # Within the refresh margin of the expiry: assume the role again.
    cached = aws._role_cache[(ROLE_ARN, role_account.external_id)]
    cached.expiration = datetime.now(UTC) + aws.CREDENTIAL_REFRESH_MARGIN - timedelta(seconds=30)
    aws.client_for(role_account, "ec2")
    assert len(calls.named("AssumeRole")) == 2
    assert aws._role_cache[(ROLE_ARN, role_account.external_id)].fresh()

    # Fresh again: served from the cache.
    aws.client_for(role_account, "ec2")
    assert len(calls.named("AssumeRole")) == 2

    # Another External ID for the same role is another cache entry; forgetting clears everything.
    role_account.external_id = "spot-optimizer-another"
    aws.client_for(role_account, "ec2")
    assert len(calls.named("AssumeRole")) == 3
    aws.forget_cached_credentials()
    aws.client_for(role_account, "ec2")
    assert len(calls.named("AssumeRole")) == 4


@pytest.mark.usefixtures("moto")
def test_cached_credentials_never_print_their_secrets(role_account):
    creds = aws.assume_role(ROLE_ARN, role_account.external_id)
    assert creds.secret_access_key not in repr(creds)
    assert creds.session_token not in repr(creds)
    assert creds.access_key_id not in repr(creds)


@pytest.mark.usefixtures("moto")
def test_identity_for_role_always_assumes_the_role_afresh(role_account):
    calls = AwsCalls().install()
    aws.client_for(role_account, "sts")  # fills the cache
    first = aws.identity_for_role(ROLE_ARN, role_account.external_id)
    second = aws.identity_for_role(ROLE_ARN, role_account.external_id)
    assert first.account_id == second.account_id == CUSTOMER_ACCOUNT
    assert [c["RoleSessionName"] for c in calls.named("AssumeRole")] == [
        f"spotopt-{role_account.pk}",
        "spotopt-verify",
        "spotopt-verify",
    ]


@pytest.mark.usefixtures("moto")
def test_client_for_an_access_keys_account_uses_its_decrypted_keys(make_account, client_user):
    user_arn, key_id, secret = create_user_with_keys(OTHER_CUSTOMER_ACCOUNT, "spotopt-reader")
    account = keys_account(make_account, client_user, (key_id, secret), account_id=OTHER_CUSTOMER_ACCOUNT)
    calls = AwsCalls().install()

    sts = aws.client_for(account, "sts")
    identity = sts.get_caller_identity()

    assert (identity["Account"], identity["Arn"]) == (OTHER_CUSTOMER_ACCOUNT, user_arn)
    credentials = sts._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (key_id, secret, None)
    assert calls.named("AssumeRole") == []

    # Under IAM auth the keys must really be the stored ones (a wrong secret would not sign).
    assert with_iam_auth(lambda: aws.client_for(account, "sts").get_caller_identity())["Arn"] == user_arn


# --- Client settings ----------------------------------------------------------------------------------


def test_clients_honour_aws_endpoint_url(settings, make_account, client_user):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:5005"
    account = keys_account(make_account, client_user, ("AKIAIOSFODNN7EXAMPLE", SECRET))
    assert aws.client_for(account, "ec2").meta.endpoint_url == "http://127.0.0.1:5005"
    assert aws.platform_client("sts").meta.endpoint_url == "http://127.0.0.1:5005"

    settings.AWS_ENDPOINT_URL = None
    assert aws.client_for(account, "ec2", "eu-west-1").meta.endpoint_url == "https://ec2.eu-west-1.amazonaws.com"
    assert aws.platform_client("sts", "eu-west-1").meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"


def test_clients_use_adaptive_retries_and_timeouts(settings, make_account, client_user):
    settings.AWS_MAX_ATTEMPTS = 4
    settings.AWS_CONNECT_TIMEOUT = 3
    settings.AWS_READ_TIMEOUT = 17
    account = keys_account(make_account, client_user, ("AKIAIOSFODNN7EXAMPLE", SECRET))
    for client in (aws.client_for(account, "ec2"), aws.platform_client("sts")):
        config = client.meta.config
        assert config.retries["mode"] == "adaptive"
        # AWS_MAX_ATTEMPTS counts every try, the first one included.
        assert config.retries["total_max_attempts"] == settings.AWS_MAX_ATTEMPTS
        assert (config.connect_timeout, config.read_timeout) == (3, 17)
        assert "spotopt" in config.user_agent_extra


# --- Errors a person can act on ------------------------------------------------------------------------


def client_error(code: str, message: str = "", operation: str = "DescribeInstances") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize("code", ["AccessDenied", "UnauthorizedOperation", "AccessDeniedException"])
def test_access_denied_names_the_operation_and_the_missing_action(code):
    error = aws.explain_aws_error(
        client_error(
            code,
            "You are not authorized to perform this operation. User: arn:aws:sts::111122223333:assumed-role/R/s "
            "is not authorized to perform: ec2:DescribeInstances because no identity-based policy allows it",
        ),
        doing="list the EC2 instances in us-east-1",
    )
    assert error.code == "aws_access_denied"
    assert error.message == (
        f"AWS denied DescribeInstances while trying to list the EC2 instances in us-east-1 ({code}). "
        "The IAM policy must allow ec2:DescribeInstances."
    )


def test_access_denied_without_an_action_in_the_message_still_explains():
    error = aws.explain_aws_error(client_error("AccessDenied", "Access Denied"), doing="list volumes")
    assert error.message == "AWS denied DescribeInstances while trying to list volumes (AccessDenied)."


@pytest.mark.usefixtures("moto")
def test_a_real_access_denied_from_moto_is_explained(monkeypatch):
    _, key_id, secret = create_user_with_keys(CUSTOMER_ACCOUNT, "no-permissions")
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret)
    with pytest.raises(aws.AwsError) as excinfo, aws.aws_errors("list the EC2 instances in us-east-1"):
        with_iam_auth(ec2.describe_instances)
    assert excinfo.value.code == "aws_access_denied"
    assert "The IAM policy must allow ec2:DescribeInstances." in excinfo.value.message


@pytest.mark.parametrize(
    "code",
    ["InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "ExpiredToken", "UnrecognizedClientException"],
)
def test_credential_errors_never_echo_what_aws_said(code):
    message = f"The security token included in the request is invalid: {SECRET} AKIAIOSFODNN7EXAMPLE"
    error = aws.explain_aws_error(client_error(code, message, "GetCallerIdentity"), doing="check the keys")
    assert error.code == "aws_invalid_credentials"
    assert code in error.message
    assert SECRET not in error.message and "AKIAIOSFODNN7EXAMPLE" not in error.message
    assert SECRET not in str(error)


def test_other_aws_errors_name_the_code_but_not_the_message():
    error = aws.explain_aws_error(client_error("InvalidParameterValue", f"bad value {SECRET}"), doing="scan")
    assert error.code == "aws_error"
    assert error.message == "AWS answered InvalidParameterValue to DescribeInstances while trying to scan."


@pytest.mark.usefixtures("moto")
def test_unknown_keys_give_invalid_credentials_from_moto():
    sts = boto3.client(
        "sts", region_name="us-east-1", aws_access_key_id="AKIA" + "Z" * 16, aws_secret_access_key=SECRET
    )
    with pytest.raises(aws.AwsError) as excinfo, aws.aws_errors("check the access keys"):
        with_iam_auth(sts.get_caller_identity)
    assert excinfo.value.code == "aws_invalid_credentials"
    assert "(InvalidClientTokenId)" in excinfo.value.message
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "RequestLimitExceeded"])
def test_throttling_is_a_try_again_later(code):
    error = aws.explain_aws_error(client_error(code, "Rate exceeded"), doing="scan")
    assert isinstance(error, ServiceUnavailable)
    assert error.code == "aws_unreachable"
    assert "try again later" in error.message and code in error.message


def test_an_unreachable_endpoint_is_a_try_again_later(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    with pytest.raises(ServiceUnavailable) as excinfo, aws.aws_errors("find the platform's own AWS identity"):
        aws.platform_client("sts").get_caller_identity()
    assert excinfo.value.code == "aws_unreachable"
    assert "could not be reached while trying to find the platform's own AWS identity" in excinfo.value.message

    constructed = aws.explain_aws_error(EndpointConnectionError(endpoint_url="https://x"), doing="scan")
    assert isinstance(constructed, aws.AwsUnreachable)


def test_no_platform_credentials_is_explained():
    error = aws.explain_aws_error(NoCredentialsError(), doing="assume the role")
    assert error.code == "aws_no_platform_credentials"


def test_aws_errors_lets_our_own_errors_through():
    with pytest.raises(ZeroDivisionError), aws.aws_errors("divide"):
        1 / 0  # noqa: B018


# --- Principals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn,principal",
    [
        (
            "arn:aws:sts::123456789012:assumed-role/SpotOptimizerPlatform/i-0abc123",
            "arn:aws:iam::123456789012:role/SpotOptimizerPlatform",
        ),
        ("arn:aws-us-gov:sts::123456789012:assumed-role/Gov/session", "arn:aws-us-gov:iam::123456789012:role/Gov"),
        ("arn:aws:iam::123456789012:user/platform", "arn:aws:iam::123456789012:user/platform"),
        ("arn:aws:iam::123456789012:role/Already", "arn:aws:iam::123456789012:role/Already"),
    ],
)
def test_principal_arn_from_identity(arn, principal):
    assert aws.principal_arn_from_identity(arn) == principal


def test_platform_principal_arn_prefers_the_setting_without_asking_aws(settings):
    settings.PLATFORM_AWS_PRINCIPAL_ARN = "arn:aws:iam::999988887777:role/Platform"
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # asking AWS would fail
    assert aws.platform_principal_arn() == "arn:aws:iam::999988887777:role/Platform"
    assert aws.platform_principal_arn_or_unknown() == "arn:aws:iam::999988887777:role/Platform"


@pytest.mark.usefixtures("moto")
def test_platform_principal_arn_is_the_role_of_the_platforms_assumed_role_identity(monkeypatch):
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerPlatform", RoleSessionName="i-0abc123"
    )["Credentials"]
    use_platform_identity(monkeypatch, creds["AccessKeyId"], creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    assert aws.platform_principal_arn() == f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerPlatform"


def test_platform_principal_arn_or_unknown_when_aws_cannot_be_asked(settings):
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.AWS_MAX_ATTEMPTS = 1
    settings.AWS_CONNECT_TIMEOUT = 1
    assert aws.platform_principal_arn_or_unknown() == "the platform's AWS principal"


def test_clients_are_kept_by_what_they_act_with(settings):
    aws.forget_cached_clients()
    keys = {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s1"}
    one = aws._cached_client("ec2", "us-east-1", keys)
    assert aws._cached_client("ec2", "us-east-1", dict(keys)) is one  # the same credentials: the same client
    assert aws._cached_client("ec2", "eu-west-1", keys) is not one
    assert aws._cached_client("ec2", "us-east-1", keys | {"aws_secret_access_key": "s2"}) is not one
    settings.AWS_READ_TIMEOUT = settings.AWS_READ_TIMEOUT + 1
    assert aws._cached_client("ec2", "us-east-1", keys) is not one  # another configuration
    aws.forget_cached_clients()
    settings.AWS_READ_TIMEOUT = settings.AWS_READ_TIMEOUT - 1
    assert aws._cached_client("ec2", "us-east-1", keys) is not one  # forgotten: built again
