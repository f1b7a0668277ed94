"""The demo estate: two customer AWS accounts full of believable EC2 resources, in moto and in the database.

`manage.py seed_demo` runs `demo_preflight()`, `demo_users_ensure()` and `demo_estate_seed()` in that
order. They only ever talk to an AWS emulator reached through settings.AWS_ENDPOINT_URL and refuse to
run without one. Running them again is safe:

- AWS side: every resource it creates carries the tag `spotopt:demo=true` and a `spotopt:demo-item` key,
  and each item is created only when no resource with its key exists. The one exception is the "rogue"
  instance, which must carry no tag at all; it is recognised as "the running instance without tags".
  moto keeps its state in memory, so after a moto restart the estate is simply built again.
- Database side: rows are upserted by their natural keys (account id, instance id, the waste key, the
  risk event id), so a re-run creates no duplicates; instances that vanished from AWS become inactive,
  and waste detections nobody acted on whose resource vanished are dropped.

Account onboarding, fleet discovery and the waste scan are stand-ins here (small and demo-only). The real
ones live in their apps once written; `demo_account_onboard`, `demo_instances_sync` and
`demo_waste_sync` are the three calls to swap for them.
"""

import hashlib
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.choices import AccountStatus, EnvironmentType, Role
from accounts.models import Account, User
from accounts.services import PENDING_PREFIX, account_create_pending, account_verify_role
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import approval_request_create
from fleet.choices import AuthStatus, Lifecycle, OrchestratorType
from fleet.inventory import K8S_CLUSTER_TAG_PREFIX, tag_dict
from fleet.models import Instance
from fleet.services import account_discover
from risk.choices import RiskEventType
from risk.models import POISON_DURATION, GlobalRiskEvent, SpotPoolRisk, pool_key
from sla.choices import DowntimeCause
from sla.models import DowntimeLog
from spotopt import aws
from spotopt.errors import DomainError
from waste.choices import ResourceType, WasteStatus
from waste.models import WasteResource

DEMO_TAG = "spotopt:demo"
DEMO_ITEM_TAG = "spotopt:demo-item"
# moto cannot backdate creation times, so idle resources declare the age they stand for.
DEMO_AGE_TAG = "spotopt:demo-age-days"
ROLE_NAME = "SpotOptimizerCrossAccountRole"
USER_EMAIL_DOMAIN = "demo.spotopt.local"

# Tags that make an instance "ours" (anything else is a rogue instance for the security enforcer).
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]

# List prices (us-east-1) the demo waste is costed at.
EIP_IDLE_MONTHLY = Decimal("3.60")  # $0.005 an hour * 720 hours
VOLUME_GB_MONTH = {"gp2": Decimal("0.10"), "gp3": Decimal("0.08"), "standard": Decimal("0.05")}
SNAPSHOT_GB_MONTH = Decimal("0.05")
CENT = Decimal("0.01")


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

DEMO_USERS = (
    ("demo-superadmin", Role.SUPER_ADMIN, "Demo Super Admin"),
    ("demo-admin", Role.ADMIN, "Demo Admin"),
    ("demo-client", Role.CLIENT, "Demo Client (Acme)"),
    ("demo-user", Role.USER, "Demo Read-only User"),
    ("demo-lab", Role.LAB, "Demo Lab Operator"),
)
DEMO_CLIENT_USERNAME = "demo-client"
DEMO_ADMIN_USERNAME = "demo-admin"
DEMO_LAB_USERNAME = "demo-lab"


# --- Results ------------------------------------------------------------------------------------------


@dataclass
class DemoUserResult:
    username: str
    role: str
    created: bool
    password: str | None  # set only when created or reset: it is shown once


@dataclass
class AccountSummary:
    name: str
    aws_account_id: str
    environment_type: str
    status: str
    created_in_aws: dict[str, list[str]]  # region -> what was created this run
    instances: int = 0
    asgs: int = 0
    eks_nodes: int = 0
    spot: int = 0
    rogue: int = 0
    waste: int = 0
    waste_monthly_cost: Decimal = Decimal("0")


@dataclass
class DemoSeedResult:
    endpoint: str
    login_url: str
    accounts: list[AccountSummary] = field(default_factory=list)
    approvals_filed: int = 0
    approvals_pending: int = 0


Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


