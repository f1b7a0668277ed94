"""Fleet workflows: discovery of a connected account's EC2 estate, rogue-instance enforcement, Lab
controls.

Discovery scans every region of the account page by page (DescribeInstances); each page is upserted in
bulk (one read, one insert, one set-based update), so the number of queries grows with the number of pages,
not instances, and no statement grows with the square of its rows. The ids a region lists are kept in a
temporary table, not in memory, and what the region no longer lists becomes inactive in one anti-join
UPDATE. A region that fails is recorded and skipped: what was known there stays as it was; history stays.

Rogue enforcement is set-based too: one UPDATE per new authorization status, the authorizing rules as a
database condition on the stored tags; overdue instances are filed for termination a batch at a time.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Account
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from spotopt import aws
from spotopt.db import bulk_update_values, pk_batches, temporary_id_set
from spotopt.errors import DomainError, PermissionRefused

from .choices import AuthStatus
from .inventory import LIVE_STATES, authorized_condition, instance_fields, is_authorized, tag_dict
from .models import AUTH_STATUS_TRANSITIONS, DISCOVERED_FIELDS, Instance
from .pricing import latest_spot_prices

logger = logging.getLogger(__name__)

PAGE_SIZE = 1000
UPSERT_FIELDS = [*DISCOVERED_FIELDS, "search_text", "instance_metadata", "is_active"]


@dataclass
class DiscoveryResult:
    instances_by_region: dict[str, int] = field(default_factory=dict)
    errors_by_region: dict[str, str] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    flagged: int = 0
    reauthorized: int = 0
    rogue_requests: int = 0

    @property
    def instances_found(self) -> int:
        return sum(self.instances_by_region.values())

    @property
    def succeeded(self) -> bool:
        return bool(self.instances_by_region) or not self.errors_by_region


def _save_progress(account: Account, progress: dict) -> None:
    # Read-modify-write of the JSON under a row lock, so a concurrent writer's keys are not lost.
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        metadata = dict(locked.account_metadata)
        metadata["discovery"] = progress
        Account.objects.filter(pk=account.pk).update(account_metadata=metadata)
        account.account_metadata = metadata


def _upsert_page(*, account: Account, region: str, raws: list[dict], result: DiscoveryResult) -> set[str]:
    """Write one DescribeInstances page; returns the ids of the live instances on it."""
    fields_by_id = {
        raw["InstanceId"]: instance_fields(raw, region)
        for raw in raws
        if raw.get("State", {}).get("Name") in LIVE_STATES
    }
    if not fields_by_id:
        return set()
    existing = {row.instance_id: row for row in Instance.objects.filter(instance_id__in=list(fields_by_id))}
    to_create, to_update = [], []
    for instance_id, fields in fields_by_id.items():
        row = existing.get(instance_id)
        if row is None:
            to_create.append(Instance(account=account, instance_id=instance_id, is_active=True, **fields))
            continue
        if row.account_id != account.pk:
            logger.warning("instance %s is already recorded under another account; skipped", instance_id)
            continue
        fields["is_active"] = True
        if any(getattr(row, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(row, name, value)
            to_update.append(row)
    with transaction.atomic():
        Instance.objects.bulk_create(to_create)
        if to_update:
            now = timezone.now()
            for row in to_update:
                row.updated_at = now
            bulk_update_values(Instance, to_update, [*UPSERT_FIELDS, "updated_at"])
    result.created += len(to_create)
    result.updated += len(to_update)
    return set(fields_by_id)


def _with_spot_prices(ec2, raws: list[dict]) -> list[dict]:
    """Attach the latest spot price of each spot instance's pool (one DescribeSpotPriceHistory a page)."""
    pools = {
        (raw["InstanceType"], raw.get("Placement", {}).get("AvailabilityZone", ""))
        for raw in raws
        if raw.get("InstanceLifecycle") == "spot"
    }
    prices = latest_spot_prices(ec2, pools)
    for raw in raws:
        price = prices.get((raw["InstanceType"], raw.get("Placement", {}).get("AvailabilityZone", "")))
        if raw.get("InstanceLifecycle") == "spot" and price:
            raw["_spot_price"] = price
    return raws


def _discover_region(*, account: Account, region: str, result: DiscoveryResult) -> int:
    ec2 = aws.client_for(account, "ec2", region)
    with temporary_id_set() as seen:
        for page in ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
            raws = [instance for reservation in page["Reservations"] for instance in reservation["Instances"]]
            seen.add(_upsert_page(account=account, region=region, raws=_with_spot_prices(ec2, raws), result=result))
        # The region answered completely: what it no longer lists is gone (terminated). History stays.
        gone = seen.unseen(Instance.objects.filter(account=account, region=region, is_active=True), "instance_id")
        result.deactivated += gone.update(is_active=False, updated_at=timezone.now())
        return seen.size


