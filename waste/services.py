"""Waste workflows: scan, flag, exempt, schedule (file the approval), and the approved deletion.

Lifecycle (WASTE_STATUS_TRANSITIONS): a scan finds a resource (DETECTED); a person flags it, which tags it
in AWS `spotopt:waste = delete@<date>` so its owner sees it in their console; once the grace period
(Account.waste_grace_days) has passed, the scan (or a person) files one DELETE_WASTE approval request per
account and batch (SCHEDULED_DELETE); the approved request's executor re-checks every resource in AWS with
the scanner's own rules and deletes it (DELETED) or skips it with the reason. A resource used again or gone
leaves the list (RESOLVED, our tag removed); one the owner keeps (`spotopt:waste = keep`, or the Exempt
action) is EXEMPT and never flagged. The owner removing our flag tag withdraws the flag (back to DETECTED).

The scan writes set-based: per region one read of the known rows, one insert, one VALUES update, so its
queries grow with the regions and batches, not with the resources.
"""

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Account
from accounts.roles import Capability, can
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.registry import ExecutionFailed
from approvals.services import approval_request_create
from fleet.models import Instance
from spotopt import aws
from spotopt.db import bulk_update_values
from spotopt.errors import DomainError, PermissionRefused

from .choices import DeletionOutcome, ResourceType, WasteStatus
from .models import WasteResource
from .scanner import DELETE_PREFIX, KEEP, WASTE_TAG, Evaluation, Finding, evaluate, flag_value, region_inventory

logger = logging.getLogger(__name__)

SCANNABLE = (AccountStatus.CONNECTED, AccountStatus.ACTIVE)
TAG_BATCH = 500  # resource ids per CreateTags/DeleteTags call
WRITTEN_FIELDS = [
    "status",
    "monthly_cost",
    "days_unused",
    "reason",
    "resource_metadata",
    "deletable",
    "instance",
    "last_seen_at",
    "flagged_at",
    "resolved_at",
    "scheduled_deletion_date",
    "approval_request",
    "outcome",
    "outcome_message",
]


def _require(user, capability: Capability, refusal: str) -> None:
    if user is not None and not can(user, capability):
        raise PermissionRefused(refusal)


MANAGE_REFUSAL = "Only the account's clients and the platform's admins act on waste; your role only reads it."


# --- scanning ---------------------------------------------------------------------------------------------


@dataclass
class RegionOutcome:
    found: int = 0
    new: int = 0
    left: int = 0
    exempt: int = 0
    monthly_cost: Decimal = Decimal(0)
    error: str = ""


@dataclass
class ScanResult:
    account: Account
    dry_run: bool
    regions: dict[str, RegionOutcome] = field(default_factory=dict)
    scheduled_requests: int = 0
    withdrawn: int = 0
    aws_calls: int = 0
    aws_seconds: float = 0.0
    db_seconds: float = 0.0
    queries: int = 0
    total_seconds: float = 0.0

    @property
    def found(self) -> int:
        return sum(r.found for r in self.regions.values())

    @property
    def left(self) -> int:
        return sum(r.left for r in self.regions.values())

    @property
    def monthly_cost(self) -> Decimal:
        return sum((r.monthly_cost for r in self.regions.values()), Decimal(0))

    @property
    def errors(self) -> dict[str, str]:
        return {region: r.error for region, r in self.regions.items() if r.error}

    def summary(self) -> dict:
        return {
            "found": self.found,
            "left": self.left,
            "monthly_cost": str(self.monthly_cost),
            "regions": {
                region: {"found": r.found, "new": r.new, "left": r.left, "exempt": r.exempt, "error": r.error}
                for region, r in self.regions.items()
            },
            "scheduled_requests": self.scheduled_requests,
        }


class _QueryClock:
    """Counts the queries of a block and the time spent in them (connection.execute_wrapper)."""

    def __init__(self):
        self.queries = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


