"""Finding waste: read one region of a customer's account, then apply the rules. Reads only.

`region_inventory` makes one paged describe per resource kind (addresses, volumes, snapshots, images,
instances, launch templates, launch configurations), plus what cannot be listed in bulk: each launch
template's versions (every version, default or not) and the launch permissions of the AMIs that are
otherwise unused. `evaluate` is pure: the same inventory and clock give the same findings, and the
executor re-checks a resource with exactly these rules just before deleting it.

The rules, with the mistakes Cloud Custodian's users paid for in mind:
- elastic_ip: no association and no network interface.
- ebs_volume: "available" for more than WASTE_VOLUME_IDLE_DAYS (by its creation time: AWS does not record
  when a volume was detached). A volume attached only to instances stopped for more than
  WASTE_STOPPED_INSTANCE_DAYS is reported, never deleted.
- ebs_snapshot: completed, older than WASTE_SNAPSHOT_MIN_AGE_DAYS, behind no AMI in any state (available,
  pending, disabled, deprecated: describe_images asks for them all), in no launch template version and no
  launch configuration, and not made by AWS Backup or Data Lifecycle Manager.
- ami: owned, older than WASTE_AMI_MIN_AGE_DAYS, launched by no instance (any state but terminated), in
  no launch template version and no launch configuration (Auto Scaling groups launch from one of those),
  not public and shared with nobody. Where a launch template takes its AMI from an SSM parameter, which AMI
  that is cannot be told from EC2: AMIs are then reported, never deleted.
- A resource tagged `spotopt:waste = keep` is exempt.
"""

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils.dateparse import parse_datetime

from spotopt import aws

from . import prices
from .choices import ResourceType

logger = logging.getLogger(__name__)

WASTE_TAG = "spotopt:waste"
KEEP = "keep"
DELETE_PREFIX = "delete@"
PAGE_SIZE = 1000
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
MANAGED_SNAPSHOT_TAG_PREFIXES = {"aws:backup:": "AWS Backup", "aws:dlm:": "Data Lifecycle Manager"}
MANAGED_SNAPSHOT_DESCRIPTIONS = {
    "This snapshot is created by the AWS Backup service": "AWS Backup",
    "Created for policy: policy-": "Data Lifecycle Manager",
}
_STOPPED_AT = re.compile(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (?:GMT|UTC)\)")


def flag_value(day) -> str:
    return f"{DELETE_PREFIX}{day:%Y-%m-%d}"


@dataclass
class RegionInventory:
    region: str
    addresses: list[dict] = field(default_factory=list)
    volumes: list[dict] = field(default_factory=list)
    snapshots: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)
    # Who uses an AMI or a snapshot, in words ("instance i-…", "launch template web (lt-…) version 3").
    image_users: dict[str, str] = field(default_factory=dict)
    snapshot_users: dict[str, list[str]] = field(default_factory=dict)
    ssm_image_templates: list[str] = field(default_factory=list)
    shared_images: dict[str, str] = field(default_factory=dict)
    aws_calls: int = 0
    aws_seconds: float = 0.0


@dataclass
class Finding:
    resource_type: str
    resource_id: str
    region: str
    monthly_cost: Decimal
    days_unused: int
    reason: str
    metadata: dict
    tag_value: str = ""  # the resource's spotopt:waste tag in AWS, "" when it has none
    deletable: bool = True
    instance_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.resource_type, self.resource_id)

    @property
    def kept_by_tag(self) -> bool:
        return self.tag_value == KEEP


@dataclass
class Evaluation:
    region: str
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    # Resources present in AWS that are not waste, and why ("attached to i-…", "younger than 30 days").
    not_waste: dict[tuple[str, str], str] = field(default_factory=dict)
    # The spotopt:waste tag of every present resource that has one (a flag the owner removed shows as absent).
    tags: dict[tuple[str, str], str] = field(default_factory=dict)

    def present(self, key) -> bool:
        return key in self.findings or key in self.not_waste