def _discover_clusters(account: Account, region: str, progress: dict) -> None:
    """The region's EKS clusters (kube.services.clusters_discover). A role without the EKS actions, or EKS
    refusing, does not fail discovery: the reason is kept for the Kubernetes page and the status panel."""
    from kube.services import clusters_discover

    try:
        with aws.aws_errors(f"list the EKS clusters in {region}"):
            found = clusters_discover(account=account, region=region)
    except DomainError as error:
        progress.setdefault("kubernetes_errors", {})[region] = error.message
        logger.info("EKS clusters of %s in %s not listed: %s", account.account_id, region, error.message)
    else:
        if found:
            progress["eks_clusters"] = progress.get("eks_clusters", 0) + found


def account_discover(*, account: Account) -> DiscoveryResult:
    """Discover every region of the account, recording progress for the onboarding page's live status.

    One failing region does not fail the others; the account becomes active when at least one region
    answered, failed (from connected) with a last_error that says what to do when none did."""
    regions = account.regions_to_scan
    progress = {
        "state": "running",
        "started_at": timezone.now().isoformat(),
        "finished_at": None,
        "regions_total": len(regions),
        "regions_done": 0,
        "instances_found": 0,
        "regions": {},
        "errors": {},
    }
    _save_progress(account, progress)
    result = DiscoveryResult()
    for region in regions:
        try:
            with aws.aws_errors(f"list the EC2 instances in {region}"):
                count = _discover_region(account=account, region=region, result=result)
        except DomainError as error:
            result.errors_by_region[region] = error.message
            progress["errors"][region] = error.message
            logger.warning("discovery of %s in %s failed: %s", account.account_id, region, error.message)
        else:
            result.instances_by_region[region] = count
            progress["regions"][region] = count
            progress["instances_found"] += count
            _discover_clusters(account, region, progress)
        progress["regions_done"] += 1
        _save_progress(account, progress)

    if result.instances_by_region:
        enforcement = rogue_enforce(account=account)
        result.flagged, result.reauthorized, result.rogue_requests = enforcement
    progress["state"] = "succeeded" if result.succeeded else "failed"
    progress["finished_at"] = timezone.now().isoformat()
    progress["changes"] = {"created": result.created, "updated": result.updated, "deactivated": result.deactivated}
    _finish(account, progress, result)
    return result


@transaction.atomic
def _finish(account: Account, progress: dict, result: DiscoveryResult) -> None:
    locked = Account.objects.select_for_update().get(pk=account.pk)
    metadata = dict(locked.account_metadata)
    metadata["discovery"] = progress
    if result.succeeded:
        metadata.pop("last_error", None)
        if result.errors_by_region:
            metadata["last_error"] = {
                "message": "Some regions could not be scanned: "
                + "; ".join(f"{region}: {message}" for region, message in result.errors_by_region.items()),
                "code": "partial_discovery",
            }
        if locked.status == AccountStatus.CONNECTED:
            locked.move_to(AccountStatus.ACTIVE)
    else:
        first_region, first_message = next(iter(result.errors_by_region.items()))
        metadata["last_error"] = {"message": f"{first_region}: {first_message}", "code": "discovery_failed"}
        if locked.status == AccountStatus.CONNECTED:
            locked.move_to(AccountStatus.FAILED)
    locked.account_metadata = metadata
    locked.save(update_fields=["status", "account_metadata", "updated_at"])
    account.status, account.account_metadata = locked.status, metadata


# --- Rogue-instance enforcement ---------------------------------------------------------------------


# How many overdue instances are filed for termination at a time (one bulk insert, one notification each).
ROGUE_FILING_BATCH = 500


def _sources_of(target: str) -> list[str]:
    """The statuses the transition table lets move to `target` (a set-based UPDATE moves only those)."""
    return [status for status in AuthStatus.values if AUTH_STATUS_TRANSITIONS.can_move(status, target)]