def _save_scan_state(account: Account, state: dict) -> None:
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        metadata = dict(locked.account_metadata)
        metadata["waste_scan"] = state
        Account.objects.filter(pk=account.pk).update(account_metadata=metadata)
        account.account_metadata = metadata


def account_scan_waste(*, account: Account, dry_run: bool = False, now=None, progress=None) -> ScanResult:
    """Scan every region of the account; write what changed unless dry_run. `progress(region, outcome)` is
    called after each region (the command prints it)."""
    now = now or timezone.now()
    started = time.perf_counter()
    result = ScanResult(account=account, dry_run=dry_run)
    clock = _QueryClock()
    regions = account.regions_to_scan
    state = {"state": "running", "started_at": now.isoformat(), "regions_total": len(regions), "regions_done": 0}
    with connection.execute_wrapper(clock):
        if not dry_run:
            _save_scan_state(account, state)
        for region in regions:
            outcome = result.regions[region] = RegionOutcome()
            try:
                inventory = region_inventory(account=account, region=region)
                result.aws_calls += inventory.aws_calls
                result.aws_seconds += inventory.aws_seconds
                evaluation = evaluate(inventory, now=now)
                _apply_region(account=account, evaluation=evaluation, outcome=outcome, now=now, dry_run=dry_run)
            except DomainError as error:
                outcome.error = error.message
                logger.warning("waste scan of %s in %s failed: %s", account.account_id, region, error.message)
            if progress:
                progress(region, outcome)
            if not dry_run:
                state["regions_done"] += 1
                _save_scan_state(account, state)
        if not dry_run:
            result.withdrawn = _withdraw_declined(account=account)
            result.scheduled_requests = len(waste_schedule_due(account=account, now=now))
            _save_scan_state(
                account,
                {**state, "state": "finished", "finished_at": timezone.now().isoformat(), **result.summary()},
            )
    result.queries, result.db_seconds = clock.queries, clock.seconds
    result.total_seconds = time.perf_counter() - started
    return result


def _copy_finding(row: WasteResource, finding: Finding, instance_pks: dict, now) -> None:
    row.monthly_cost = finding.monthly_cost
    row.days_unused = max(finding.days_unused, (now - row.detected_at).days if row.detected_at else 0)
    row.reason = finding.reason
    row.resource_metadata = {**(row.resource_metadata or {}), **finding.metadata}
    row.deletable = finding.deletable
    row.instance_id = instance_pks.get(finding.instance_id)
    row.last_seen_at = now


def _restart(row: WasteResource, status: str, message: str = "") -> None:
    """Back to DETECTED (or RESOLVED/EXEMPT): the flag, the schedule and the request are withdrawn."""
    row.move_to(status)
    row.flagged_at = None
    row.scheduled_deletion_date = None
    row.approval_request = None
    if message:
        row.outcome_message = message


def _written(row: WasteResource) -> tuple:
    """What a scan may change on a row, but the time it last saw it (which alone is no reason to write)."""
    return tuple(
        getattr(row, name if name not in ("instance", "approval_request") else f"{name}_id")
        for name in WRITTEN_FIELDS
        if name != "last_seen_at"
    )


def _count(outcome: RegionOutcome, row: WasteResource, *, new: bool) -> None:
    if row.status == WasteStatus.EXEMPT:
        outcome.exempt += 1
        return
    outcome.found += 1
    outcome.new += int(new)
    outcome.monthly_cost += row.monthly_cost