# --- reading AWS ------------------------------------------------------------------------------------------


class _Timed:
    def __init__(self, inventory: RegionInventory):
        self.inventory = inventory

    def pages(self, client, operation: str, key: str, **kwargs):
        paginator = client.get_paginator(operation)
        iterator = iter(paginator.paginate(**kwargs))
        while True:
            started = time.perf_counter()
            page = next(iterator, None)
            self.inventory.aws_seconds += time.perf_counter() - started
            if page is None:
                return
            self.inventory.aws_calls += 1
            yield from page.get(key, [])

    def call(self, method, **kwargs) -> dict:
        started = time.perf_counter()
        try:
            return method(**kwargs)
        finally:
            self.inventory.aws_seconds += time.perf_counter() - started
            self.inventory.aws_calls += 1


def _template_users(timed: _Timed, ec2, inventory: RegionInventory) -> None:
    templates = list(timed.pages(ec2, "describe_launch_templates", "LaunchTemplates", MaxResults=200))
    for template in templates:
        name = f"launch template {template.get('LaunchTemplateName')} ({template['LaunchTemplateId']})"
        versions = timed.pages(
            ec2,
            "describe_launch_template_versions",
            "LaunchTemplateVersions",
            LaunchTemplateId=template["LaunchTemplateId"],
            MaxResults=200,
        )
        for version in versions:
            where = f"{name} version {version.get('VersionNumber')}"
            data = version.get("LaunchTemplateData") or {}
            image = data.get("ImageId") or ""
            if image.startswith("resolve:ssm:"):
                inventory.ssm_image_templates.append(where)
            elif image:
                inventory.image_users.setdefault(image, where)
            for mapping in data.get("BlockDeviceMappings") or []:
                snapshot = (mapping.get("Ebs") or {}).get("SnapshotId")
                if snapshot:
                    inventory.snapshot_users.setdefault(snapshot, []).append(where)


def region_inventory(*, account, region: str, check_sharing: bool = True) -> RegionInventory:
    """Everything the rules need about one region, read with the account's own session."""
    inventory = RegionInventory(region=region)
    timed = _Timed(inventory)
    with aws.aws_errors(f"read the Elastic IPs, volumes, snapshots and AMIs in {region}"):
        ec2 = aws.client_for(account, "ec2", region)
        autoscaling = aws.client_for(account, "autoscaling", region)
        inventory.addresses = timed.call(ec2.describe_addresses).get("Addresses", [])
        inventory.volumes = list(timed.pages(ec2, "describe_volumes", "Volumes", MaxResults=PAGE_SIZE))
        inventory.snapshots = list(
            timed.pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"], MaxResults=PAGE_SIZE)
        )
        inventory.images = list(
            timed.pages(
                ec2,
                "describe_images",
                "Images",
                Owners=["self"],
                IncludeDeprecated=True,
                IncludeDisabled=True,
                MaxResults=PAGE_SIZE,
            )
        )
    with aws.aws_errors(f"read what uses AMIs and snapshots in {region}"):
        for reservation in timed.pages(
            ec2,
            "describe_instances",
            "Reservations",
            Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}],
            MaxResults=PAGE_SIZE,
        ):
            inventory.instances.extend(reservation.get("Instances", []))
        for instance in inventory.instances:
            state = (instance.get("State") or {}).get("Name", "")
            inventory.image_users.setdefault(instance.get("ImageId", ""), f"{state} instance {instance['InstanceId']}")
        _template_users(timed, ec2, inventory)
        for config in timed.pages(
            autoscaling, "describe_launch_configurations", "LaunchConfigurations", MaxRecords=100
        ):
            where = f"launch configuration {config['LaunchConfigurationName']}"
            inventory.image_users.setdefault(config.get("ImageId", ""), where)
            for mapping in config.get("BlockDeviceMappings") or []:
                snapshot = (mapping.get("Ebs") or {}).get("SnapshotId")
                if snapshot:
                    inventory.snapshot_users.setdefault(snapshot, []).append(where)
        for image in inventory.images:
            state = image.get("State", "available")
            where = f"{'deprecated ' if image.get('DeprecationTime') else ''}{state} AMI {image['ImageId']}"
            for mapping in image.get("BlockDeviceMappings") or []:
                snapshot = (mapping.get("Ebs") or {}).get("SnapshotId")
                if snapshot:
                    inventory.snapshot_users.setdefault(snapshot, []).append(where)
    if check_sharing:
        with aws.aws_errors(f"read the launch permissions of the AMIs in {region}"):
            # Only AMIs that would otherwise be waste: one DescribeImageAttribute each.
            for image in inventory.images:
                if image.get("Public"):
                    inventory.shared_images[image["ImageId"]] = "public"
                elif image["ImageId"] not in inventory.image_users:
                    answer = timed.call(
                        ec2.describe_image_attribute, ImageId=image["ImageId"], Attribute="launchPermission"
                    )
                    grantees = [
                        p.get("UserId") or p.get("Group") or p.get("OrganizationArn") or p.get("OrganizationalUnitArn")
                        for p in answer.get("LaunchPermissions", [])
                    ]
                    if grantees:
                        inventory.shared_images[image["ImageId"]] = ", ".join(str(g) for g in grantees)
    return inventory


