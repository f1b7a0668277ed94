"""Discovery of a connected account's EC2 estate (fleet.services.account_discover, fleet.tasks) in moto."""

import uuid

import pytest
from botocore.exceptions import ClientError

from accounts.choices import AccountStatus, ConnectionMethod
from fleet import services as fleet_services
from fleet.services import account_discover
from fleet.tasks import discover_account
from tests.aws_fixtures import (
    ALLOW_DESCRIBE_INSTANCES,
    CUSTOMER_ACCOUNT,
    OTHER_CUSTOMER_ACCOUNT,
    create_user_with_keys,
    customer_session,
    launch_instances,
    moto,  # noqa: F401
    with_iam_auth,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]

ROLE_ARN = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/SpotOptimizerCrossAccountRole"


@pytest.fixture
def connected(make_account, client_user):
    return make_account(
        client_user,
        account_id=CUSTOMER_ACCOUNT,
        role_arn=ROLE_ARN,
        status=AccountStatus.CONNECTED,
        region="us-east-1",
        regions=["us-east-1", "eu-west-1"],
    )


def keys_account(make_account, user, keys, **overrides):
    account = make_account(
        user,
        account_id=OTHER_CUSTOMER_ACCOUNT,
        connection_method=ConnectionMethod.ACCESS_KEYS,
        role_arn="",
        status=AccountStatus.CONNECTED,
        **overrides,
    )
    account.set_access_keys(*keys)
    account.save()
    return account


def test_discovery_counts_instances_per_region_and_activates_the_account(connected):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 3)
    launch_instances(CUSTOMER_ACCOUNT, "us-west-2", 4)  # not a region the account scans
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "us-east-1", 5)  # somebody else's account

    result = account_discover(account=connected)

    assert result.instances_by_region == {"us-east-1": 2, "eu-west-1": 3}
    assert result.instances_found == 5
    assert result.errors_by_region == {}
    connected.refresh_from_db()
    assert connected.status == AccountStatus.ACTIVE
    progress = connected.account_metadata["discovery"]
    assert progress["state"] == "succeeded"
    assert progress["regions_done"] == progress["regions_total"] == 2
    assert progress["regions"] == {"us-east-1": 2, "eu-west-1": 3}
    assert progress["instances_found"] == 5
    assert progress["errors"] == {}
    assert progress["finished_at"] >= progress["started_at"]
    assert "last_error" not in connected.account_metadata


def test_terminated_instances_are_not_counted(connected):
    ids = launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 3)
    customer_session(CUSTOMER_ACCOUNT).client("ec2", region_name="us-east-1").terminate_instances(InstanceIds=ids[:1])
    assert account_discover(account=connected).instances_by_region["us-east-1"] == 2


def test_discovery_keeps_other_metadata_and_rediscovery_of_an_active_account(connected):
    connected.account_metadata = {"note": "kept", "last_error": {"message": "old", "code": "discovery_failed"}}
    connected.save()
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 1)
    account_discover(account=connected)
    account_discover(account=connected)  # active stays active
    connected.refresh_from_db()
    assert connected.status == AccountStatus.ACTIVE
    assert connected.account_metadata["note"] == "kept"
    assert "last_error" not in connected.account_metadata
    assert connected.account_metadata["discovery"]["regions"] == {"us-east-1": 0, "eu-west-1": 1}


def test_a_region_that_denies_access_does_not_stop_the_others(connected, monkeypatch):
    launch_instances(CUSTOMER_ACCOUNT, "us-east-1", 2)
    real_discover = fleet_services._discover_region

    def discover_denying_eu(*, account, region, result):
        if region == "eu-west-1":
            raise ClientError(
                {
                    "Error": {
                        "Code": "UnauthorizedOperation",
                        "Message": "You are not authorized to perform this operation. User: "
                        f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/R/s is not authorized to perform: "
                        "ec2:DescribeInstances with an explicit deny in a service control policy",
                    }
                },
                "DescribeInstances",
            )
        return real_discover(account=account, region=region, result=result)

    monkeypatch.setattr(fleet_services, "_discover_region", discover_denying_eu)

    result = account_discover(account=connected)

    assert result.instances_by_region == {"us-east-1": 2}
    assert set(result.errors_by_region) == {"eu-west-1"}
    connected.refresh_from_db()
    assert connected.status == AccountStatus.ACTIVE
    progress = connected.account_metadata["discovery"]
    assert progress["state"] == "succeeded"
    assert progress["regions_done"] == progress["regions_total"] == 2
    assert progress["regions"] == {"us-east-1": 2}
    assert "ec2:DescribeInstances" in progress["errors"]["eu-west-1"]
    last_error = connected.account_metadata["last_error"]
    assert last_error["code"] == "partial_discovery"
    assert "eu-west-1" in last_error["message"]
    assert "The IAM policy must allow ec2:DescribeInstances" in last_error["message"]


