"""The demo customers' side of AWS: two Acme accounts full of believable EC2 resources, built in the AWS
emulator (moto) the way the customer's own administrators would build them. Nothing here writes spotopt's
database: demo/seed.py connects these accounts through the product's onboarding and discovery.

Running it again is safe: every resource it creates carries the tag `spotopt:demo=true` and a
`spotopt:demo-item` key, and each item is created only when no resource with its key exists. The one
exception is the "rogue" instance, which must carry no tag at all; it is recognised as "the running
instance without tags". moto keeps its state in memory, so after a moto restart the estate is simply
built again. The idle resources (Elastic IPs, volumes, snapshots, AMIs) are there for the waste scanner
to find; they declare the age they stand for in a tag, because moto cannot backdate creation times.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from accounts.choices import EnvironmentType
from accounts.models import Account
from fleet.inventory import K8S_CLUSTER_TAG_PREFIX, tag_dict
from spotopt import aws
from spotopt.errors import DomainError

DEMO_TAG = "spotopt:demo"
DEMO_ITEM_TAG = "spotopt:demo-item"
# moto cannot backdate creation times, so idle resources declare the age they stand for.
DEMO_AGE_TAG = "spotopt:demo-age-days"
ROLE_NAME = "SpotOptimizerCrossAccountRole"

# Tags that make an instance "ours" (anything else is a rogue instance for the security enforcer).
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


class DemoError(DomainError):
    code = "demo"


# --- What the estate looks like -----------------------------------------------------------------------


@dataclass(frozen=True)
class AsgSpec:
    name: str
    instance_type: str
    desired: int
    az_suffixes: tuple[str, ...]
    tags: dict  # propagated to the instances, like real ASG tags


@dataclass(frozen=True)
class FleetSpec:
    """One run_instances batch (moto is slow per call, so instances are launched in batches)."""

    key: str
    instance_type: str
    count: int
    az_suffix: str
    tags: dict
    spot: bool = False


@dataclass(frozen=True)
class IdleSpec:
    """An idle resource: Elastic IP, unattached volume, orphaned snapshot or unused AMI."""

    key: str
    age_days: int
    size_gb: int = 0
    volume_type: str = "gp3"
    az_suffix: str = "a"
    source_fleet: str = ""  # for AMIs: the fleet whose instance the image was taken from


@dataclass(frozen=True)
class RegionSpec:
    region: str
    asgs: tuple[AsgSpec, ...] = ()
    fleets: tuple[FleetSpec, ...] = ()
    rogue_instance_type: str = ""  # one untagged instance when set
    rogue_az_suffix: str = "a"
    elastic_ips: tuple[IdleSpec, ...] = ()
    volumes: tuple[IdleSpec, ...] = ()
    snapshots: tuple[IdleSpec, ...] = ()
    images: tuple[IdleSpec, ...] = ()


@dataclass(frozen=True)
class AccountSpec:
    name: str
    aws_account_id: str
    environment_type: str
    regions: tuple[RegionSpec, ...]

    @property
    def region_names(self) -> list[str]:
        return [r.region for r in self.regions]


def _eks_tags(cluster: str, nodegroup: str = "") -> dict:
    tags = {"eks:cluster-name": cluster, f"{K8S_CLUSTER_TAG_PREFIX}{cluster}": "owned"}
    if nodegroup:
        tags["eks:nodegroup-name"] = nodegroup
    return tags


def _managed(**tags) -> dict:
    return {"ManagedBy": "SpotOptimizer", **tags}


PROD_CLUSTER = "acme-prod-eks"
LAB_CLUSTER = "acme-lab-eks"

DEMO_ACCOUNTS = (
    AccountSpec(
        name="Acme Production",
        aws_account_id="111122223333",
        environment_type=EnvironmentType.PROD,
        regions=(
            RegionSpec(
                region="us-east-1",
                asgs=(
                    AsgSpec("web-asg", "m5.large", 3, ("a", "b"), {"App": "web", "Environment": "production"}),
                    AsgSpec("worker-asg", "c5.xlarge", 2, ("b", "c"), {"App": "worker", "Environment": "production"}),
                    AsgSpec(
                        "eks-general-nodes-asg",
                        "r5.large",
                        2,
                        ("a", "b"),
                        {**_eks_tags(PROD_CLUSTER, "general"), "Environment": "production"},
                    ),
                ),
                fleets=(
                    # A Karpenter node: cluster tags and a nodepool, no node group, Spot.
                    FleetSpec(
                        "karpenter-spot",
                        "m5.xlarge",
                        1,
                        "c",
                        {**_eks_tags(PROD_CLUSTER), "karpenter.sh/nodepool": "default"},
                        spot=True,
                    ),
                    FleetSpec("api-standalone", "t3.medium", 2, "a", _managed(App="api", Environment="production")),
                    FleetSpec(
                        "batch-spot", "c5.xlarge", 2, "a", _managed(App="batch", Environment="production"), spot=True
                    ),
                ),
                rogue_instance_type="t3.large",
                rogue_az_suffix="d",
                elastic_ips=(IdleSpec("eip-old-bastion", age_days=120), IdleSpec("eip-old-nat", age_days=45)),
                volumes=(
                    IdleSpec("vol-old-db-data", age_days=60, size_gb=200, volume_type="gp2", az_suffix="a"),
                    IdleSpec("vol-detached-logs", age_days=33, size_gb=500, volume_type="gp3", az_suffix="b"),
                ),
                snapshots=(IdleSpec("snap-2025-db-backup", age_days=400, size_gb=250),),
                images=(IdleSpec("ami-legacy-api", age_days=240, source_fleet="api-standalone"),),
            ),
            RegionSpec(
                region="us-west-2",
                asgs=(AsgSpec("web-asg", "m5.large", 2, ("a", "b"), {"App": "web", "Environment": "production"}),),
                fleets=(
                    FleetSpec(
                        "reporting-standalone", "r5.large", 1, "a", _managed(App="reporting", Environment="production")
                    ),
                    FleetSpec("etl-spot", "c5.large", 2, "b", _managed(App="etl", Environment="production"), spot=True),
                ),
                volumes=(IdleSpec("vol-old-scratch", age_days=75, size_gb=100, volume_type="gp2", az_suffix="a"),),
                snapshots=(IdleSpec("snap-2026-etl-checkpoint", age_days=200, size_gb=80),),
            ),
        ),
    ),
    AccountSpec(
        name="Acme Lab",
        aws_account_id="444455556666",
        environment_type=EnvironmentType.LAB,
        regions=(
            RegionSpec(
                region="us-east-1",
                asgs=(
                    AsgSpec("lab-batch-asg", "t3.medium", 2, ("a", "c"), {"App": "batch", "Environment": "lab"}),
                    AsgSpec(
                        "eks-lab-nodes-asg",
                        "m5.large",
                        2,
                        ("b", "c"),
                        {**_eks_tags(LAB_CLUSTER, "lab-nodes"), "Environment": "lab"},
                    ),
                ),
                fleets=(
                    FleetSpec(
                        "lab-karpenter-spot",
                        "c5.large",
                        1,
                        "b",
                        {**_eks_tags(LAB_CLUSTER), "karpenter.sh/nodepool": "experiments"},
                        spot=True,
                    ),
                    FleetSpec(
                        "experiments-spot",
                        "m5.large",
                        2,
                        "c",
                        _managed(App="experiments", Environment="lab"),
                        spot=True,
                    ),
                    FleetSpec("notebook", "t3.medium", 1, "a", _managed(App="notebook", Environment="lab")),
                ),
                elastic_ips=(IdleSpec("eip-lab-demo", age_days=21),),
                volumes=(IdleSpec("vol-lab-dataset", age_days=14, size_gb=50, volume_type="gp3", az_suffix="c"),),
                images=(IdleSpec("ami-lab-experiment-base", age_days=95, source_fleet="notebook"),),
            ),
        ),
    ),
)


# --- AWS access ---------------------------------------------------------------------------------------


# Stands in for the customer's own administrator, who deploys our CloudFormation stack in their account.
CUSTOMER_ADMIN_ROLE = "OrganizationAccountAccessRole"


class AccountClients:
    """boto3 clients of one account, made once per seed run (building a client costs ~0.1 s).

    With `as_customer_admin`, the clients act as the customer's administrator (before the account is
    verified the platform has no role to assume); otherwise through the platform's normal path."""

    def __init__(self, account: Account, *, as_customer_admin: str | None = None):
        self.account = account
        self.as_customer_admin = as_customer_admin
        self._made = {}
        self._admin_credentials = None

    def __call__(self, service: str, region: str | None = None):
        key = (service, region or self.account.region)
        if key not in self._made:
            self._made[key] = self._make(service, key[1])
        return self._made[key]

    def _make(self, service: str, region: str):
        if not self.as_customer_admin:
            return aws.client_for(self.account, service, region)
        if self._admin_credentials is None:
            # moto lets any principal assume a role in any account (no IAM auth checks in the demo).
            self._admin_credentials = aws.platform_client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{self.as_customer_admin}:role/{CUSTOMER_ADMIN_ROLE}",
                RoleSessionName="demo-customer-admin",
            )["Credentials"]
        creds = self._admin_credentials
        return aws.client_with_credentials(
            service,
            region,
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
        )