# --- the rules --------------------------------------------------------------------------------------------


def _tags(resource: dict) -> dict[str, str]:
    return {tag["Key"]: tag.get("Value", "") for tag in resource.get("Tags") or []}


def _created(resource: dict, tags: dict, field_name: str, now: datetime) -> datetime | None:
    if settings.WASTE_AGE_TAG and tags.get(settings.WASTE_AGE_TAG, "").isdigit():
        return now - timedelta(days=int(tags[settings.WASTE_AGE_TAG]))
    value = resource.get(field_name)
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _days(since: datetime | None, now: datetime) -> int:
    return max(0, (now - since).days) if since else 0


def _stopped_since(instance: dict) -> datetime | None:
    if (instance.get("State") or {}).get("Name") != "stopped":
        return None
    match = _STOPPED_AT.search(instance.get("StateTransitionReason") or "")
    return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) if match else None


def _with_note(text: str, cost: prices.Cost) -> str:
    return f"{text} ({cost.note})" if cost.note else text


def _managed_by(snapshot: dict, tags: dict) -> str:
    for prefix, manager in MANAGED_SNAPSHOT_TAG_PREFIXES.items():
        if any(key.startswith(prefix) for key in tags):
            return manager
    description = snapshot.get("Description") or ""
    for start, manager in MANAGED_SNAPSHOT_DESCRIPTIONS.items():
        if description.startswith(start):
            return manager
    return ""


