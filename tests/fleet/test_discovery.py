"""Discovery of a connected account's EC2 estate (fleet.services.account_discover, fleet.tasks) in moto."""

import math
import uuid
from datetime import UTC
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import AccountStatus, ConnectionMethod
from fleet import services as fleet_services
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from fleet.models import Instance
from fleet.services import account_discover
from fleet.tasks import discover_account
from spotopt import aws
from tests.aws_fixtures import (
    ALLOW_DESCRIBE_INSTANCES,
    CUSTOMER_ACCOUNT,
    OTHER_CUSTOMER_ACCOUNT,
    AwsCalls,
    create_user_with_keys,
    customer_session,
    launch_instances,
    moto,  # noqa: F401
    with_iam_auth,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


@pytest.fixture
def calls(request):
    """Every AWS API call discovery and the executor make, by operation (after moto's session reset)."""
    request.getfixturevalue("moto")
    return AwsCalls().install()


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


# --- A mixed estate in two regions ---------------------------------------------------------------------

EAST, WEST = "us-east-1", "eu-west-1"
THIRD_CUSTOMER_ACCOUNT = "777788889999"
MANAGED = {"ManagedBy": "SpotOptimizer"}
EKS_NODE_TAGS = {"eks:cluster-name": "prod", "eks:nodegroup-name": "ng-general", "kubernetes.io/cluster/prod": "owned"}
KARPENTER_TAGS = {"karpenter.sh/nodepool": "default", "kubernetes.io/cluster/analytics": "owned"}


def ec2_in(region, account_id=CUSTOMER_ACCOUNT):
    return customer_session(account_id).client("ec2", region_name=region)


def launch(region, *, tags=None, spot=False, instance_type="t3.micro", zone=None, count=1, account_id=CUSTOMER_ACCOUNT):
    """Launch `count` instances in one reservation; returns their ids."""
    kwargs = {"ImageId": "ami-12345678", "MinCount": count, "MaxCount": count, "InstanceType": instance_type}
    if tags:
        tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
        kwargs["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tag_list}]
    if spot:
        kwargs["InstanceMarketOptions"] = {"MarketType": "spot"}
    if zone:
        kwargs["Placement"] = {"AvailabilityZone": zone}
    reservation = ec2_in(region, account_id).run_instances(**kwargs)
    return [instance["InstanceId"] for instance in reservation["Instances"]]


def create_asg(region, name, *, size, instance_type="m5.large", zone=None):
    """An Auto Scaling group from a launch template; moto launches its members at once, tagged
    aws:autoscaling:groupName. Returns the members' ids."""
    session = customer_session(CUSTOMER_ACCOUNT)
    session.client("ec2", region_name=region).create_launch_template(
        LaunchTemplateName=f"{name}-lt",
        LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": instance_type},
    )
    autoscaling = session.client("autoscaling", region_name=region)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-lt", "Version": "$Latest"},
        MinSize=size,
        MaxSize=size,
        DesiredCapacity=size,
        AvailabilityZones=[zone or f"{region}a"],
    )
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return [member["InstanceId"] for member in groups[0]["Instances"]]


@pytest.fixture
def estate():
    """Who is who in the customer's account (ids by role), across two regions."""
    return {
        "asg": create_asg(EAST, "web-asg", size=2, zone="us-east-1a"),
        "eks": launch(EAST, tags=EKS_NODE_TAGS, spot=True, instance_type="c5.large", zone="us-east-1b", count=2),
        "standalone_east": launch(EAST, tags={**MANAGED, "Name": "batch-1"}, zone="us-east-1c"),
        "karpenter": launch(WEST, tags=KARPENTER_TAGS, spot=True, instance_type="m5.xlarge", zone="eu-west-1a"),
        "standalone_spot_west": launch(WEST, tags=MANAGED, spot=True, instance_type="c5.large", zone="eu-west-1b"),
        "rogue_west": launch(WEST, instance_type="t3.small", zone="eu-west-1c"),
    }


def describe(region, instance_id):
    return ec2_in(region).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def rows():
    """Every instance row, every column: what 'nothing changed' is checked against."""
    return list(Instance.objects.order_by("instance_id").values())


def test_a_mixed_estate_is_discovered_with_orchestrator_membership_lifecycle_and_metadata(connected, estate):
    result = account_discover(account=connected)

    assert result.instances_by_region == {EAST: 5, WEST: 3}
    assert result.created == 8
    assert result.errors_by_region == {}
    found = {row.instance_id: row for row in Instance.objects.filter(account=connected)}
    assert set(found) == {instance_id for ids in estate.values() for instance_id in ids}

    def check(instance_id, *, region, zone, lifecycle, orchestrator, membership, auth):
        row = found[instance_id]
        assert (row.region, row.availability_zone, row.lifecycle) == (region, zone, lifecycle), instance_id
        assert (row.orchestrator_type, row.cluster_membership) == (orchestrator, membership), instance_id
        assert row.auth_status == auth, instance_id
        assert row.is_active
        return row

    for instance_id in estate["asg"]:
        check(
            instance_id,
            region=EAST,
            zone="us-east-1a",
            lifecycle=Lifecycle.ON_DEMAND,
            orchestrator=OrchestratorType.STANDALONE,
            membership={"asg_name": "web-asg"},
            auth=AuthStatus.AUTHORIZED,  # aws:autoscaling:groupName is an authorizing tag by default
        )
    for instance_id in estate["eks"]:
        check(
            instance_id,
            region=EAST,
            zone="us-east-1b",
            lifecycle=Lifecycle.SPOT,
            orchestrator=OrchestratorType.KUBERNETES,
            membership={"cluster_name": "prod", "node_group": "ng-general"},
            auth=AuthStatus.AUTHORIZED,  # eks:cluster-name
        )
    check(
        estate["standalone_east"][0],
        region=EAST,
        zone="us-east-1c",
        lifecycle=Lifecycle.ON_DEMAND,
        orchestrator=OrchestratorType.STANDALONE,
        membership={},
        auth=AuthStatus.AUTHORIZED,
    )
    check(
        estate["karpenter"][0],
        region=WEST,
        zone="eu-west-1a",
        lifecycle=Lifecycle.SPOT,
        orchestrator=OrchestratorType.KUBERNETES,
        membership={"cluster_name": "analytics", "nodepool": "default"},
        # Karpenter's tags are not among the default authorizing tags: such nodes need ManagedBy (or the
        # setting extended) or they are flagged like any other untagged instance.
        auth=AuthStatus.FLAGGED,
    )
    check(
        estate["standalone_spot_west"][0],
        region=WEST,
        zone="eu-west-1b",
        lifecycle=Lifecycle.SPOT,
        orchestrator=OrchestratorType.STANDALONE,
        membership={},
        auth=AuthStatus.AUTHORIZED,
    )
    rogue = check(
        estate["rogue_west"][0],
        region=WEST,
        zone="eu-west-1c",
        lifecycle=Lifecycle.ON_DEMAND,
        orchestrator=OrchestratorType.STANDALONE,
        membership={},
        auth=AuthStatus.FLAGGED,
    )
    assert rogue.flagged_at is not None
    assert result.flagged == 2

    # instance_metadata mirrors DescribeInstances.
    for instance_id, row in found.items():
        raw = describe(row.region, instance_id)
        metadata = row.instance_metadata
        assert metadata["state"] == "running"
        assert metadata["launch_time"] == raw["LaunchTime"].astimezone(UTC).isoformat()
        assert metadata["tags"] == {tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])}
        assert metadata["subnet_id"] == raw["SubnetId"] and metadata["subnet_id"].startswith("subnet-")
        assert metadata["vpc_id"] == raw["VpcId"] and metadata["vpc_id"].startswith("vpc-")
        assert metadata["private_ip"] == raw["PrivateIpAddress"] and metadata["private_ip"]
        assert metadata["image_id"] == "ami-12345678"
        # Spot instances carry their pool's DescribeSpotPriceHistory price (moto's constant); others none.
        assert metadata["spot_price"] == ("0.00001" if row.lifecycle == Lifecycle.SPOT else "")
    assert found[estate["standalone_east"][0]].instance_metadata["name"] == "batch-1"
    assert found[estate["asg"][0]].instance_metadata["tags"]["aws:autoscaling:groupName"] == "web-asg"
    assert found[estate["eks"][0]].instance_metadata["tags"] == {**EKS_NODE_TAGS}