def wrap_aws(fn, **kwargs):
    """Turn an unreachable or failing emulator into an error a person can act on."""
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise DemoError(
            f"The AWS endpoint {settings.AWS_ENDPOINT_URL} failed during {fn.__name__}: {exc}. "
            "Is moto_server running there?"
        ) from exc


def demo_customer_role_deploy(*, account: Account, clients: AccountClients | None = None) -> None:
    """What the customer's CloudFormation stack would create: the cross-account role, trusting the
    platform and requiring the account's External ID."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                # moto matches a trust policy's principal exactly: the identity the platform really has.
                "Principal": {"AWS": aws.platform_principal_arn()},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": account.external_id}},
            }
        ],
    }
    permissions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ec2:*", "autoscaling:*", "eks:Describe*", "eks:List*", "pricing:GetProducts"],
                "Resource": "*",
            },
            {
                # In AWS the stack itself creates the interruption-event queue and rules and the role only
                # reads the queue; the demo has no stack, so the platform creates them with this role, as
                # `manage.py setup_event_queue` does for an access-keys account.
                "Effect": "Allow",
                "Action": [
                    "sqs:GetQueueUrl",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:CreateQueue",
                    "sqs:SetQueueAttributes",
                    "events:PutRule",
                    "events:PutTargets",
                ],
                "Resource": "*",
            },
        ],
    }
    # moto lets the platform assume a role that does not exist yet, which is how we get to act inside the
    # customer's account to create it (with IAM auth checks on, this would need the account's root).
    iam = (clients or AccountClients(account))("iam")
    try:
        iam.get_role(RoleName=ROLE_NAME)
        # The External ID may be new (fresh database, same moto): keep the trust policy current.
        iam.update_assume_role_policy(RoleName=ROLE_NAME, PolicyDocument=json.dumps(trust))
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(
            RoleName=ROLE_NAME,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="Lets Spot Optimizer discover and optimise EC2 capacity (demo).",
            Tags=[{"Key": DEMO_TAG, "Value": "true"}],
        )
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="SpotOptimizerAccess", PolicyDocument=json.dumps(permissions))


def demo_account_verify(*, account: Account, clients: AccountClients | None = None) -> None:
    """Assume the role and check we landed in the right AWS account (catches stale moto credentials)."""
    identity = (clients or AccountClients(account))("sts").get_caller_identity()
    if identity["Account"] != account.account_id:
        raise DemoError(
            f"Assuming the role of '{account.account_name}' acted in AWS account {identity['Account']}, "
            f"not {account.account_id}. If the moto server was restarted, run the command again in a new process."
        )


def demo_platform_role_ensure() -> str:
    """The IAM role the platform runs as in the demo (PLATFORM_AWS_PRINCIPAL_ARN of demo/demo.env), in the
    platform's own AWS account: customers' roles trust it, as they would trust a real deployment's role."""
    principal = settings.PLATFORM_AWS_PRINCIPAL_ARN
    name = principal.rsplit("/", 1)[-1]
    iam = aws.platform_client("iam")
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Description="The spotopt platform's own role (demo): customers' roles trust it.",
            Tags=[{"Key": DEMO_TAG, "Value": "true"}],
        )
    return principal


