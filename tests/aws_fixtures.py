"""moto (in-process `mock_aws`) fixtures and helpers for the AWS-facing tests.

Import what a module needs, e.g. `from tests.aws_fixtures import moto  # noqa: F401` and then
`pytestmark = pytest.mark.usefixtures("moto")`.

Facts about moto these helpers rely on (measured with moto 5.2.5):
- Without IAM auth, STS AssumeRole succeeds for any role; credentials returned for
  `arn:aws:iam::ACCOUNT:role/...` act in ACCOUNT. `customer_session(ACCOUNT)` uses that to set up resources
  in a customer's account.
- With IAM auth on (`moto.core.set_initial_no_auth_action_count(0)`, see `with_iam_auth`) moto checks
  signatures, identity policies and, for AssumeRole, the role's trust policy including the
  `sts:ExternalId` condition; principal ARNs are matched exactly. moto only evaluates the trust policy when
  the role lives in the *caller's own* account (`IAMRequestBase._is_assuming_role_operation` looks the role up
  in the caller's account and skips the trust check when it is not found), so a cross-account AssumeRole is
  always allowed by moto. Tests of the External ID therefore put the platform's IAM user in the same account
  as the customer's role.
"""

import json

import boto3
import pytest
from django.core.cache import cache
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from accounts.choices import AccountStatus
from spotopt import aws

CUSTOMER_ACCOUNT = "111122223333"
OTHER_CUSTOMER_ACCOUNT = "444455556666"
MOTO_DEFAULT_ACCOUNT = "123456789012"
REGION = "us-east-1"
# The platform's principal the onboarding tests fix (`fixed_platform`), the customer's role they connect, and
# the account of the access keys they connect.
PLATFORM_ARN = "arn:aws:iam::999988887777:role/spotopt-platform"
ROLE_NAME = "SpotOptimizerCrossAccountRole"
ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/{ROLE_NAME}"
KEYS_ACCOUNT = "210987654321"
# What a failed discovery leaves in an account's metadata.
DISCOVERY_FAILED = {"last_error": {"message": "us-east-1: denied", "code": "discovery_failed"}}


ALLOW_ASSUME_ROLE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}
ALLOW_DESCRIBE_INSTANCES = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}],
}


def failed_role_account(make_account, user, **overrides):
    """`user`'s account of CUSTOMER_ACCOUNT, connected by ROLE_ARN, whose discovery failed: retrying it
    verifies the role again."""
    fields = {
        "account_id": CUSTOMER_ACCOUNT,
        "role_arn": ROLE_ARN,
        "status": AccountStatus.FAILED,
        "account_metadata": DISCOVERY_FAILED,
    }
    return make_account(user, **fields | overrides)


def reset_platform_session() -> None:
    """Forget this thread's shared boto3 session: it caches the platform credentials it first resolved."""
    aws._thread_local.__dict__.pop("session", None)


@pytest.fixture
def moto(monkeypatch, settings):
    """Everything boto3 does in the test goes to moto's in-process mock, under the platform identity
    `testing`/`testing` (moto's default account 123456789012)."""
    settings.AWS_ENDPOINT_URL = None
    settings.AWS_DEFAULT_REGION = REGION
    settings.PLATFORM_AWS_PRINCIPAL_ARN = ""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    reset_platform_session()
    aws.forget_cached_credentials()
    with mock_aws():
        yield
    aws.forget_cached_credentials()
    reset_platform_session()


@pytest.fixture
def fixed_platform(settings):
    """A fixed platform principal (the template and error messages never ask STS for it) and fresh
    throttle counters (the cache), before and after."""
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def aws_mock(moto, settings):
    """moto in-process (`moto`: no endpoint URL, testing credentials, the role cache forgotten before and
    after) with the fixed platform principal (`moto` empties it)."""
    settings.PLATFORM_AWS_PRINCIPAL_ARN = PLATFORM_ARN


def with_iam_auth(fn, *args, **kwargs):
    """Call fn with moto's IAM authentication and authorization switched on for every request."""
    return set_initial_no_auth_action_count(0)(fn)(*args, **kwargs)


def customer_session(account_id: str) -> boto3.Session:
    """A boto3 session acting in `account_id` (moto: assume any role there while IAM auth is off)."""
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/test-bootstrap", RoleSessionName="test-bootstrap"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def create_user_with_keys(account_id: str, user_name: str, *, policy: dict | None = None) -> tuple[str, str, str]:
    """An IAM user in `account_id` with an access key: (user ARN, access key id, secret access key)."""
    iam = customer_session(account_id).client("iam")
    arn = iam.create_user(UserName=user_name)["User"]["Arn"]
    if policy:
        iam.put_user_policy(UserName=user_name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user_name)["AccessKey"]
    return arn, key["AccessKeyId"], key["SecretAccessKey"]


def new_access_key(account_id: str, user_name: str) -> tuple[str, str]:
    key = customer_session(account_id).client("iam").create_access_key(UserName=user_name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def delete_access_key(account_id: str, user_name: str, access_key_id: str) -> None:
    customer_session(account_id).client("iam").delete_access_key(UserName=user_name, AccessKeyId=access_key_id)


def trust_policy(*, trusted_arn: str, external_id: str) -> str:
    """A role's trust policy (JSON): exactly `trusted_arn` may assume it, presenting `external_id`."""
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": trusted_arn},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_role(
    account_id: str, role_name: str, *, trusted_arn: str, external_id: str, policy: dict | None = None
) -> str:
    """A customer role that trusts exactly `trusted_arn` when it presents `external_id`; returns its ARN."""
    iam = customer_session(account_id).client("iam")
    trust = trust_policy(trusted_arn=trusted_arn, external_id=external_id)
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    if policy:
        iam.put_role_policy(RoleName=role_name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    return arn


def set_role_trust(account_id: str, role_name: str, *, trusted_arn: str, external_id: str) -> None:
    customer_session(account_id).client("iam").update_assume_role_policy(
        RoleName=role_name, PolicyDocument=trust_policy(trusted_arn=trusted_arn, external_id=external_id)
    )


def use_platform_identity(monkeypatch, access_key_id: str, secret_access_key: str) -> None:
    """From now on the platform (spotopt.aws.platform_client) signs with these keys."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_access_key)
    reset_platform_session()
    aws.forget_cached_credentials()


def launch_instances(account_id: str, region: str, count: int) -> list[str]:
    ec2 = customer_session(account_id).client("ec2", region_name=region)
    reservation = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count, InstanceType="t3.micro")
    return [instance["InstanceId"] for instance in reservation["Instances"]]


class AwsCalls:
    """Records every API call made by clients built from this thread's shared spotopt session (a botocore
    event hook: the calls still go to moto). Install after any `use_platform_identity`."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def install(self) -> "AwsCalls":
        aws._shared_session().events.register("provide-client-params", self._record)
        aws.forget_cached_clients()  # clients copy the session's events when they are built
        return self

    def _record(self, params, model, **kwargs):
        self.calls.append((model.name, dict(params)))

    def named(self, operation: str) -> list[dict]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def aws_calls(moto):
    return AwsCalls().install()