def test_spot_prices_are_asked_once_per_page_for_the_spot_pools_only(connected, estate, calls):
    account_discover(account=connected)
    lookups = calls.named("DescribeSpotPriceHistory")
    # One call per region (each region is one page); only the types that run as spot there.
    assert sorted(tuple(call["InstanceTypes"]) for call in lookups) == [("c5.large",), ("c5.large", "m5.xlarge")]
    assert all(call["ProductDescriptions"] == ["Linux/UNIX"] for call in lookups)


def test_rediscovery_of_an_unchanged_estate_changes_nothing(connected, estate):
    first = account_discover(account=connected)
    assert first.created == 8
    before = rows()

    again = account_discover(account=connected)

    assert (again.created, again.updated, again.deactivated) == (0, 0, 0)
    assert (again.flagged, again.reauthorized, again.rogue_requests) == (0, 0, 0)
    assert again.instances_by_region == first.instances_by_region
    assert rows() == before  # every column of every row, updated_at included
    connected.refresh_from_db()
    assert connected.account_metadata["discovery"]["changes"] == {"created": 0, "updated": 0, "deactivated": 0}


def test_a_terminated_instance_becomes_inactive_and_keeps_its_history_a_stopped_one_stays(
    connected, estate, make_experiment
):
    account_discover(account=connected)
    gone_id, stopped_id = estate["standalone_east"][0], estate["asg"][0]
    gone = Instance.objects.get(instance_id=gone_id)
    make_experiment(gone, decision="SWITCH")
    make_experiment(gone)
    untouched = {row["instance_id"]: row for row in rows() if row["instance_id"] not in (gone_id, stopped_id)}
    ec2_in(EAST).terminate_instances(InstanceIds=[gone_id])
    ec2_in(EAST).stop_instances(InstanceIds=[stopped_id])

    result = account_discover(account=connected)

    assert (result.created, result.updated, result.deactivated) == (0, 1, 1)
    assert result.instances_by_region == {EAST: 4, WEST: 3}
    gone.refresh_from_db()
    assert not gone.is_active
    assert gone.experiment_logs.count() == 2  # its history stays
    assert gone.auth_status == AuthStatus.AUTHORIZED
    stopped = Instance.objects.get(instance_id=stopped_id)
    assert stopped.is_active
    assert stopped.instance_metadata["state"] == "stopped"
    assert {row["instance_id"]: row for row in rows() if row["instance_id"] in untouched} == untouched
    # The fleet's active view no longer lists the terminated instance.
    assert not Instance.objects.filter(account=connected, is_active=True, instance_id=gone_id).exists()


