"""Launching an instance "like" another one into a chosen pool, and swapping Auto Scaling group members.

The one place the product starts EC2 capacity: the replica safety net (risk.safety) uses it now, the
optimizer later. The new instance copies what the source runs with (its launch template when it has one,
otherwise AMI, security groups, key pair, instance profile, tags) into a subnet of the same VPC in the
target zone, is tagged ManagedBy=SpotOptimizer (so rogue enforcement leaves it alone) and recorded in the
inventory at once.
"""

import logging
from dataclasses import dataclass

from django.utils import timezone

from spotopt import aws
from spotopt.errors import Conflict, DomainError

from .choices import AuthStatus, Lifecycle
from .inventory import tag_dict
from .models import Instance

logger = logging.getLogger(__name__)

MANAGED_BY = ("ManagedBy", "SpotOptimizer")
LAUNCH_TEMPLATE_TAG_ID = "aws:ec2launchtemplate:id"
LAUNCH_TEMPLATE_TAG_VERSION = "aws:ec2launchtemplate:version"
# AWS sets these itself (and refuses them in TagSpecifications).
RESERVED_TAG_PREFIX = "aws:"


@dataclass(frozen=True)
class Launched:
    instance: Instance  # the new row in the inventory
    requested_at: object  # when RunInstances was called (the reaction benchmark measures to it)


def _describe(ec2, instance_id: str) -> dict:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    raw = next((raw for reservation in reservations for raw in reservation["Instances"]), None)
    if raw is None:
        raise Conflict(f"Instance {instance_id} no longer exists in AWS.")
    return raw


def _subnet_in(ec2, source: dict, availability_zone: str) -> str:
    if source.get("Placement", {}).get("AvailabilityZone") == availability_zone and source.get("SubnetId"):
        return source["SubnetId"]
    filters = [{"Name": "availability-zone", "Values": [availability_zone]}]
    if source.get("VpcId"):
        filters.append({"Name": "vpc-id", "Values": [source["VpcId"]]})
    subnets = sorted(
        ec2.describe_subnets(Filters=filters)["Subnets"],
        key=lambda subnet: -int(subnet.get("AvailableIpAddressCount", 0)),
    )
    if not subnets:
        raise DomainError(
            f"The VPC {source.get('VpcId') or '(default)'} has no subnet in {availability_zone}.", code="no_subnet"
        )
    return subnets[0]["SubnetId"]