# --- AWS estate ---------------------------------------------------------------------------------------


def _tags(spec_tags: dict) -> list[dict]:
    return [{"Key": k, "Value": str(v)} for k, v in spec_tags.items()]


def _demo_filter() -> list[dict]:
    return [{"Name": f"tag:{DEMO_TAG}", "Values": ["true"]}]


def _items(resources: Iterable[dict]) -> set[str]:
    return {tag_dict(r).get(DEMO_ITEM_TAG, "") for r in resources} - {""}


def _live_instances(ec2) -> list[dict]:
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}]
    ):
        for reservation in page["Reservations"]:
            found.extend(reservation["Instances"])
    return found


def demo_aws_estate_ensure(*, account: Account, spec: RegionSpec, clients: AccountClients | None = None) -> list[str]:
    """Create in one region whatever part of the demo estate is missing; returns what was created."""
    region = spec.region
    clients = clients or AccountClients(account)
    ec2 = clients("ec2", region)
    autoscaling = clients("autoscaling", region)
    created: list[str] = []

    instances = _live_instances(ec2)
    have_fleets = _items(instances)
    have_rogue = any(not i.get("Tags") for i in instances)
    images = ec2.describe_images(Owners=["self"], Filters=_demo_filter())["Images"]
    have_images = _items(images)
    subnets = {
        s["AvailabilityZone"]: s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    }

    # The golden image every demo instance runs (the default public AMIs are off in the demo).
    base_key = "base-image"
    if base_key in have_images:
        base_image_id = next(i["ImageId"] for i in images if tag_dict(i).get(DEMO_ITEM_TAG) == base_key)
    else:
        base_image_id = ec2.register_image(
            Name="acme-base-al2023",
            Description="Acme golden image (Amazon Linux 2023)",
            Architecture="x86_64",
            RootDeviceName="/dev/xvda",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
        )["ImageId"]
        # Tagged afterwards: moto's RegisterImage ignores TagSpecifications.
        ec2.create_tags(Resources=[base_image_id], Tags=_tags({DEMO_TAG: "true", DEMO_ITEM_TAG: base_key}))
        created.append("base AMI")

    # Auto Scaling groups (a launch template each); their instances come from moto's ASG.
    names = [a.name for a in spec.asgs]
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)["AutoScalingGroups"] if names else []
    existing_asgs = {g["AutoScalingGroupName"] for g in groups}
    for asg in spec.asgs:
        if asg.name in existing_asgs:
            continue
        template_name = f"{asg.name}-lt"
        try:
            ec2.create_launch_template(
                LaunchTemplateName=template_name,
                LaunchTemplateData={"ImageId": base_image_id, "InstanceType": asg.instance_type},
                TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tags({DEMO_TAG: "true"})}],
            )
        except ClientError as exc:
            # Left over from a run that stopped between the two calls: reuse it.
            if "AlreadyExists" not in exc.response["Error"]["Code"]:
                raise
        asg_tags = {**asg.tags, DEMO_TAG: "true", "Name": asg.name}
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=asg.name,
            LaunchTemplate={"LaunchTemplateName": template_name, "Version": "$Latest"},
            MinSize=1,
            MaxSize=asg.desired * 2,
            DesiredCapacity=asg.desired,
            VPCZoneIdentifier=",".join(subnets[f"{region}{s}"] for s in asg.az_suffixes),
            Tags=[
                {
                    "Key": k,
                    "Value": v,
                    "PropagateAtLaunch": True,
                    "ResourceId": asg.name,
                    "ResourceType": "auto-scaling-group",
                }
                for k, v in asg_tags.items()
            ],
        )
        created.append(f"ASG {asg.name} ({asg.desired})")

    for fleet in spec.fleets:
        if fleet.key in have_fleets:
            continue
        tags = {**fleet.tags, DEMO_TAG: "true", DEMO_ITEM_TAG: fleet.key, "Name": fleet.key}
        extra = {"InstanceMarketOptions": {"MarketType": "spot"}} if fleet.spot else {}
        ec2.run_instances(
            ImageId=base_image_id,
            InstanceType=fleet.instance_type,
            MinCount=fleet.count,
            MaxCount=fleet.count,
            Placement={"AvailabilityZone": f"{region}{fleet.az_suffix}"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(tags)}],
            **extra,
        )
        created.append(f"{fleet.count} x {fleet.key}")

    if spec.rogue_instance_type and not have_rogue:
        # Deliberately no tags at all: someone launched it by hand, outside any process.
        ec2.run_instances(
            ImageId=base_image_id,
            InstanceType=spec.rogue_instance_type,
            MinCount=1,
            MaxCount=1,
            Placement={"AvailabilityZone": f"{region}{spec.rogue_az_suffix}"},
        )
        created.append("1 rogue (untagged)")

    created += _idle_resources_ensure(ec2=ec2, spec=spec, have_images=have_images)
    return created