def evaluate(inventory: RegionInventory, *, now: datetime) -> Evaluation:
    region = inventory.region
    result = Evaluation(region=region)

    def waste(finding: Finding) -> None:
        result.findings[finding.key] = finding

    def fine(kind: str, resource_id: str, why: str) -> None:
        result.not_waste[(kind, resource_id)] = why

    def note_tag(kind: str, resource_id: str, tags: dict) -> str:
        value = tags.get(WASTE_TAG, "")
        if value:
            result.tags[(kind, resource_id)] = value
        return value

    for address in inventory.addresses:
        allocation = address.get("AllocationId") or address.get("PublicIp")
        tags = _tags(address)
        tag = note_tag(ResourceType.ELASTIC_IP, allocation, tags)
        if address.get("AssociationId") or address.get("NetworkInterfaceId") or address.get("InstanceId"):
            target = address.get("InstanceId") or address.get("NetworkInterfaceId") or address.get("AssociationId")
            fine(ResourceType.ELASTIC_IP, allocation, f"associated with {target}")
            continue
        cost = prices.elastic_ip_monthly(region)
        since = _created(address, tags, "AllocationTime", now)  # only the demo's age tag gives one
        waste(
            Finding(
                ResourceType.ELASTIC_IP,
                allocation,
                region,
                cost.monthly,
                _days(since, now),
                _with_note(f"not associated with any instance or network interface, {address.get('PublicIp')}", cost),
                {
                    "public_ip": address.get("PublicIp", ""),
                    "domain": address.get("Domain", ""),
                    "name": tags.get("Name", ""),
                },
                tag_value=tag,
            )
        )

    instances = {instance["InstanceId"]: instance for instance in inventory.instances}
    idle_volume_age = timedelta(days=settings.WASTE_VOLUME_IDLE_DAYS)
    stopped_age = timedelta(days=settings.WASTE_STOPPED_INSTANCE_DAYS)
    for volume in inventory.volumes:
        volume_id = volume["VolumeId"]
        tags = _tags(volume)
        tag = note_tag(ResourceType.EBS_VOLUME, volume_id, tags)
        size, kind = volume.get("Size", 0), volume.get("VolumeType", "gp2")
        cost = prices.volume_monthly(
            region=region, volume_type=kind, size_gb=size, iops=volume.get("Iops"), throughput=volume.get("Throughput")
        )
        metadata = {
            "size_gb": size,
            "volume_type": kind,
            "iops": volume.get("Iops"),
            "throughput": volume.get("Throughput"),
            "availability_zone": volume.get("AvailabilityZone", ""),
            "name": tags.get("Name", ""),
        }
        created = _created(volume, tags, "CreateTime", now)
        if volume.get("State") == "available":
            if created is None or now - created <= idle_volume_age:
                fine(ResourceType.EBS_VOLUME, volume_id, f"unattached for less than {idle_volume_age.days} days")
                continue
            waste(
                Finding(
                    ResourceType.EBS_VOLUME,
                    volume_id,
                    region,
                    cost.monthly,
                    _days(created, now),
                    _with_note(f"unattached since {created:%Y-%m-%d} at the latest, {size} GiB {kind}", cost),
                    metadata,
                    tag_value=tag,
                )
            )
            continue
        attached_to = [a.get("InstanceId") for a in volume.get("Attachments") or [] if a.get("InstanceId")]
        stopped = [_stopped_since(instances[i]) if i in instances else None for i in attached_to]
        if attached_to and all(since is not None and now - since > stopped_age for since in stopped):
            since = max(stopped)
            waste(
                Finding(
                    ResourceType.EBS_VOLUME,
                    volume_id,
                    region,
                    cost.monthly,
                    _days(since, now),
                    _with_note(
                        f"attached to {', '.join(attached_to)}, stopped since {since:%Y-%m-%d}; {size} GiB {kind} "
                        "billed while the instance is stopped (report only: delete it with its instance)",
                        cost,
                    ),
                    {**metadata, "stopped_since": since.isoformat()},
                    tag_value=tag,
                    deletable=False,
                    instance_id=attached_to[0],
                )
            )
        else:
            fine(ResourceType.EBS_VOLUME, volume_id, f"attached to {', '.join(attached_to) or 'an instance'}")

    snapshot_age = timedelta(days=settings.WASTE_SNAPSHOT_MIN_AGE_DAYS)
    for snapshot in inventory.snapshots:
        snapshot_id = snapshot["SnapshotId"]
        tags = _tags(snapshot)
        tag = note_tag(ResourceType.EBS_SNAPSHOT, snapshot_id, tags)
        created = _created(snapshot, tags, "StartTime", now)
        manager = _managed_by(snapshot, tags)
        if snapshot_id in inventory.snapshot_users:
            fine(ResourceType.EBS_SNAPSHOT, snapshot_id, f"used by {inventory.snapshot_users[snapshot_id][0]}")
        elif manager:
            fine(ResourceType.EBS_SNAPSHOT, snapshot_id, f"managed by {manager}")
        elif snapshot.get("State") != "completed":
            fine(ResourceType.EBS_SNAPSHOT, snapshot_id, f"{snapshot.get('State')}, not completed")
        elif created is None or now - created <= snapshot_age:
            fine(ResourceType.EBS_SNAPSHOT, snapshot_id, f"younger than {snapshot_age.days} days")
        else:
            size = snapshot.get("VolumeSize", 0)
            cost = prices.snapshot_monthly(region=region, volume_size_gb=size)
            waste(
                Finding(
                    ResourceType.EBS_SNAPSHOT,
                    snapshot_id,
                    region,
                    cost.monthly,
                    _days(created, now),
                    _with_note(
                        f"taken {created:%Y-%m-%d} of {snapshot.get('VolumeId') or 'a volume'} ({size} GiB), behind no "
                        "AMI, launch template or launch configuration",
                        cost,
                    ),
                    {
                        "volume_size_gb": size,
                        "volume_id": snapshot.get("VolumeId", ""),
                        "description": (snapshot.get("Description") or "")[:200],
                        "storage_tier": snapshot.get("StorageTier", ""),
                        "cost_is_upper_bound": True,
                        "name": tags.get("Name", ""),
                    },
                    tag_value=tag,
                )
            )

    image_age = timedelta(days=settings.WASTE_AMI_MIN_AGE_DAYS)
    snapshot_sizes = {s["SnapshotId"]: s.get("VolumeSize", 0) for s in inventory.snapshots}
    for image in inventory.images:
        image_id = image["ImageId"]
        tags = _tags(image)
        tag = note_tag(ResourceType.AMI, image_id, tags)
        created = _created(image, tags, "CreationDate", now)
        if image_id in inventory.image_users:
            fine(ResourceType.AMI, image_id, f"used by {inventory.image_users[image_id]}")
        elif image_id in inventory.shared_images:
            fine(ResourceType.AMI, image_id, f"shared with {inventory.shared_images[image_id]}")
        elif created is None or now - created <= image_age:
            fine(ResourceType.AMI, image_id, f"younger than {image_age.days} days")
        else:
            disks = [m["Ebs"] for m in image.get("BlockDeviceMappings") or [] if (m.get("Ebs") or {}).get("SnapshotId")]
            own = [disk["SnapshotId"] for disk in disks]
            # Its snapshots go with it, but for one that something else also uses (another AMI, a template).
            shared = [s for s in own if any(image_id not in user for user in inventory.snapshot_users.get(s, []))]
            size = sum(snapshot_sizes.get(disk["SnapshotId"], disk.get("VolumeSize", 0)) for disk in disks)
            cost = prices.snapshot_monthly(region=region, volume_size_gb=size)
            state = image.get("State", "available")
            deprecated = " deprecated" if image.get("DeprecationTime") else ""
            unknowable = inventory.ssm_image_templates
            reason = (
                f"{state}{deprecated} AMI {image.get('Name') or ''} created {created:%Y-%m-%d}, launched by no "
                f"instance, launch template or launch configuration, not shared; {len(own)} snapshot(s), {size} GiB"
            )
            if unknowable:
                reason += (
                    f" (report only: {unknowable[0]} takes its AMI from an SSM parameter, which may name this one)"
                )
            waste(
                Finding(
                    ResourceType.AMI,
                    image_id,
                    region,
                    cost.monthly,
                    _days(created, now),
                    _with_note(reason, cost),
                    {
                        "name": tags.get("Name", ""),
                        "image_name": image.get("Name", ""),
                        "state": state,
                        "deprecated": bool(image.get("DeprecationTime")),
                        "snapshot_ids": [s for s in own if s not in shared],
                        "kept_snapshot_ids": shared,
                        "size_gb": size,
                        "cost_is_upper_bound": True,
                    },
                    tag_value=tag,
                    deletable=not unknowable,
                )
            )
    return result


def scan_region(*, account, region: str, now: datetime) -> tuple[Evaluation, RegionInventory]:
    inventory = region_inventory(account=account, region=region)
    return evaluate(inventory, now=now), inventory