def _apply_region(*, account: Account, evaluation: Evaluation, outcome: RegionOutcome, now, dry_run: bool) -> None:
    region = evaluation.region
    known = {
        (row.resource_type, row.resource_id): row
        for row in WasteResource.objects.filter(account=account, region=region).exclude(status=WasteStatus.DELETED)
    }
    instance_ids = {f.instance_id for f in evaluation.findings.values() if f.instance_id}
    instance_pks = (
        dict(Instance.objects.filter(account=account, instance_id__in=instance_ids).values_list("instance_id", "pk"))
        if instance_ids
        else {}
    )
    to_create, to_update, to_untag = [], [], []
    for key, finding in evaluation.findings.items():
        row = known.get(key)
        if row is None:
            row = WasteResource(
                account=account,
                resource_type=finding.resource_type,
                resource_id=finding.resource_id,
                region=region,
                detected_at=now,
                status=WasteStatus.EXEMPT if finding.kept_by_tag else WasteStatus.DETECTED,
                resource_metadata={"exempt_by": "tag"} if finding.kept_by_tag else {},
            )
            _copy_finding(row, finding, instance_pks, now)
            to_create.append(row)
            _count(outcome, row, new=True)
            continue
        status, before = row.status, _written(row)
        if finding.kept_by_tag:
            if status != WasteStatus.EXEMPT:
                _restart(row, WasteStatus.EXEMPT, "Kept by its spotopt:waste = keep tag.")
                row.resource_metadata = {**row.resource_metadata, "exempt_by": "tag"}
        elif status == WasteStatus.EXEMPT:
            if row.resource_metadata.get("exempt_by") == "tag":  # the owner took their keep tag off
                _restart(row, WasteStatus.DETECTED, "The spotopt:waste = keep tag was removed: waste again.")
        elif status == WasteStatus.RESOLVED:
            _restart(row, WasteStatus.DETECTED, "Idle again.")
            row.resolved_at = None
        elif status in (WasteStatus.FLAGGED, WasteStatus.SCHEDULED_DELETE):
            if not finding.tag_value.startswith(DELETE_PREFIX):
                _restart(row, WasteStatus.DETECTED, "The owner removed the spotopt:waste flag tag in AWS: not deleted.")
            elif not finding.deletable:
                _restart(row, WasteStatus.DETECTED, "Report only now: it is no longer deleted.")
                to_untag.append((row, finding.tag_value))
        _copy_finding(row, finding, instance_pks, now)
        _count(outcome, row, new=status == WasteStatus.RESOLVED)
        if _written(row) != before:  # a rescan that finds nothing new writes nothing
            to_update.append(row)
    for key, row in known.items():
        if key in evaluation.findings or row.status == WasteStatus.RESOLVED:
            continue
        why = evaluation.not_waste.get(key)
        tag = evaluation.tags.get(key, "")
        _restart(row, WasteStatus.RESOLVED, f"No longer waste: {why}." if why else "No longer exists in AWS.")
        row.resolved_at = now
        to_update.append(row)
        outcome.left += 1
        if tag.startswith(DELETE_PREFIX):
            to_untag.append((row, tag))
    if dry_run:
        return
    for row in to_update:
        row.updated_at = now
    with transaction.atomic():
        WasteResource.objects.bulk_create(to_create, batch_size=1000)
        bulk_update_values(WasteResource, to_update, [*WRITTEN_FIELDS, "updated_at"])
    _untag(account=account, region=region, tagged=to_untag)


def _tag_calls(account: Account, region: str, ids: list[str], *, value: str | None, remove: bool, doing: str):
    tag = {"Key": WASTE_TAG} if value is None else {"Key": WASTE_TAG, "Value": value}
    for start in range(0, len(ids), TAG_BATCH):
        batch = ids[start : start + TAG_BATCH]
        with aws.aws_errors(doing):
            ec2 = aws.client_for(account, "ec2", region)
            if remove:
                ec2.delete_tags(Resources=batch, Tags=[tag])
            else:
                ec2.create_tags(Resources=batch, Tags=[tag])