class DenyDescribeInstances:
    """Answers DescribeInstances in the given regions with AWS's 403 UnauthorizedOperation, as an SCP
    denying ec2 in a region would: a botocore before-call hook, so the real error path runs."""

    def __init__(self, *regions):
        self.regions = set(regions)

    def install(self):
        aws._shared_session().events.register("before-call.ec2.DescribeInstances", self)
        aws.forget_cached_clients()  # clients copy the session's events when they are built
        return self

    def uninstall(self):
        aws._shared_session().events.unregister("before-call.ec2.DescribeInstances", self)
        aws.forget_cached_clients()

    def __call__(self, context, **kwargs):
        if context["client_region"] not in self.regions:
            return None
        body = {
            "Error": {
                "Code": "UnauthorizedOperation",
                "Message": "You are not authorized to perform this operation. User: "
                f"arn:aws:sts::{CUSTOMER_ACCOUNT}:assumed-role/SpotOptimizerCrossAccountRole/spotopt is not "
                "authorized to perform: ec2:DescribeInstances with an explicit deny in a service control policy",
            },
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        return SimpleNamespace(status_code=403, headers={}, content=b""), body


def test_access_denied_in_one_region_keeps_what_was_known_there(connected, estate):
    account_discover(account=connected)
    west_before = [row for row in rows() if row["region"] == WEST]
    assert len(west_before) == 3
    # Meanwhile: one eu-west-1 instance is terminated (unseen: the region cannot be read) and us-east-1
    # changes.
    ec2_in(WEST).terminate_instances(InstanceIds=estate["standalone_spot_west"])
    ec2_in(EAST).terminate_instances(InstanceIds=estate["standalone_east"])
    new_east = launch(EAST, tags=MANAGED)
    deny = DenyDescribeInstances(WEST).install()
    try:
        result = account_discover(account=connected)
    finally:
        deny.uninstall()

    assert result.instances_by_region == {EAST: 5}
    assert set(result.errors_by_region) == {WEST}
    assert "UnauthorizedOperation" in result.errors_by_region[WEST]
    assert "The IAM policy must allow ec2:DescribeInstances" in result.errors_by_region[WEST]
    assert (result.created, result.deactivated) == (1, 1)  # only us-east-1 moved
    # eu-west-1 rows are exactly as before: not deactivated, not touched.
    assert [row for row in rows() if row["region"] == WEST] == west_before
    assert Instance.objects.get(instance_id=new_east[0]).is_active
    assert not Instance.objects.get(instance_id=estate["standalone_east"][0]).is_active
    connected.refresh_from_db()
    assert connected.status == AccountStatus.ACTIVE
    assert connected.account_metadata["last_error"]["code"] == "partial_discovery"
    assert connected.account_metadata["last_error"]["message"].startswith(
        "Some regions could not be scanned: eu-west-1: AWS denied DescribeInstances"
    )
    progress = connected.account_metadata["discovery"]
    assert progress["state"] == "succeeded"
    assert progress["regions"] == {EAST: 5}
    assert set(progress["errors"]) == {WEST}

    # Once the region answers again, what vanished there meanwhile becomes inactive and the error clears.
    recovered = account_discover(account=connected)
    assert recovered.errors_by_region == {}
    assert recovered.deactivated == 1
    assert not Instance.objects.get(instance_id=estate["standalone_spot_west"][0]).is_active
    connected.refresh_from_db()
    assert "last_error" not in connected.account_metadata


# --- Queries grow with pages, never with instances -----------------------------------------------------


def discovery_queries(account):
    with CaptureQueriesContext(connection) as captured:
        account_discover(account=account)
    return [query["sql"] for query in captured.captured_queries]


def bulk_batches(count: int, fields) -> int:
    """How many statements the backend splits a bulk write of `count` rows into (SQLite caps the number of
    query parameters at 999, so Django batches; PostgreSQL writes them in one statement)."""
    return math.ceil(count / connection.ops.bulk_batch_size(fields, [None] * count))


def one_region_account(make_account, user, aws_account_id):
    return make_account(
        user,
        account_id=aws_account_id,
        role_arn=f"arn:aws:iam::{aws_account_id}:role/SpotOptimizerCrossAccountRole",
        status=AccountStatus.CONNECTED,
        region=EAST,
        regions=[EAST],
    )


def test_discovery_queries_do_not_grow_with_the_number_of_instances(make_account, client_user):
    small = one_region_account(make_account, client_user, CUSTOMER_ACCOUNT)
    large = one_region_account(make_account, client_user, OTHER_CUSTOMER_ACCOUNT)
    # One reservation each: one DescribeInstances page each. Untagged, so every instance is also flagged.
    small_ids = launch(EAST, count=5, account_id=CUSTOMER_ACCOUNT)
    large_ids = launch(EAST, count=60, account_id=OTHER_CUSTOMER_ACCOUNT)

    small_queries = discovery_queries(small)
    large_queries = discovery_queries(large)

    assert Instance.objects.filter(account=large, auth_status=AuthStatus.FLAGGED).count() == 60
    # Same statements; only the backend's own batching of a bulk write may add one per batch.
    insert_fields = Instance._meta.concrete_fields
    flag_fields = ["pk", "pk", "auth_status", "flagged_at", "updated_at"]  # as bulk_update counts them
    extra_batches = (bulk_batches(60, insert_fields) - bulk_batches(5, insert_fields)) + (
        bulk_batches(60, flag_fields) - bulk_batches(5, flag_fields)
    )
    assert len(large_queries) == len(small_queries) + extra_batches
    if connection.vendor == "postgresql":
        assert len(large_queries) == len(small_queries)
    # No statement is about one instance: each that names instances names many of them.
    for ids, queries in ((small_ids, small_queries), (large_ids, large_queries)):
        named = [sum(instance_id in sql for instance_id in ids) for sql in queries]
        assert all(count == 0 or count >= min(len(ids), 15) for count in named), named

    # An unchanged re-discovery: no writes at all, and the same number of queries whatever the size.
    assert len(discovery_queries(large)) == len(discovery_queries(small))


def test_discovery_queries_grow_with_pages_not_instances(make_account, client_user, monkeypatch, calls):
    monkeypatch.setattr(fleet_services, "PAGE_SIZE", 2)  # moto pages by reservation: 2 reservations a page
    one_page = one_region_account(make_account, client_user, CUSTOMER_ACCOUNT)
    three_pages = one_region_account(make_account, client_user, OTHER_CUSTOMER_ACCOUNT)
    three_large_pages = one_region_account(make_account, client_user, THIRD_CUSTOMER_ACCOUNT)
    launch(EAST, count=3, account_id=CUSTOMER_ACCOUNT)
    launch(EAST, count=3, account_id=CUSTOMER_ACCOUNT)  # 6 instances, 1 page
    for _ in range(6):
        launch(EAST, count=1, account_id=OTHER_CUSTOMER_ACCOUNT)  # 6 instances, 3 pages
        launch(EAST, count=7, account_id=THIRD_CUSTOMER_ACCOUNT)  # 42 instances, 3 pages (< one batch a page)

    pages = []
    queries = []
    for account in (one_page, three_pages, three_large_pages):
        listed_before = len(calls.named("DescribeInstances"))
        queries.append(discovery_queries(account))
        pages.append(len(calls.named("DescribeInstances")) - listed_before)
    one, three, three_large = queries

    assert pages == [1, 3, 3]
    assert Instance.objects.filter(account=three_large_pages).count() == 42
    assert len(three) == len(three_large)  # 7 times the instances, the same queries
    # Each page costs the same few queries: one read of the existing rows and one insert (in an atomic
    # block: a savepoint and its release inside the test's transaction), and one insert of the page's ids
    # into the run's temporary id set (what the region still lists, kept in the database, not in memory).
    assert len(three) - len(one) == 2 * 5
    page_reads = [sql for sql in three_large if sql.startswith("SELECT") and '"fleet_instance"."instance_id" IN' in sql]
    inserts = [sql for sql in three_large if sql.startswith('INSERT INTO "fleet_instance"')]
    assert len(page_reads) == len(inserts) == 3