def test_when_every_region_is_denied_the_account_fails_with_a_reason(make_account, client_user):
    # Real IAM evaluation in moto: the customer's keys belong to a user without ec2 permissions.
    _, key_id, secret = create_user_with_keys(OTHER_CUSTOMER_ACCOUNT, "no-permissions")
    account = keys_account(make_account, client_user, (key_id, secret), regions=["us-east-1", "eu-west-1"])

    result = with_iam_auth(account_discover, account=account)

    assert result.instances_by_region == {}
    assert set(result.errors_by_region) == {"us-east-1", "eu-west-1"}
    account.refresh_from_db()
    assert account.status == AccountStatus.FAILED
    progress = account.account_metadata["discovery"]
    assert progress["state"] == "failed"
    assert progress["regions_done"] == progress["regions_total"] == 2
    last_error = account.account_metadata["last_error"]
    assert last_error["code"] == "discovery_failed"
    assert last_error["message"].startswith("us-east-1: AWS denied DescribeInstances")
    assert "The IAM policy must allow ec2:DescribeInstances." in last_error["message"]


def test_with_the_permission_granted_the_same_keys_discover(make_account, client_user):
    _, key_id, secret = create_user_with_keys(OTHER_CUSTOMER_ACCOUNT, "reader", policy=ALLOW_DESCRIBE_INSTANCES)
    launch_instances(OTHER_CUSTOMER_ACCOUNT, "us-east-1", 2)
    account = keys_account(make_account, client_user, (key_id, secret))

    result = with_iam_auth(account_discover, account=account)

    assert result.instances_by_region == {"us-east-1": 2}
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_discovery_of_a_failed_account_that_still_fails_keeps_it_failed(make_account, client_user):
    _, key_id, secret = create_user_with_keys(OTHER_CUSTOMER_ACCOUNT, "no-permissions")
    account = keys_account(make_account, client_user, (key_id, secret))
    account.status = AccountStatus.FAILED
    account.save()
    with_iam_auth(account_discover, account=account)
    account.refresh_from_db()
    assert account.status == AccountStatus.FAILED
    assert account.account_metadata["last_error"]["code"] == "discovery_failed"


def test_the_task_discovers_an_account_by_id(connected):
    launch_instances(CUSTOMER_ACCOUNT, "eu-west-1", 1)
    assert discover_account(str(connected.pk)) == {"instances_found": 1, "errors": {}}
    connected.refresh_from_db()
    assert connected.status == AccountStatus.ACTIVE


def test_the_task_skips_an_unknown_or_inactive_account(connected):
    assert discover_account(str(uuid.uuid4())) == {"skipped": True}
    connected.is_active = False
    connected.save()
    assert discover_account(str(connected.pk)) == {"skipped": True}
    connected.refresh_from_db()
    assert "discovery" not in connected.account_metadata
    assert connected.status == AccountStatus.CONNECTED


@pytest.mark.usefixtures("moto")
def test_discovery_of_an_account_whose_keys_cannot_be_decrypted_fails_with_a_clear_error(client_user, make_account):
    account = make_account(
        client_user,
        connection_method="access_keys",
        status="connected",
        access_key_id_encrypted="v1:gone:AAAA",
        secret_access_key_encrypted="v1:gone:AAAA",
        regions=["us-east-1"],
    )
    account_discover(account=account)
    account.refresh_from_db()
    assert account.status == "failed"
    error = account.account_metadata["last_error"]
    assert error["code"] == "discovery_failed"
    assert account.account_name in error["message"] and "cannot be decrypted" in error["message"]