def _idle_tags(item: IdleSpec, name: str) -> list[dict]:
    return _tags({DEMO_TAG: "true", DEMO_ITEM_TAG: item.key, DEMO_AGE_TAG: item.age_days, "Name": name})


def _idle_resources_ensure(*, ec2, spec: RegionSpec, have_images: set[str]) -> list[str]:
    region = spec.region
    created = []

    have = _items(ec2.describe_addresses(Filters=_demo_filter())["Addresses"])
    for item in spec.elastic_ips:
        if item.key not in have:
            ec2.allocate_address(
                Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": _idle_tags(item, item.key)}]
            )
            created.append(f"EIP {item.key}")

    have = _items(ec2.describe_volumes(Filters=_demo_filter())["Volumes"])
    for item in spec.volumes:
        if item.key not in have:
            ec2.create_volume(
                AvailabilityZone=f"{region}{item.az_suffix}",
                Size=item.size_gb,
                VolumeType=item.volume_type,
                TagSpecifications=[{"ResourceType": "volume", "Tags": _idle_tags(item, item.key)}],
            )
            created.append(f"volume {item.key}")

    have = _items(ec2.describe_snapshots(OwnerIds=["self"], Filters=_demo_filter())["Snapshots"])
    for item in spec.snapshots:
        if item.key not in have:
            # The volume it was taken from is long gone: the snapshot is an orphan.
            volume_id = ec2.create_volume(AvailabilityZone=f"{region}a", Size=item.size_gb, VolumeType="gp3")[
                "VolumeId"
            ]
            ec2.create_snapshot(
                VolumeId=volume_id,
                Description=f"Backup {item.key}",
                TagSpecifications=[{"ResourceType": "snapshot", "Tags": _idle_tags(item, item.key)}],
            )
            ec2.delete_volume(VolumeId=volume_id)
            created.append(f"snapshot {item.key}")

    missing_images = [item for item in spec.images if item.key not in have_images]
    if missing_images:
        by_fleet = {}
        for instance in _live_instances(ec2):
            by_fleet.setdefault(tag_dict(instance).get(DEMO_ITEM_TAG), instance["InstanceId"])
        for item in missing_images:
            # An image baked from a running box once and never launched since.
            ec2.create_image(
                InstanceId=by_fleet[item.source_fleet],
                Name=item.key.removeprefix("ami-"),
                Description=f"Baked from {item.source_fleet}",
                TagSpecifications=[{"ResourceType": "image", "Tags": _idle_tags(item, item.key)}],
            )
            created.append(f"AMI {item.key}")
    return created