def _run_request(source: dict, *, availability_zone: str, instance_type: str, lifecycle: str, tags: dict) -> dict:
    subnet_tags = [{"Key": key, "Value": value} for key, value in tags.items()]
    request = {
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": instance_type,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": subnet_tags}],
    }
    source_tags = tag_dict(source)
    if source_tags.get(LAUNCH_TEMPLATE_TAG_ID):
        request["LaunchTemplate"] = {
            "LaunchTemplateId": source_tags[LAUNCH_TEMPLATE_TAG_ID],
            "Version": source_tags.get(LAUNCH_TEMPLATE_TAG_VERSION, "$Default"),
        }
    else:
        request["ImageId"] = source["ImageId"]
        if source.get("KeyName"):
            request["KeyName"] = source["KeyName"]
        if source.get("IamInstanceProfile", {}).get("Arn"):
            request["IamInstanceProfile"] = {"Arn": source["IamInstanceProfile"]["Arn"]}
    groups = [group["GroupId"] for group in source.get("SecurityGroups") or [] if group.get("GroupId")]
    if groups:
        request["SecurityGroupIds"] = groups
    if lifecycle == Lifecycle.SPOT:
        request["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    request["Placement"] = {"AvailabilityZone": availability_zone}
    return request


def instance_launch_like(
    *,
    instance: Instance,
    availability_zone: str,
    instance_type: str,
    lifecycle: str = Lifecycle.SPOT,
    purpose: str,
    extra_tags: dict | None = None,
) -> Launched:
    """Launch one instance configured like `instance` into (its region, `availability_zone`,
    `instance_type`); returns the new inventory row. `purpose` is kept in a tag (spotopt:purpose)."""
    from .services import record_described_instances

    account = instance.account
    region = instance.region
    with aws.aws_errors(f"launching an instance like {instance.instance_id} in {availability_zone}"):
        ec2 = aws.client_for(account, "ec2", region)
        source = _describe(ec2, instance.instance_id)
        tags = {key: value for key, value in tag_dict(source).items() if not key.startswith(RESERVED_TAG_PREFIX)}
        tags |= {
            MANAGED_BY[0]: MANAGED_BY[1],
            "spotopt:purpose": purpose,
            "spotopt:like": instance.instance_id,
            **(extra_tags or {}),
        }
        request = _run_request(
            source, availability_zone=availability_zone, instance_type=instance_type, lifecycle=lifecycle, tags=tags
        )
        request["SubnetId"] = _subnet_in(ec2, source, availability_zone)
        requested_at = timezone.now()
        launched = ec2.run_instances(**request)["Instances"][0]
    logger.info(
        "launched %s (%s, %s, %s) like %s for %s",
        launched["InstanceId"],
        instance_type,
        availability_zone,
        lifecycle,
        instance.instance_id,
        purpose,
    )
    record_described_instances(account=account, region=region, raws=[launched])
    # Tagged ManagedBy=SpotOptimizer: authorized from the start (rogue enforcement would say the same).
    Instance.objects.filter(account=account, instance_id=launched["InstanceId"]).update(
        auth_status=AuthStatus.AUTHORIZED
    )
    return Launched(Instance.objects.get(account=account, instance_id=launched["InstanceId"]), requested_at)


def instance_is_running(*, instance: Instance) -> bool:
    with aws.aws_errors(f"checking instance {instance.instance_id}"):
        raw = _describe(aws.client_for(instance.account, "ec2", instance.region), instance.instance_id)
    return raw.get("State", {}).get("Name") == "running"


def instance_terminate(*, instance: Instance, reason: str) -> None:
    """Terminate one instance spotopt launched (a replica that was not needed) and mark it inactive."""
    if (instance.tags or {}).get(MANAGED_BY[0]) != MANAGED_BY[1]:
        raise Conflict(f"{instance.instance_id} was not launched by spotopt; it is not terminated automatically.")
    with aws.aws_errors(f"terminating {instance.instance_id}"):
        aws.client_for(instance.account, "ec2", instance.region).terminate_instances(InstanceIds=[instance.instance_id])
    Instance.objects.filter(pk=instance.pk).update(is_active=False, updated_at=timezone.now())
    logger.info("terminated %s: %s", instance.instance_id, reason)


def asg_member_replace(*, doomed: Instance, replacement: Instance, before_removal=None) -> None:
    """Put `replacement` into the doomed member's Auto Scaling group, then take the doomed one out:
    attached first, removed second, so the group's capacity never drops (its MaxSize is raised by one
    for the moment when the group is full, and put back). The doomed member is removed with
    TerminateInstanceInAutoScalingGroup (desired capacity decremented), as the group's own Capacity
    Rebalancing does: its lifecycle hooks and load-balancer draining run, and it is not left running
    outside the group (where it would cost money until AWS reclaims it, if ever, for a rebalance).
    `before_removal()` runs between the two (a Kubernetes node's drain)."""
    group_name = (doomed.cluster_membership or {}).get("asg_name")
    if not group_name:
        raise DomainError(f"{doomed.instance_id} is not in an Auto Scaling group.", code="not_in_asg")
    with aws.aws_errors(f"swapping {doomed.instance_id} for {replacement.instance_id} in {group_name}"):
        asg = aws.client_for(doomed.account, "autoscaling", doomed.region)
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"][0]
        full = group["DesiredCapacity"] >= group["MaxSize"]
        if full:
            asg.update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=group["MaxSize"] + 1)
        asg.attach_instances(AutoScalingGroupName=group_name, InstanceIds=[replacement.instance_id])
        if before_removal is not None:
            before_removal()  # a Kubernetes node is drained here: its replacement is already in the group
        asg.terminate_instance_in_auto_scaling_group(InstanceId=doomed.instance_id, ShouldDecrementDesiredCapacity=True)
        if full:
            asg.update_auto_scaling_group(AutoScalingGroupName=group_name, MaxSize=group["MaxSize"])
    membership = dict(replacement.cluster_membership or {}) | {"asg_name": group_name}
    now = timezone.now()
    Instance.objects.filter(pk=replacement.pk).update(cluster_membership=membership, updated_at=now)
    Instance.objects.filter(pk=doomed.pk).update(is_active=False, updated_at=now)  # being terminated
    logger.info("%s replaced %s in %s", replacement.instance_id, doomed.instance_id, group_name)