def _untag(*, account: Account, region: str, tagged: list[tuple[WasteResource, str]]) -> None:
    """Take our flag tag off resources that left the list (only our exact value: never an owner's keep)."""
    by_value = defaultdict(list)
    for row, value in tagged:
        by_value[value].append(row.resource_id)
    for value, ids in by_value.items():
        try:
            _tag_calls(
                account,
                region,
                ids,
                value=value,
                remove=True,
                doing=f"remove the waste flag from {len(ids)} resource(s)",
            )
        except DomainError as error:
            logger.warning("could not untag %d resource(s) in %s: %s", len(ids), region, error.message)


# --- flag, exempt, schedule -------------------------------------------------------------------------------


@dataclass
class BulkResult:
    done: list[WasteResource] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # resource id -> why
    requests: list[ApprovalRequest] = field(default_factory=list)

    def message(self, verb: str) -> str:
        text = f"{len(self.done)} resource(s) {verb}."
        if self.skipped:
            reasons = "; ".join(f"{rid}: {why}" for rid, why in list(self.skipped.items())[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f" {len(self.skipped)} skipped ({reasons}{more})."
        return text


def _by_account_region(rows):
    groups = defaultdict(list)
    for row in rows:
        groups[(row.account_id, row.region)].append(row)
    return groups


def waste_flag(*, user, resources, now=None) -> BulkResult:
    """Tag each DETECTED, deletable resource `spotopt:waste = delete@<grace end>` in AWS and mark it FLAGGED."""
    _require(user, Capability.MANAGE_WASTE, MANAGE_REFUSAL)
    now = now or timezone.now()
    result = BulkResult()
    rows = list(resources.select_related("account"))
    flaggable = []
    for row in rows:
        if row.status != WasteStatus.DETECTED:
            result.skipped[row.resource_id] = f"it is {row.get_status_display().lower()}"
        elif not row.deletable:
            result.skipped[row.resource_id] = "report only: spotopt never deletes it"
        else:
            flaggable.append(row)
    for (_, region), group in _by_account_region(flaggable).items():
        account = group[0].account
        until = now + timedelta(days=account.waste_grace_days)
        try:
            _tag_calls(
                account,
                region,
                [row.resource_id for row in group],
                value=flag_value(until),
                remove=False,
                doing=f"tag {len(group)} resource(s) for deletion in {region}",
            )
        except DomainError as error:
            for row in group:
                result.skipped[row.resource_id] = error.message
            continue
        for row in group:
            row.move_to(WasteStatus.FLAGGED)
            row.flagged_at = now
            row.scheduled_deletion_date = until
            row.outcome_message = ""
            row.updated_at = now
            result.done.append(row)
    bulk_update_values(
        WasteResource, result.done, ["status", "flagged_at", "scheduled_deletion_date", "outcome_message", "updated_at"]
    )
    return result


def waste_exempt(*, user, resources, now=None) -> BulkResult:
    """The customer keeps these: EXEMPT for good, and tagged `spotopt:waste = keep` in AWS so the owner sees it
    (the exemption holds even if tagging is not allowed)."""
    _require(user, Capability.MANAGE_WASTE, MANAGE_REFUSAL)
    now = now or timezone.now()
    result = BulkResult()
    rows = list(resources.select_related("account"))
    for row in rows:
        if row.status in (WasteStatus.EXEMPT, WasteStatus.DELETED):
            result.skipped[row.resource_id] = f"it is {row.get_status_display().lower()}"
            continue
        _restart(row, WasteStatus.EXEMPT, f"Exempted by {user.username if user else 'spotopt'}.")
        row.resource_metadata = {
            **row.resource_metadata,
            "exempt_by": "action",
            "exempted_by": user.username if user else "",
            "exempted_at": now.isoformat(),
        }
        row.updated_at = now
        result.done.append(row)
    bulk_update_values(
        WasteResource,
        result.done,
        [
            "status",
            "flagged_at",
            "scheduled_deletion_date",
            "approval_request",
            "outcome_message",
            "resource_metadata",
            "updated_at",
        ],
    )
    for (_, region), group in _by_account_region(result.done).items():
        try:
            _tag_calls(
                group[0].account,
                region,
                [r.resource_id for r in group],
                value=KEEP,
                remove=False,
                doing="tag kept resources",
            )
        except DomainError as error:
            logger.info("exempted resources in %s not tagged keep: %s", region, error.message)
    return result


def _risk_of(rows, final_snapshot: bool) -> str:
    """Deleting data (snapshots, AMIs, volumes without a final snapshot) is HIGH: admins decide. Releasing
    addresses and deleting volumes that are snapshotted first is MEDIUM: the account's clients may decide."""
    for row in rows:
        if row.resource_type in (ResourceType.EBS_SNAPSHOT, ResourceType.AMI):
            return RiskLevel.HIGH
        if row.resource_type == ResourceType.EBS_VOLUME and not final_snapshot:
            return RiskLevel.HIGH
    return RiskLevel.MEDIUM


def waste_schedule(*, user, resources, now=None) -> BulkResult:
    """File one DELETE_WASTE request per account for the FLAGGED resources whose grace period is over; they
    become SCHEDULED_DELETE. Resources still in their grace period are skipped with its end."""
    _require(user, Capability.MANAGE_WASTE, MANAGE_REFUSAL)
    now = now or timezone.now()
    result = BulkResult()
    due_by_account = defaultdict(list)
    for row in resources.select_related("account"):
        if row.status != WasteStatus.FLAGGED:
            result.skipped[row.resource_id] = f"it is {row.get_status_display().lower()}, not flagged"
        elif row.scheduled_deletion_date and row.scheduled_deletion_date > now:
            result.skipped[row.resource_id] = f"its grace period ends {row.scheduled_deletion_date:%Y-%m-%d %H:%M} UTC"
        else:
            due_by_account[row.account_id].append(row)
    for rows in due_by_account.values():
        account = rows[0].account
        with transaction.atomic():
            locked = list(
                WasteResource.objects.select_for_update()
                .filter(pk__in=[r.pk for r in rows], status=WasteStatus.FLAGGED)
                .order_by("-monthly_cost", "resource_id")
            )
            if not locked:
                continue
            total = sum((r.monthly_cost for r in locked), Decimal(0))
            request = approval_request_create(
                action_type=ActionType.DELETE_WASTE,
                payload={
                    "resources": [
                        {
                            "waste_resource_id": str(r.pk),
                            "resource_type": r.resource_type,
                            "resource_id": r.resource_id,
                            "region": r.region,
                            "monthly_cost": str(r.monthly_cost),
                            "reason": r.reason[:1000],
                        }
                        for r in locked
                    ],
                    "total_monthly_cost": str(total),
                    "final_snapshot": account.waste_final_snapshot,
                },
                risk_level=_risk_of(locked, account.waste_final_snapshot),
                requester=user,
                account=account,
            )
            for row in locked:
                row.move_to(WasteStatus.SCHEDULED_DELETE)
                row.approval_request = request
                row.outcome = DeletionOutcome.NONE
                row.outcome_message = ""
                row.updated_at = now
            bulk_update_values(
                WasteResource, locked, ["status", "approval_request", "outcome", "outcome_message", "updated_at"]
            )
        result.done.extend(locked)
        result.requests.append(request)
    return result


def waste_schedule_due(*, account: Account, now=None) -> list[ApprovalRequest]:
    """The scan's last step: file the account's due flags (spotopt itself is the requester)."""
    due = WasteResource.objects.filter(
        account=account, status=WasteStatus.FLAGGED, scheduled_deletion_date__lte=now or timezone.now()
    )
    return waste_schedule(user=None, resources=due, now=now).requests


def _withdraw_declined(*, account: Account) -> int:
    """A rejected or expired request deletes nothing: its resources go back to DETECTED and lose our tag."""
    rows = list(
        WasteResource.objects.filter(
            account=account,
            status=WasteStatus.SCHEDULED_DELETE,
            approval_request__status__in=[ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED],
        ).select_related("approval_request")
    )
    for row in rows:
        decided = row.approval_request.get_status_display().lower()
        _restart(row, WasteStatus.DETECTED, f"The deletion request was {decided}: flag it again to retry.")
        row.updated_at = timezone.now()
    bulk_update_values(
        WasteResource,
        rows,
        ["status", "flagged_at", "scheduled_deletion_date", "approval_request", "outcome_message", "updated_at"],
    )
    for (_, region), group in _by_account_region(rows).items():
        ids = [r.resource_id for r in group]
        try:
            _tag_calls(account, region, ids, value=None, remove=True, doing="remove declined waste flags")
        except DomainError as error:
            logger.warning("declined waste flags in %s not removed: %s", region, error.message)
    return len(rows)


def waste_scan_queue(*, user, account: Account) -> None:
    """Scan now (the page's and the API's action): queued on the workers, progress on the page."""
    from spotopt.q import enqueue_on_commit

    _require(user, Capability.MANAGE_WASTE, MANAGE_REFUSAL)
    if account.status not in SCANNABLE:
        raise DomainError(
            f"A waste scan needs a connected account; this one is {account.get_status_display().lower()}."
        )
    with transaction.atomic():
        _save_scan_state(account, {**(account.account_metadata.get("waste_scan") or {}), "state": "queued"})
        enqueue_on_commit("waste.tasks.scan_account", str(account.pk))


# --- the approved deletion (DELETE_WASTE's executor) -----------------------------------------------------


def _delete_resource(*, account: Account, row: WasteResource, finding: Finding, request, final_snapshot: bool) -> str:
    rid = row.resource_id
    with aws.aws_errors(f"act in {row.region}"):
        ec2 = aws.client_for(account, "ec2", row.region)
    if row.resource_type == ResourceType.ELASTIC_IP:
        with aws.aws_errors(f"release the Elastic IP {rid}"):
            ec2.release_address(AllocationId=rid)
        return "released"
    if row.resource_type == ResourceType.EBS_VOLUME:
        note = ""
        if final_snapshot:
            with aws.aws_errors(f"take the final snapshot of {rid}"):
                snapshot = ec2.create_snapshot(
                    VolumeId=rid,
                    Description=f"spotopt final snapshot of {rid} before its deletion (approval {request.pk})"[:255],
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": [{"Key": WASTE_TAG, "Value": KEEP}]}],
                )
                ec2.get_waiter("snapshot_completed").wait(
                    SnapshotIds=[snapshot["SnapshotId"]], WaiterConfig={"Delay": 15, "MaxAttempts": 40}
                )
            note = f"; final snapshot {snapshot['SnapshotId']}"
        with aws.aws_errors(f"delete the volume {rid}"):
            ec2.delete_volume(VolumeId=rid)
        return f"deleted{note}"
    if row.resource_type == ResourceType.EBS_SNAPSHOT:
        with aws.aws_errors(f"delete the snapshot {rid}"):
            ec2.delete_snapshot(SnapshotId=rid)
        return "deleted"
    own = finding.metadata.get("snapshot_ids") or []
    with aws.aws_errors(f"deregister the AMI {rid}"):
        ec2.deregister_image(ImageId=rid)
    with aws.aws_errors(f"delete the snapshots of the AMI {rid}"):
        for snapshot_id in own:
            ec2.delete_snapshot(SnapshotId=snapshot_id)
    return f"deregistered; its snapshot(s) {', '.join(own)} deleted" if own else "deregistered"


def waste_delete_approved(request: ApprovalRequest) -> dict:
    """Delete the request's resources, each re-checked in AWS first with the scanner's rules (one fresh region
    inventory). In use now, or its flag tag removed by the owner: skipped, never deleted. Every resource's
    outcome is recorded; failed ones stay SCHEDULED_DELETE for an admin's retry."""
    account = request.account
    if account is None:
        raise DomainError("The account of this request is no longer connected: nothing was deleted.")
    final_snapshot = bool(request.action_payload.get("final_snapshot", account.waste_final_snapshot))
    wanted = [item["waste_resource_id"] for item in request.action_payload.get("resources", [])]
    rows = {str(r.pk): r for r in WasteResource.objects.filter(pk__in=wanted, account=account)}
    outcomes: dict[str, dict] = {}
    now = timezone.now()
    by_region = defaultdict(list)
    for item in request.action_payload.get("resources", []):
        row = rows.get(item["waste_resource_id"])
        if row is None:
            outcomes[item["resource_id"]] = {"outcome": "skipped", "message": "its record is gone"}
        elif row.status == WasteStatus.DELETED:
            outcomes[row.resource_id] = {"outcome": "deleted", "message": row.outcome_message or "deleted earlier"}
        elif row.status != WasteStatus.SCHEDULED_DELETE or row.approval_request_id != request.pk:
            outcomes[row.resource_id] = {
                "outcome": "skipped",
                "message": f"no longer scheduled ({row.get_status_display().lower()})",
            }
        else:
            by_region[row.region].append(row)
    failed = 0
    for region, group in by_region.items():
        try:
            evaluation = evaluate(region_inventory(account=account, region=region), now=now)
        except DomainError as error:
            for row in group:
                _record(row, DeletionOutcome.FAILED, f"could not re-check it: {error.message}", outcomes)
            failed += len(group)
            continue
        for row in group:
            key = (row.resource_type, row.resource_id)
            finding = evaluation.findings.get(key)
            if finding is None or not finding.deletable:
                why = evaluation.not_waste.get(key, "it no longer exists in AWS")
                _record(row, DeletionOutcome.SKIPPED, f"in use now: {why}", outcomes, status=WasteStatus.RESOLVED)
            elif finding.kept_by_tag:
                _record(row, DeletionOutcome.SKIPPED, "its owner tagged it keep", outcomes, status=WasteStatus.EXEMPT)
            elif not finding.tag_value.startswith(DELETE_PREFIX):
                _record(
                    row,
                    DeletionOutcome.SKIPPED,
                    "its owner removed the flag tag",
                    outcomes,
                    status=WasteStatus.DETECTED,
                )
            else:
                try:
                    done = _delete_resource(
                        account=account, row=row, finding=finding, request=request, final_snapshot=final_snapshot
                    )
                except DomainError as error:
                    _record(row, DeletionOutcome.FAILED, error.message, outcomes)
                    failed += 1
                else:
                    _record(row, DeletionOutcome.DELETED, done, outcomes, status=WasteStatus.DELETED)
    result = {
        "resources": outcomes,
        "deleted": sum(1 for o in outcomes.values() if o["outcome"] == "deleted"),
        "skipped": sum(1 for o in outcomes.values() if o["outcome"] == "skipped"),
        "failed": failed,
    }
    logger.info("waste request %s: %s", request.pk, {k: v for k, v in result.items() if k != "resources"})
    if failed:
        raise ExecutionFailed(
            f"{failed} resource(s) could not be deleted (the others are done); retry once the cause is fixed.",
            result=result,
        )
    return result


def _record(row: WasteResource, outcome: str, message: str, outcomes: dict, *, status: str | None = None) -> None:
    now = timezone.now()
    row.outcome, row.outcome_message = outcome, message
    fields = ["outcome", "outcome_message", "updated_at"]
    if status == WasteStatus.DELETED:
        row.move_to(status)
        row.deleted_at = now
        fields += ["status", "deleted_at"]
    elif status:
        _restart(row, status)
        if status == WasteStatus.RESOLVED:
            row.resolved_at = now
        fields += ["status", "flagged_at", "scheduled_deletion_date", "approval_request", "resolved_at"]
    row.updated_at = now
    row.save(update_fields=fields)
    outcomes[row.resource_id] = {"outcome": outcome, "message": message}