# --- Entry point --------------------------------------------------------------------------------------


# The command runs these in order: preflight (nothing written yet), users (their passwords are shown
# straight away, so a later failure cannot lose them), then the estate.


def demo_estate_seed(*, progress: Progress | None = None) -> DemoSeedResult:
    """Build (or complete) the demo estate in the AWS emulator and the database (users must exist)."""
    endpoint = demo_preflight()
    say = progress or _quiet
    result = DemoSeedResult(endpoint=endpoint, login_url=f"{settings.SITE_URL.rstrip('/')}/login/")
    owner = User.objects.filter(username=DEMO_CLIENT_USERNAME).first()
    if owner is None:
        raise DemoError(f"The demo client user '{DEMO_CLIENT_USERNAME}' does not exist: create the demo users first.")

    accounts = []
    for spec in DEMO_ACCOUNTS:
        say(f"Account {spec.name} ({spec.aws_account_id}) ...")
        account = demo_account_ensure(owner=owner, spec=spec)
        created = demo_account_onboard(account=account, spec=spec, progress=say)
        accounts.append(account)
        result.accounts.append(demo_account_summary(account=account, created_in_aws=created))

    say("Spot pool risk and downtime history ...")
    prod = next(a for a in accounts if a.environment_type == EnvironmentType.PROD)
    lab = next(a for a in accounts if a.environment_type == EnvironmentType.LAB)
    demo_risk_seed(account=prod, owner=owner)
    demo_downtime_seed(account=prod)
    say("Approval queue ...")
    result.approvals_filed = demo_approvals_seed(prod=prod, lab=lab)
    result.approvals_pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count()
    return result


def _pending_request_exists(action_type: str, key: str, value: str) -> bool:
    return ApprovalRequest.objects.filter(
        action_type=action_type, status=ApprovalStatus.PENDING, **{f"action_payload__{key}": value}
    ).exists()


def demo_approvals_seed(*, prod: Account, lab: Account) -> int:
    """Pending requests of each action type, through the approval service, so the queue is populated:
    the rogue instance's termination (filed by spotopt, HIGH), the costliest idle resource's deletion
    (spotopt, MEDIUM: the client can decide it), a Lab switch to Spot asked by the Lab user (LOW) and a
    production switch asked by the admin (CRITICAL: only a super_admin decides). No duplicates on re-runs."""
    filed = 0
    rogue = Instance.objects.filter(account=prod, is_active=True, auth_status=AuthStatus.FLAGGED).first()
    if rogue and not _pending_request_exists(ActionType.TERMINATE_ROGUE, "instance_id", rogue.instance_id):
        approval_request_create(
            action_type=ActionType.TERMINATE_ROGUE,
            payload={"instance_id": rogue.instance_id, "region": rogue.region, "reason": "No authorizing tag."},
            risk_level=RiskLevel.HIGH,
            instance=rogue,
        )
        filed += 1
    waste = WasteResource.objects.filter(account=prod, status=WasteStatus.DETECTED).order_by("-monthly_cost").first()
    if waste and not _pending_request_exists(ActionType.DELETE_WASTE, "resource_id", waste.resource_id):
        approval_request_create(
            action_type=ActionType.DELETE_WASTE,
            payload={
                "waste_resource_id": str(waste.pk),
                "resource_type": waste.resource_type,
                "resource_id": waste.resource_id,
                "region": waste.region,
                "monthly_cost": str(waste.monthly_cost),
            },
            risk_level=RiskLevel.MEDIUM,
            account=prod,
        )
        filed += 1
    switches = [
        (lab, DEMO_LAB_USERNAME, RiskLevel.LOW, "Lab experiment: move to Spot."),
        (prod, DEMO_ADMIN_USERNAME, RiskLevel.CRITICAL, "Production web tier: move to Spot."),
    ]
    for account, username, risk, reason in switches:
        candidate = (
            Instance.objects.filter(account=account, is_active=True, lifecycle=Lifecycle.ON_DEMAND)
            .exclude(auth_status=AuthStatus.FLAGGED)
            .order_by("instance_id")
            .first()
        )
        if candidate is None or _pending_request_exists(
            ActionType.SWITCH_INSTANCE, "instance_id", candidate.instance_id
        ):
            continue
        approval_request_create(
            action_type=ActionType.SWITCH_INSTANCE,
            payload={
                "instance_id": candidate.instance_id,
                "target_instance_type": candidate.instance_type,
                "target_availability_zone": candidate.availability_zone,
                "target_lifecycle": "spot",
                "reason": reason,
            },
            risk_level=risk,
            requester=User.objects.get(username=username),
            instance=candidate,
        )
        filed += 1
    return filed


