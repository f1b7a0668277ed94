"""fleet.launch against moto: an instance launched "like" another into a chosen pool, recorded at once;
an Auto Scaling group member swapped with capacity never dropping; only spotopt's own launches are
terminated automatically."""

import boto3
import pytest

from fleet.choices import Lifecycle
from fleet.launch import asg_member_replace, instance_is_running, instance_launch_like, instance_terminate
from fleet.models import Instance
from fleet.services import instance_record_from_aws
from spotopt.errors import Conflict, DomainError
from tests.aws_fixtures import MOTO_DEFAULT_ACCOUNT, aws_calls, moto  # noqa: F401

pytestmark = pytest.mark.usefixtures("moto")
REGION = "us-east-1"


@pytest.fixture
def account(make_user, make_account):
    return make_account(
        make_user(),
        account_id=MOTO_DEFAULT_ACCOUNT,
        role_arn=f"arn:aws:iam::{MOTO_DEFAULT_ACCOUNT}:role/SpotOptimizerRole",
    )


@pytest.fixture
def ec2():
    return boto3.client("ec2", region_name=REGION)


def _subnet(ec2, zone):
    return next(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"] if s["AvailabilityZone"] == zone)


def _source(ec2, account, **run):
    group = ec2.create_security_group(GroupName=f"web-{len(run)}", Description="web")["GroupId"]
    raw = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        SubnetId=_subnet(ec2, "us-east-1a"),
        SecurityGroupIds=[group],
        KeyName="ops",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web-1"}]}],
        **run,
    )["Instances"][0]
    return instance_record_from_aws(account=account, region=REGION, instance_id=raw["InstanceId"]), group


def test_launch_like_copies_the_configuration_into_the_target_pool_and_records_it(ec2, account):
    ec2.create_key_pair(KeyName="ops")
    source, group = _source(ec2, account)
    launched = instance_launch_like(
        instance=source, availability_zone="us-east-1c", instance_type="m5a.large", purpose="replica"
    )
    new = launched.instance
    assert new.account == account and new.region == REGION
    assert (new.availability_zone, new.instance_type, new.lifecycle) == ("us-east-1c", "m5a.large", Lifecycle.SPOT)
    raw = ec2.describe_instances(InstanceIds=[new.instance_id])["Reservations"][0]["Instances"][0]
    assert raw["ImageId"] == "ami-12345678" and raw["KeyName"] == "ops"
    assert raw["SubnetId"] == _subnet(ec2, "us-east-1c")
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [group]
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert (
        tags["ManagedBy"] == "SpotOptimizer" and tags["Name"] == "web-1" and tags["spotopt:like"] == source.instance_id
    )
    assert new.auth_status == "AUTHORIZED"  # rogue enforcement leaves it alone
    assert instance_is_running(instance=new)
    assert launched.requested_at is not None


def test_on_demand_launch_and_a_zone_without_subnet(ec2, account):
    ec2.create_key_pair(KeyName="ops")
    source, _ = _source(ec2, account)
    new = instance_launch_like(
        instance=source,
        availability_zone="us-east-1a",
        instance_type="m5.large",
        lifecycle=Lifecycle.ON_DEMAND,
        purpose="emergency-replacement",
    ).instance
    assert new.lifecycle == Lifecycle.ON_DEMAND and new.availability_zone == "us-east-1a"
    with pytest.raises(DomainError) as refused:
        instance_launch_like(instance=source, availability_zone="us-east-1z", instance_type="m5.large", purpose="x")
    assert refused.value.code == "no_subnet"


def test_only_spotopts_own_instances_are_terminated(ec2, account):
    ec2.create_key_pair(KeyName="ops")
    source, _ = _source(ec2, account)
    with pytest.raises(Conflict):
        instance_terminate(instance=source, reason="test")
    replica = instance_launch_like(
        instance=source, availability_zone="us-east-1b", instance_type="m5.large", purpose="replica"
    ).instance
    instance_terminate(instance=replica, reason="false alarm")
    state = ec2.describe_instances(InstanceIds=[replica.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    assert not Instance.objects.get(pk=replica.pk).is_active


def test_an_asg_member_is_swapped_attach_first_and_capacity_never_drops(ec2, account, aws_calls):  # noqa: F811
    asg = boto3.client("autoscaling", region_name=REGION)
    asg.create_launch_configuration(LaunchConfigurationName="web", ImageId="ami-12345678", InstanceType="m5.large")
    asg.create_auto_scaling_group(
        AutoScalingGroupName="web-asg",
        LaunchConfigurationName="web",
        MinSize=2,
        MaxSize=2,
        DesiredCapacity=2,
        VPCZoneIdentifier=_subnet(ec2, "us-east-1a"),
    )
    members = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]["Instances"]
    doomed = instance_record_from_aws(account=account, region=REGION, instance_id=members[0]["InstanceId"])
    assert doomed.cluster_membership["asg_name"] == "web-asg"
    replacement = instance_launch_like(
        instance=doomed, availability_zone="us-east-1b", instance_type="m5.large", purpose="asg-replacement"
    ).instance
    aws_calls.calls.clear()
    asg_member_replace(doomed=doomed, replacement=replacement)
    changes = [name for name, _ in aws_calls.calls if name != "DescribeAutoScalingGroups"]
    assert changes == [
        "UpdateAutoScalingGroup",
        "AttachInstances",
        "TerminateInstanceInAutoScalingGroup",
        "UpdateAutoScalingGroup",
    ]
    assert aws_calls.named("TerminateInstanceInAutoScalingGroup")[0]["ShouldDecrementDesiredCapacity"] is True
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])["AutoScalingGroups"][0]
    ids = {member["InstanceId"] for member in group["Instances"]}
    assert replacement.instance_id in ids and doomed.instance_id not in ids
    assert group["DesiredCapacity"] == 2 and group["MaxSize"] == 2  # MaxSize raised for the swap, then put back
    assert Instance.objects.get(pk=replacement.pk).cluster_membership["asg_name"] == "web-asg"
