"""The replica safety net against moto: AWS's documented events, ingested with the listener's inline
reaction, act on the instance they name through the product's own launch service."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import boto3
import pytest
from django.urls import reverse

from accounts.choices import EnvironmentType
from fleet.catalog import instance_type_catalog_refresh
from fleet.models import Instance
from fleet.services import instance_record_from_aws
from risk.choices import IngestChannel
from risk.models import EventReaction, SpotPoolRisk
from risk.safety import REPLICA_LIFETIME, false_alarm_replicas_retire
from risk.services import REACT_INLINE, risk_events_ingest
from sla.choices import DowntimeCause
from sla.models import DowntimeLog
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, aws_calls, moto  # noqa: F401

pytestmark = pytest.mark.usefixtures("moto")
REGION = "us-east-1"
FIXTURES = Path(__file__).parent / "fixtures"
INTERRUPTION = json.loads((FIXTURES / "spot-interruption-warning.json").read_text())
REBALANCE = json.loads((FIXTURES / "rebalance-recommendation.json").read_text())


@pytest.fixture
def account(make_user, make_account):
    account = make_account(
        make_user(),
        account_id=MOTO_DEFAULT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerRole",
        regions=[REGION],
    )
    instance_type_catalog_refresh(account=account, region=REGION)
    return account


@pytest.fixture
def ec2():
    return boto3.client("ec2", region_name=REGION)


def launch(ec2, account, *, instance_type="m5.large", zone="us-east-1a", tags=None):
    subnet = next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == zone)
    raw = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        SubnetId=subnet,
        InstanceMarketOptions={"MarketType": "spot"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
        ]
        if tags
        else [],
    )["Instances"][0]
    return instance_record_from_aws(account=account, region=REGION, instance_id=raw["InstanceId"])


def deliver(sample: dict, instance, n: int = 1):
    event = sample | {"id": f"{sample['detail-type'][:8]}-{n}", "region": instance.region}
    event["detail"] = dict(sample["detail"], **{"instance-id": instance.instance_id})
    [result] = risk_events_ingest(body=json.dumps(event), channel=IngestChannel.SQS, react=REACT_INLINE)
    assert result.status == "stored", result
    return result


def note(instance):
    return Instance.objects.get(pk=instance.pk).instance_metadata["interruption"]


def test_a_rebalance_launches_a_replica_in_the_best_non_poisoned_compatible_pool(ec2, account, clock):
    instance = launch(ec2, account)
    first_choice = deliver_dry_pools(instance)
    # Poison the pool the safety net would pick first: it must take the next one.
    SpotPoolRisk.objects.create(
        region=REGION,
        availability_zone=first_choice[1],
        instance_type=first_choice[2],
        is_poisoned=True,
        poisoned_at=clock.now,
        poison_expires_at=clock.now + timedelta(days=15),
    )
    deliver(REBALANCE, instance)
    replica = Instance.objects.get(replica_of=instance)
    assert replica.is_replica and replica.is_active
    assert (replica.region, replica.availability_zone, replica.instance_type) != first_choice
    assert (replica.availability_zone, replica.instance_type) != (instance.availability_zone, instance.instance_type)
    assert replica.replica_expiry == clock.now + REPLICA_LIFETIME
    assert replica.tags["ManagedBy"] == "SpotOptimizer" and replica.tags["spotopt:replica-of"] == instance.instance_id
    assert note(instance)["action"] == "replica_launched"
    # A second recommendation does not launch a second replica.
    deliver(REBALANCE, instance, n=2)
    assert Instance.objects.filter(replica_of=instance).count() == 1


def deliver_dry_pools(instance):
    from risk.safety import replacement_pools

    pools = replacement_pools(instance=instance)
    assert pools, "the catalog offers compatible pools"
    assert all(pool[0] == REGION for pool in pools)
    return pools[0]


def test_a_termination_warning_promotes_the_replica_without_downtime(ec2, account):
    instance = launch(ec2, account)
    deliver(REBALANCE, instance)
    replica = Instance.objects.get(replica_of=instance)
    deliver(INTERRUPTION, instance)
    replica.refresh_from_db()
    assert not replica.is_replica and replica.replica_of is None
    assert note(instance)["action"] == "replica_promoted"
    assert not DowntimeLog.objects.exists()
    # Both acts are reactions with their time; the promotion names the replica that took over.
    reactions = dict(EventReaction.objects.filter(instance=instance).values_list("action", "replacement_id"))
    assert reactions == {"replica_launched": replica.instance_id, "replica_promoted": replica.instance_id}


def test_without_a_replica_an_emergency_replacement_is_launched_and_the_downtime_logged(ec2, account):
    instance = launch(ec2, account)
    deliver(INTERRUPTION, instance)
    assert note(instance)["action"] == "emergency_replacement"
    replacement = Instance.objects.get(instance_id=note(instance)["replacement_id"])
    assert replacement.tags["spotopt:replaces"] == instance.instance_id
    log = DowntimeLog.objects.get()
    assert log.cause == DowntimeCause.NO_REPLICA and log.instance == instance and log.account == account
    assert log.ended_at is not None and log.duration_seconds is not None and log.duration_seconds >= 0
    # Its reaction time, for /metrics: from the warning's arrival to the launch request.
    reaction = EventReaction.objects.get(instance=instance)
    assert reaction.action == "emergency_replacement" and reaction.account == account
    assert reaction.acted_at == datetime.fromisoformat(note(instance)["launch_requested_at"])
    assert 0 <= reaction.seconds == (reaction.acted_at - reaction.received_at).total_seconds()


def test_an_asg_member_gets_its_replacement_attached_before_it_is_detached(ec2, account, aws_calls):  # noqa: F811
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    subnet = next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == "us-east-1a")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="web",
        MinSize=1,
        MaxSize=3,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnet,
    )
    member = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]["Instances"][0]
    doomed = instance_record_from_aws(account=account, region=REGION, instance_id=member["InstanceId"])
    aws_calls.calls.clear()
    deliver(REBALANCE, doomed)
    names = [name for name, _ in aws_calls.calls]
    assert (
        names.index("RunInstances")
        < names.index("AttachInstances")
        < names.index("TerminateInstanceInAutoScalingGroup")
    )
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    members = {m["InstanceId"] for m in group["Instances"]}
    assert doomed.instance_id not in members and note(doomed)["replacement_id"] in members
    assert group["DesiredCapacity"] == 2
    assert note(doomed)["action"] == "asg_replaced"
    # Taken out by the group itself (its hooks run), not left running outside it.
    assert ec2.describe_instances(InstanceIds=[doomed.instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ] in ("shutting-down", "terminated")
    assert not Instance.objects.get(pk=doomed.pk).is_active


def test_a_node_of_a_cluster_spotopt_does_not_know_is_recorded_with_what_to_do(ec2, account, client):
    """(Nodes of a known cluster are drained, then replaced: tests/kube/test_node_switch.py.)"""
    node = launch(ec2, account, tags={"eks:cluster-name": "prod", "eks:nodegroup-name": "spot"})
    deliver(INTERRUPTION, node)
    assert note(node)["action"] == "cluster_unknown"
    assert "The cluster prod of" in note(node)["detail"] and "is not known to spotopt" in note(node)["detail"]
    assert not Instance.objects.filter(instance_metadata__tags__has_key="spotopt:replaces").exists()
    client.force_login(account.user)
    page = client.get(reverse("instance_detail", args=[node.pk])).content.decode()
    assert "is not known to spotopt" in page and "Interruption warning" in page and "Node drains" in page


def test_lab_accounts_events_never_act(ec2, account):
    account.environment_type = EnvironmentType.LAB
    account.save()
    instance = launch(ec2, account)
    deliver(INTERRUPTION, instance)
    assert "interruption" not in Instance.objects.get(pk=instance.pk).instance_metadata
    assert Instance.objects.filter(account=account).count() == 1


def test_a_replica_whose_primary_still_runs_after_6_hours_is_retired_and_counted(ec2, account, clock):
    instance = launch(ec2, account)
    deliver(REBALANCE, instance)
    replica = Instance.objects.get(replica_of=instance)
    clock.advance(hours=5, minutes=59)
    assert false_alarm_replicas_retire() == 0
    clock.advance(minutes=2)
    assert false_alarm_replicas_retire() == 1
    replica.refresh_from_db()
    assert not replica.is_active
    state = ec2.describe_instances(InstanceIds=[replica.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    pool = SpotPoolRisk.objects.get(
        region=REGION, availability_zone=instance.availability_zone, instance_type=instance.instance_type
    )
    assert pool.pool_metadata["false_alarms"] == 1
    assert false_alarm_replicas_retire() == 0


def test_among_equally_fit_pools_the_closest_kind_comes_first():
    from risk.safety import _kinship

    ranked = sorted(
        ["g6f.large", "c5.large", "m6i.large", "m5.xlarge", "m5a.large"], key=lambda t: _kinship("m5.large", t)
    )
    assert ranked[:1] == ["m5.xlarge"] and set(ranked[1:3]) == {"m6i.large", "m5a.large"}
    assert _kinship("m5.large", "g6f.large") == _kinship("m5.large", "c5.large") == 2