def demo_preflight() -> str:
    """The demo only ever fills an emulator: refuse without AWS_ENDPOINT_URL or when it is real AWS, and
    check the emulator answers before anything is written."""
    endpoint = settings.AWS_ENDPOINT_URL
    if not endpoint:
        raise DemoError(
            "AWS_ENDPOINT_URL is not set. seed_demo only fills an AWS emulator, never real AWS: start "
            "moto (`.venv/bin/moto_server -H 127.0.0.1 -p 5005`) and set "
            "AWS_ENDPOINT_URL=http://127.0.0.1:5005, or use scripts/run_demo.sh, which does both."
        )
    host = urlparse(endpoint).hostname or ""
    if host.endswith(("amazonaws.com", "amazonaws.com.cn")):
        raise DemoError(f"AWS_ENDPOINT_URL points at real AWS ({endpoint}); seed_demo only fills an emulator.")
    try:
        aws.platform_principal_arn()
    except DomainError as error:
        raise DemoError(f"{error.message} Is moto_server running there ({endpoint})?") from None
    return endpoint


# --- Users --------------------------------------------------------------------------------------------


def demo_users_ensure(*, reset_passwords: bool = False) -> list[DemoUserResult]:
    """One demo user per role. A password is generated (and returned) only for new users or on reset."""
    results = []
    with transaction.atomic():
        for username, role, full_name in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            password = secrets.token_urlsafe(12) if user is None or reset_passwords else None
            if user is None:
                email = f"{username}@{USER_EMAIL_DOMAIN}"
                if role == Role.SUPER_ADMIN:
                    User.objects.create_superuser(email, username, password, full_name=full_name)
                else:
                    User.objects.create_user(email, username, password, role=role, full_name=full_name)
                results.append(DemoUserResult(username, role, created=True, password=password))
                continue
            if password:
                user.set_password(password)
                user.save(update_fields=["password", "updated_at"])
            results.append(DemoUserResult(username, role, created=False, password=password))
    return results


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


def _wrap_aws(fn, **kwargs):
    """Turn an unreachable or failing emulator into an error a person can act on."""
    try:
        return fn(**kwargs)
    except (BotoCoreError, ClientError) as exc:
        raise DemoError(
            f"The AWS endpoint {settings.AWS_ENDPOINT_URL} failed during {fn.__name__}: {exc}. "
            "Is moto_server running there?"
        ) from exc


# --- Accounts: the onboarding stand-in ----------------------------------------------------------------


def demo_account_ensure(*, owner: User, spec: AccountSpec) -> Account:
    """The account row: the connected one from an earlier run, else a pending account made by the real
    onboarding service (server-generated External ID), reusing a placeholder a failed run left behind."""
    account = Account.objects.filter(account_id=spec.aws_account_id).first()
    if account is not None:
        return account
    placeholder = Account.objects.filter(
        user=owner, account_name=spec.name, status=AccountStatus.PENDING, account_id__startswith=PENDING_PREFIX
    ).first()
    if placeholder is not None:
        return placeholder
    return account_create_pending(
        user=owner,
        account_name=spec.name,
        environment_type=spec.environment_type,
        region=spec.regions[0].region,
        regions=spec.region_names,
    )