def rogue_enforce(*, account: Account, now=None) -> tuple[int, int, int]:
    """Flag active instances without an authorizing tag, re-authorize those that gained one, and file a
    TERMINATE_ROGUE approval request for each instance still unauthorized after the grace period (never
    an automatic termination). Returns (flagged, reauthorized, requests filed).

    Set-based: one UPDATE per new status (from the statuses its transition table allows), the authorizing
    rules as a condition on the stored tags; the overdue instances are read and filed a batch at a time. No
    step holds the account's instances in memory."""
    now = now or timezone.now()
    active = Instance.objects.filter(account=account, is_active=True)
    authorized = authorized_condition()
    reauthorized = active.filter(authorized, auth_status=AuthStatus.FLAGGED).update(
        auth_status=AuthStatus.AUTHORIZED, flagged_at=None, updated_at=now
    )
    active.filter(authorized, auth_status__in=_sources_of(AuthStatus.AUTHORIZED)).update(
        auth_status=AuthStatus.AUTHORIZED, flagged_at=None, updated_at=now
    )
    flagged = (
        active.exclude(authorized)
        .filter(auth_status__in=_sources_of(AuthStatus.FLAGGED))
        .update(auth_status=AuthStatus.FLAGGED, flagged_at=now, updated_at=now)
    )
    filed = _file_overdue_rogue_requests(active=active, now=now)
    if flagged or reauthorized or filed:
        logger.info(
            "rogue enforcement on %s: %d flagged, %d re-authorized, %d requests",
            account.account_id,
            flagged,
            reauthorized,
            filed,
        )
    return flagged, reauthorized, filed


def _file_overdue_rogue_requests(*, active, now) -> int:
    """A termination request for every instance flagged longer than the grace period that has none yet.

    One request per flagging: a pending one, an approved one (unless its execution failed) or a rejected one
    made since the instance was flagged all count. An expired request, or a new flagging (a new
    flagged_at), lets a new one be filed."""
    from approvals.services import approval_requests_create

    already_requested = ApprovalRequest.objects.filter(
        action_type=ActionType.TERMINATE_ROGUE, instance=OuterRef("pk")
    ).filter(
        Q(status=ApprovalStatus.PENDING)
        | Q(status__in=[ApprovalStatus.APPROVED, ApprovalStatus.REJECTED], created_at__gte=OuterRef("flagged_at"))
        & ~Q(status=ApprovalStatus.APPROVED, execution_status=ExecutionStatus.FAILED)
    )
    overdue = (
        active.filter(auth_status=AuthStatus.FLAGGED, flagged_at__lte=now - timedelta(hours=settings.ROGUE_GRACE_HOURS))
        .exclude(Exists(already_requested))
        .select_related("account")
        .only("pk", "instance_id", "region", "flagged_at", "account")
    )
    reason = f"No authorizing tag ({', '.join(settings.FLEET_AUTHORIZING_TAGS)}) for {{hours}} hours."
    filed = 0
    for batch in pk_batches(overdue, ROGUE_FILING_BATCH):
        items = [
            (
                {
                    "instance_id": instance.instance_id,
                    "region": instance.region,
                    "flagged_at": instance.flagged_at.isoformat(),
                    "reason": reason.format(hours=int((now - instance.flagged_at).total_seconds() // 3600)),
                },
                instance,
            )
            for instance in batch
        ]
        created = approval_requests_create(
            action_type=ActionType.TERMINATE_ROGUE, items=items, risk_level=RiskLevel.HIGH
        )
        filed += len(created)
    return filed


def _live_instance(ec2, instance_id: str) -> dict | None:
    """The instance as EC2 describes it now, or None when EC2 no longer knows it."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "InvalidInstanceID.NotFound":
            return None
        raise
    return next((raw for reservation in reservations for raw in reservation["Instances"]), None)


def instance_record_from_aws(*, account: Account, region: str, instance_id: str) -> Instance | None:
    """Look one instance up in the account (DescribeInstances) and record it as discovery would; None when
    the account has no such live instance. For an event about an instance discovery has not seen yet."""
    with aws.aws_errors(f"describing instance {instance_id} in {region}"):
        raw = _live_instance(aws.client_for(account, "ec2", region), instance_id)
    if raw is None or raw.get("State", {}).get("Name") not in LIVE_STATES:
        return None
    record_described_instances(account=account, region=region, raws=[raw])
    return Instance.objects.filter(account=account, instance_id=instance_id).first()


def record_described_instances(*, account: Account, region: str, raws: list[dict]) -> None:
    """Record instances as DescribeInstances (or RunInstances) describes them, as discovery does, with the
    latest spot price of each Spot instance's pool (unknown, not an error, when AWS does not answer)."""
    if any(raw.get("InstanceLifecycle") == "spot" for raw in raws):
        try:
            with aws.aws_errors(f"read the spot prices of {len(raws)} instance(s) in {region}"):
                raws = _with_spot_prices(aws.client_for(account, "ec2", region), raws)
        except DomainError as exc:
            logger.warning("spot prices in %s unknown for now: %s", region, exc.message)
    _upsert_page(account=account, region=region, raws=raws, result=DiscoveryResult())


def terminate_rogue_instance(request: ApprovalRequest) -> dict:
    """Executor of an approved TERMINATE_ROGUE request: terminate through EC2, mark TERMINATED.

    Idempotent: an instance already terminated (in AWS or here) is reported, not terminated twice. The
    instance's tags are checked in AWS right before terminating: one that gained an authorizing tag since
    the last discovery is refused."""
    instance = request.instance
    if instance is None:
        raise DomainError("The instance of this request no longer exists in spotopt.", code="instance_gone")
    if instance.auth_status == AuthStatus.TERMINATED:
        return {"instance_id": instance.instance_id, "state": "already terminated"}
    if is_authorized(instance.instance_metadata.get("tags", {})) or instance.auth_status != AuthStatus.FLAGGED:
        raise DomainError(
            f"{instance.instance_id} is no longer flagged as rogue (it gained an authorizing tag); not terminated.",
            code="no_longer_rogue",
        )
    region = request.action_payload.get("region") or instance.region
    with aws.aws_errors(f"terminate {instance.instance_id} in {region}"):
        ec2 = aws.client_for(instance.account, "ec2", region)
        # What we know may be up to a discovery interval old: look at the instance as it is now.
        live = _live_instance(ec2, instance.instance_id)
        if live is None or live.get("State", {}).get("Name") in ("shutting-down", "terminated"):
            state = "already terminated"
        elif is_authorized(tag_dict(live)):
            raise DomainError(
                f"{instance.instance_id} now carries an authorizing tag in AWS (it is no longer rogue); "
                "not terminated.",
                code="no_longer_rogue",
            )
        else:
            answer = ec2.terminate_instances(InstanceIds=[instance.instance_id])
            state = (answer.get("TerminatingInstances") or [{}])[0].get("CurrentState", {}).get("Name", "shutting-down")
    with transaction.atomic():
        locked = Instance.objects.select_for_update().get(pk=instance.pk)
        locked.move_auth_status(AuthStatus.TERMINATED)
        locked.is_active = False
        locked.save(update_fields=["auth_status", "is_active", "updated_at"])
    return {"instance_id": instance.instance_id, "state": state}


# --- Lab controls -------------------------------------------------------------------------------------


@transaction.atomic
def instance_lab_update(
    *, user, instance: Instance, pipeline_mode=None, is_shadow_mode=None, assigned_model_version=None
):
    """Lab controls of a LAB-environment instance: pipeline mode, shadow mode, assigned model version.
    Only lab, admin and super_admin roles; never on production accounts."""
    from accounts.choices import EnvironmentType
    from accounts.roles import Capability, can
    from mlgov.choices import ModelStatus
    from mlgov.models import MLModel

    from .choices import PipelineMode

    if not can(user, Capability.USE_LAB):
        raise PermissionRefused("Only Lab operators and admins change Lab controls.")
    instance = Instance.objects.select_for_update().select_related("account").get(pk=instance.pk)
    if instance.account.environment_type != EnvironmentType.LAB:
        raise DomainError(
            "Lab controls apply to instances of LAB-environment accounts only; this one is production.",
            code="not_lab",
        )
    fields = []
    if pipeline_mode is not None:
        if pipeline_mode not in PipelineMode.values:
            raise DomainError("The pipeline mode is CLUSTER or LINEAR.", code="invalid_pipeline_mode")
        instance.pipeline_mode = pipeline_mode
        fields.append("pipeline_mode")
    if is_shadow_mode is not None:
        instance.is_shadow_mode = bool(is_shadow_mode)
        fields.append("is_shadow_mode")
    if assigned_model_version is not None:
        version = assigned_model_version.strip()
        if version and not MLModel.objects.filter(version=version).exclude(status=ModelStatus.ARCHIVED).exists():
            raise DomainError(
                f"No usable model has version '{version}' (archived models cannot be assigned).",
                code="unknown_model_version",
            )
        instance.assigned_model_version = version
        fields.append("assigned_model_version")
    if fields:
        instance.save(update_fields=[*fields, "updated_at"])
        logger.info("lab controls of %s changed by user %s: %s", instance.instance_id, user.pk, ", ".join(fields))
    return instance