def demo_account_onboard(*, account: Account, spec: AccountSpec, progress: Progress) -> dict[str, list[str]]:
    """The CloudFormation flow, as a customer goes through it: the stack creates the role (here: we
    create it in moto), the platform verifies it (pending -> connected), then discovery (-> active)."""
    role_arn = f"arn:aws:iam::{spec.aws_account_id}:role/{ROLE_NAME}"
    clients = AccountClients(account, as_customer_admin=spec.aws_account_id)
    _wrap_aws(demo_customer_role_deploy, account=account, clients=clients)
    if account.status in (AccountStatus.PENDING, AccountStatus.FAILED):
        account = account_verify_role(user=account.user, account=account, role_arn=role_arn)
        progress(f"  verified the role {role_arn}: {account.status}")
    clients = AccountClients(account)
    _wrap_aws(demo_account_verify, account=account, clients=clients)

    created = {}
    for region_spec in spec.regions:
        created[region_spec.region] = _wrap_aws(
            demo_aws_estate_ensure, account=account, spec=region_spec, clients=clients
        )
        what = ", ".join(created[region_spec.region]) or "nothing (already present)"
        progress(f"  {region_spec.region}: created {what}")

    discovery = account_discover(account=account)
    account.refresh_from_db()
    progress(
        f"  discovery: {discovery.instances_found} instances in {len(discovery.instances_by_region)} regions"
        f" ({discovery.created} new, {discovery.deactivated} gone, {discovery.flagged} flagged as rogue)"
    )
    found = _wrap_aws(demo_waste_sync, account=account, clients=clients)
    progress(f"  found {found} idle resources")
    return created


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
            }
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


# --- Waste scan stand-in ------------------------------------------------------------------------------


def _age_days(resource: dict, created, now: datetime) -> int:
    declared = int(tag_dict(resource).get(DEMO_AGE_TAG, 0) or 0)
    actual = (now - created).days if isinstance(created, datetime) else 0
    return max(declared, actual)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _waste_findings(*, ec2, now: datetime) -> list[dict]:
    findings = []

    for address in ec2.describe_addresses(Filters=_demo_filter())["Addresses"]:
        if address.get("AssociationId"):
            continue
        days = _age_days(address, None, now)
        findings.append(
            {
                "resource_type": ResourceType.ELASTIC_IP,
                "resource_id": address["AllocationId"],
                "monthly_cost": EIP_IDLE_MONTHLY,
                "days_unused": days,
                "reason": f"Elastic IP {address['PublicIp']} has not been associated with anything for {days} "
                "days; AWS bills idle addresses $0.005 an hour.",
                "resource_metadata": {"public_ip": address["PublicIp"], "domain": address.get("Domain", "")},
            }
        )

    volumes = ec2.describe_volumes(Filters=[*_demo_filter(), {"Name": "status", "Values": ["available"]}])
    for volume in volumes["Volumes"]:
        days = _age_days(volume, volume.get("CreateTime"), now)
        kind = volume.get("VolumeType", "gp2")
        findings.append(
            {
                "resource_type": ResourceType.EBS_VOLUME,
                "resource_id": volume["VolumeId"],
                "monthly_cost": _money(VOLUME_GB_MONTH.get(kind, VOLUME_GB_MONTH["gp2"]) * volume["Size"]),
                "days_unused": days,
                "reason": f"{kind} volume of {volume['Size']} GiB, not attached to any instance for {days} days.",
                "resource_metadata": {
                    "size_gb": volume["Size"],
                    "volume_type": kind,
                    "availability_zone": volume["AvailabilityZone"],
                    "tags": tag_dict(volume),
                },
            }
        )

    images = ec2.describe_images(Owners=["self"], Filters=_demo_filter())["Images"]
    in_use = {i.get("ImageId") for i in _live_instances(ec2)}
    image_snapshots = {
        m["Ebs"]["SnapshotId"] for image in images for m in image.get("BlockDeviceMappings", []) if "Ebs" in m
    }
    for image in images:
        if image["ImageId"] in in_use:
            continue
        sizes = [m["Ebs"].get("VolumeSize", 0) for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        days = _age_days(image, None, now)
        findings.append(
            {
                "resource_type": ResourceType.AMI,
                "resource_id": image["ImageId"],
                "monthly_cost": _money(SNAPSHOT_GB_MONTH * sum(sizes)),
                "days_unused": days,
                "reason": f"AMI '{image.get('Name', '')}' has not launched an instance for {days} days; its "
                f"{sum(sizes)} GiB of snapshots still cost storage.",
                "resource_metadata": {
                    "name": image.get("Name", ""),
                    "snapshot_ids": sorted(
                        m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m
                    ),
                    "source_instance_id": image.get("SourceInstanceId", ""),
                },
            }
        )

    for snapshot in ec2.describe_snapshots(OwnerIds=["self"], Filters=_demo_filter())["Snapshots"]:
        if snapshot["SnapshotId"] in image_snapshots:
            continue  # counted with its AMI
        days = _age_days(snapshot, snapshot.get("StartTime"), now)
        findings.append(
            {
                "resource_type": ResourceType.EBS_SNAPSHOT,
                "resource_id": snapshot["SnapshotId"],
                "monthly_cost": _money(SNAPSHOT_GB_MONTH * snapshot["VolumeSize"]),
                "days_unused": days,
                "reason": f"Snapshot of {snapshot['VolumeSize']} GiB, {days} days old; its volume is gone and "
                "no AMI uses it.",
                "resource_metadata": {"size_gb": snapshot["VolumeSize"], "volume_id": snapshot.get("VolumeId", "")},
            }
        )
    return findings


WASTE_FIELDS = ["monthly_cost", "days_unused", "reason", "resource_metadata"]


def demo_waste_sync(*, account: Account, clients: AccountClients | None = None) -> int:
    """Upsert WasteResource rows for the account's idle demo resources; returns how many were found."""
    now = timezone.now()
    clients = clients or AccountClients(account)
    found = {}
    for region in account.regions_to_scan:
        for finding in _waste_findings(ec2=clients("ec2", region), now=now):
            found[(region, finding["resource_type"], finding["resource_id"])] = finding

    with transaction.atomic():
        existing = {
            (w.region, w.resource_type, w.resource_id): w for w in WasteResource.objects.filter(account=account)
        }
        to_create, to_update = [], []
        for key, finding in found.items():
            row = existing.get(key)
            if row is None:
                to_create.append(WasteResource(account=account, region=key[0], **finding))
                continue
            for name in WASTE_FIELDS:
                setattr(row, name, finding[name])
            to_update.append(row)
        WasteResource.objects.bulk_create(to_create)
        WasteResource.objects.bulk_update(to_update, WASTE_FIELDS)
        # Detections nobody acted on whose resource is gone (moto restarted) are dropped; anything
        # already flagged or scheduled stays for its workflow to resolve.
        stale = [w.pk for key, w in existing.items() if key not in found and w.status == WasteStatus.DETECTED]
        WasteResource.objects.filter(pk__in=stale).delete()
    return len(found)


# --- Risk memory and downtime history -----------------------------------------------------------------

# (region, az, instance type, interruptions, days since the last one, poisoned by a recent notice)
DEMO_POOLS = (
    ("us-east-1", "us-east-1a", "c5.xlarge", 3, 2, True),
    ("us-east-1", "us-east-1b", "m5.large", 1, 40, False),
    ("us-east-1", "us-east-1c", "m5.xlarge", 0, None, False),
    ("us-west-2", "us-west-2b", "c5.large", 2, 25, False),
)


def _interruption_event(region: str, az: str, instance_type: str, instance_id: str, at: datetime) -> dict:
    # The EventBridge envelope an interruption warning arrives in.
    return {
        "version": "0",
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "region": region,
        "time": at.isoformat(),
        "detail": {"instance-id": instance_id, "instance-action": "terminate"},
        "spotopt": {"availability_zone": az, "instance_type": instance_type},
    }


def demo_risk_seed(*, account: Account, owner: User) -> None:
    """A few pools of the hive memory, one poisoned by a recent interruption in the PROD account."""
    now = timezone.now()
    with transaction.atomic():
        for region, az, instance_type, interruptions, days_ago, poisoned in DEMO_POOLS:
            pool = pool_key(region, az, instance_type)
            defaults = {"interruption_count": interruptions, "pool_metadata": {"demo": True}}
            if poisoned:
                reported_at = now - timedelta(days=days_ago)
                # The interrupted instance is long gone; a stable made-up id keeps re-runs identical.
                instance_id = "i-" + hashlib.sha256(pool.encode()).hexdigest()[:17]
                # Append-only: created once, never updated; the pool follows the event's own time.
                event, _ = GlobalRiskEvent.objects.get_or_create(
                    event_id=f"demo-termination-{pool}",
                    defaults={
                        "event_type": RiskEventType.TERMINATION_NOTICE,
                        "region": region,
                        "availability_zone": az,
                        "instance_type": instance_type,
                        "instance_id": instance_id,
                        "account": account,
                        "reported_at": reported_at,
                        "expires_at": reported_at + POISON_DURATION,
                        "raw_event": _interruption_event(region, az, instance_type, instance_id, reported_at),
                    },
                )
                defaults.update(
                    is_poisoned=True,
                    last_interruption=event.reported_at,
                    poisoned_at=event.reported_at,
                    poison_expires_at=event.reported_at + POISON_DURATION,
                    triggering_customer_id=owner.pk,
                )
            elif days_ago is not None:
                defaults["last_interruption"] = now - timedelta(days=days_ago)
            SpotPoolRisk.objects.update_or_create(
                region=region, availability_zone=az, instance_type=instance_type, defaults=defaults
            )

        # A rebalance recommendation: a warning that does not poison a pool.
        reported_at = now - timedelta(days=5)
        GlobalRiskEvent.objects.get_or_create(
            event_id="demo-rebalance-us-west-2:us-west-2b:c5.large",
            defaults={
                "event_type": RiskEventType.REBALANCE_NOTICE,
                "region": "us-west-2",
                "availability_zone": "us-west-2b",
                "instance_type": "c5.large",
                "account": account,
                "reported_at": reported_at,
                "expires_at": reported_at + POISON_DURATION,
                "raw_event": {"detail-type": "EC2 Instance Rebalance Recommendation", "source": "aws.ec2"},
            },
        )


DEMO_DOWNTIME = (
    # (days ago, seconds, details)
    (3, Decimal("4.2"), "[demo] Emergency switch to on-demand after an interruption notice in us-east-1a."),
    (11, Decimal("2.6"), "[demo] Emergency switch while a replica was still booting."),
)


def demo_downtime_seed(*, account: Account) -> None:
    """One or two short stretches of platform-caused downtime, for the SLA pages."""
    now = timezone.now()
    spot = (
        Instance.objects.filter(account=account, is_active=True, lifecycle=Lifecycle.SPOT)
        .order_by("instance_id")
        .first()
    )
    with transaction.atomic():
        for days_ago, seconds, details in DEMO_DOWNTIME:
            started = (now - timedelta(days=days_ago)).replace(microsecond=0)
            DowntimeLog.objects.get_or_create(
                account=account,
                cause=DowntimeCause.EMERGENCY_SWITCH,
                details=details,
                defaults={
                    "instance": spot,
                    "started_at": started,
                    "ended_at": started + timedelta(seconds=float(seconds)),
                },
            )


# --- Summary ------------------------------------------------------------------------------------------


def demo_account_summary(*, account: Account, created_in_aws: dict[str, list[str]]) -> AccountSummary:
    """Counts for the command's final report, read back from the database."""
    account.refresh_from_db()
    summary = AccountSummary(
        name=account.account_name,
        aws_account_id=account.account_id,
        environment_type=account.environment_type,
        status=account.status,
        created_in_aws=created_in_aws,
    )
    rows = Instance.objects.filter(account=account, is_active=True).values_list(
        "region", "cluster_membership", "orchestrator_type", "lifecycle", "auth_status"
    )
    asgs = set()
    for region, membership, orchestrator, lifecycle, auth_status in rows:
        summary.instances += 1
        if (membership or {}).get("asg_name"):
            asgs.add((region, membership["asg_name"]))
        summary.eks_nodes += orchestrator == OrchestratorType.KUBERNETES
        summary.spot += lifecycle == Lifecycle.SPOT
        summary.rogue += auth_status == AuthStatus.FLAGGED
    summary.asgs = len(asgs)
    for cost in (
        WasteResource.objects.filter(account=account)
        .exclude(status=WasteStatus.DELETED)
        .values_list("monthly_cost", flat=True)
    ):
        summary.waste += 1
        summary.waste_monthly_cost += cost
    return summary
