"""The waste lifecycle in moto: flag (tagged in AWS) -> grace period -> one approval request per account ->
the executor re-checks and deletes; exempt, used again, the owner's objections, partial failures."""

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import approval_approve, approval_execute, approval_reject, approval_retry_execution
from spotopt.errors import DomainError, PermissionRefused
from waste import services
from waste.choices import DeletionOutcome, WasteStatus
from waste.models import WasteResource
from waste.services import account_scan_waste, waste_exempt, waste_flag, waste_schedule

pytestmark = pytest.mark.django_db


def _row(estate, name) -> WasteResource:
    return WasteResource.objects.get(resource_id=estate[name])


def _deletable(account):
    return WasteResource.objects.filter(account=account, status=WasteStatus.DETECTED, deletable=True)


def _exists(estate, name) -> bool:
    ec2, rid = estate.ec2, estate[name]
    try:
        if rid.startswith("eipalloc-"):
            return bool(ec2.describe_addresses(AllocationIds=[rid])["Addresses"])
        if rid.startswith("vol-"):
            return bool(ec2.describe_volumes(VolumeIds=[rid])["Volumes"])
        if rid.startswith("snap-"):
            return bool(ec2.describe_snapshots(SnapshotIds=[rid])["Snapshots"])
        return bool(ec2.describe_images(ImageIds=[rid], IncludeDisabled=True)["Images"])
    except ClientError:
        return False


@pytest.fixture
def scheduled(estate, waste_account, client_user):
    """Scanned, every deletable finding flagged, and the scan after the grace period filed the request."""
    start = timezone.now()
    account_scan_waste(account=waste_account, now=start)
    flagged = waste_flag(user=client_user, resources=_deletable(waste_account), now=start)
    assert len(flagged.done) == 6
    later = start + timedelta(days=waste_account.waste_grace_days, hours=1)
    result = account_scan_waste(account=waste_account, now=later)
    assert result.scheduled_requests == 1
    return ApprovalRequest.objects.get(action_type=ActionType.DELETE_WASTE)


def test_flagging_tags_the_resource_in_aws_with_the_planned_date(estate, waste_account, client_user):
    start = timezone.now()
    account_scan_waste(account=waste_account, now=start)

    result = waste_flag(user=client_user, resources=WasteResource.objects.filter(account=waste_account), now=start)

    planned = f"delete@{start + timedelta(days=7):%Y-%m-%d}"
    assert estate.tag("old_volume") == planned
    assert estate.tag("idle_address") == planned
    assert estate.tag("unused_ami") == planned
    assert _row(estate, "old_volume").status == WasteStatus.FLAGGED
    # Report-only and exempt findings are never flagged.
    assert result.skipped[estate["stopped_root_volume"]] == "report only: spotopt never deletes it"
    assert result.skipped[estate["kept_volume"]] == "it is exempt"
    assert estate.tag("stopped_root_volume") is None


def test_nothing_is_scheduled_during_the_grace_period(estate, waste_account, client_user):
    start = timezone.now()
    account_scan_waste(account=waste_account, now=start)
    waste_flag(user=client_user, resources=_deletable(waste_account), now=start)

    result = account_scan_waste(account=waste_account, now=start + timedelta(days=6))
    by_hand = waste_schedule(user=client_user, resources=WasteResource.objects.all(), now=start + timedelta(days=6))

    assert result.scheduled_requests == 0 and not by_hand.done
    assert "grace period ends" in by_hand.skipped[estate["old_volume"]]
    assert not ApprovalRequest.objects.exists()


def test_the_full_lifecycle_to_deleted(estate, waste_account, scheduled, admin_user):
    request = scheduled
    # One request for the account's batch: every resource with its reason, the total, and a HIGH risk
    # (snapshots and AMIs are data).
    payload = request.action_payload
    assert request.account == waste_account and request.risk_level == RiskLevel.HIGH
    assert {item["resource_id"] for item in payload["resources"]} == {
        estate[name]
        for name in ("idle_address", "old_volume", "source_volume", "orphan_snapshot", "unused_ami", "disabled_ami")
    }
    assert all(item["reason"] for item in payload["resources"])
    assert payload["total_monthly_cost"] == "28.6500"
    assert WasteResource.objects.filter(status=WasteStatus.SCHEDULED_DELETE, approval_request=request).count() == 6
    unused_ami_snapshot = estate["unused_ami_snapshot"]

    approval_approve(user=admin_user, request_id=request.pk)
    done = approval_execute(request_id=request.pk)

    assert done.execution_status == ExecutionStatus.SUCCEEDED
    assert done.execution_result["deleted"] == 6 and done.execution_result["failed"] == 0
    for name in ("idle_address", "old_volume", "source_volume", "orphan_snapshot", "unused_ami", "disabled_ami"):
        row = _row(estate, name)
        assert row.status == WasteStatus.DELETED and row.deleted_at and row.outcome == DeletionOutcome.DELETED
        assert not _exists(estate, name), name
    # The AMI's own snapshot went with it; the volume was snapshotted first (kept, and tagged keep).
    assert not estate.ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": [unused_ami_snapshot]}])[
        "Snapshots"
    ]
    finals = estate.ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [estate["old_volume"]]}])
    (final,) = finals["Snapshots"]
    assert {"Key": "spotopt:waste", "Value": "keep"} in final["Tags"]
    assert "final snapshot" in _row(estate, "old_volume").outcome_message
    # Untouched: what was not in the request.
    for name in ("stopped_root_volume", "kept_volume", "lt_ami", "lt_snapshot", "backup_snapshot", "young_volume"):
        assert _exists(estate, name), name


def test_a_resource_attached_between_approval_and_execution_is_skipped(estate, scheduled, admin_user):
    approval_approve(user=admin_user, request_id=scheduled.pk)
    estate.ec2.attach_volume(VolumeId=estate["old_volume"], InstanceId=estate["builder"], Device="/dev/sdh")

    done = approval_execute(request_id=scheduled.pk)

    assert done.execution_status == ExecutionStatus.SUCCEEDED
    outcome = done.execution_result["resources"][estate["old_volume"]]
    assert outcome["outcome"] == "skipped" and f"attached to {estate['builder']}" in outcome["message"]
    assert _exists(estate, "old_volume")
    row = _row(estate, "old_volume")
    assert row.status == WasteStatus.RESOLVED and row.outcome == DeletionOutcome.SKIPPED
    assert done.execution_result["deleted"] == 5


def test_the_owner_removing_the_flag_tag_stops_the_deletion(estate, scheduled, admin_user):
    approval_approve(user=admin_user, request_id=scheduled.pk)
    estate.ec2.delete_tags(Resources=[estate["orphan_snapshot"]], Tags=[{"Key": "spotopt:waste"}])

    done = approval_execute(request_id=scheduled.pk)

    assert done.execution_result["resources"][estate["orphan_snapshot"]] == {
        "outcome": "skipped",
        "message": "its owner removed the flag tag",
    }
    assert _exists(estate, "orphan_snapshot")
    assert _row(estate, "orphan_snapshot").status == WasteStatus.DETECTED


def test_a_partial_failure_leaves_the_others_done_and_the_failed_one_retryable(
    estate, scheduled, admin_user, monkeypatch
):
    real = services._delete_resource

    def flaky(*, row, **kwargs):
        if row.resource_id == estate["orphan_snapshot"]:
            raise DomainError("AWS refused DeleteSnapshot (RequestLimitExceeded).")
        return real(row=row, **kwargs)

    monkeypatch.setattr(services, "_delete_resource", flaky)
    approval_approve(user=admin_user, request_id=scheduled.pk)
    failed = approval_execute(request_id=scheduled.pk)

    assert failed.execution_status == ExecutionStatus.FAILED
    assert "1 resource(s) could not be deleted" in failed.execution_error
    assert failed.execution_result["deleted"] == 5 and failed.execution_result["failed"] == 1
    row = _row(estate, "orphan_snapshot")
    assert row.status == WasteStatus.SCHEDULED_DELETE and row.outcome == DeletionOutcome.FAILED
    assert "RequestLimitExceeded" in row.outcome_message

    monkeypatch.setattr(services, "_delete_resource", real)
    approval_retry_execution(user=admin_user, request_id=scheduled.pk)
    retried = approval_execute(request_id=scheduled.pk)

    assert retried.execution_status == ExecutionStatus.SUCCEEDED
    assert _row(estate, "orphan_snapshot").status == WasteStatus.DELETED
    assert not _exists(estate, "orphan_snapshot")
    assert retried.execution_result["deleted"] == 6


def test_a_rejected_request_deletes_nothing_and_withdraws_the_flags(estate, waste_account, scheduled, admin_user):
    approval_reject(user=admin_user, request_id=scheduled.pk, comment="We still need those.")

    account_scan_waste(account=waste_account, now=timezone.now() + timedelta(days=9))

    row = _row(estate, "old_volume")
    assert row.status == WasteStatus.DETECTED and row.approval_request is None
    assert "rejected" in row.outcome_message
    assert estate.tag("old_volume") is None
    assert _exists(estate, "old_volume")
    assert ApprovalRequest.objects.filter(action_type=ActionType.DELETE_WASTE).count() == 1


def test_an_exempted_resource_is_never_flagged(estate, waste_account, client_user):
    account_scan_waste(account=waste_account)
    volume = WasteResource.objects.filter(resource_id=estate["old_volume"])

    waste_exempt(user=client_user, resources=volume)
    flagged = waste_flag(user=client_user, resources=volume)
    account_scan_waste(account=waste_account, now=timezone.now() + timedelta(days=30))

    assert not flagged.done and flagged.skipped[estate["old_volume"]] == "it is exempt"
    row = volume.get()
    assert row.status == WasteStatus.EXEMPT
    assert row.resource_metadata["exempted_by"] == client_user.username
    assert estate.tag("old_volume") == "keep"


def test_a_resource_used_again_leaves_the_list_and_loses_its_tag(estate, waste_account, client_user):
    start = timezone.now()
    account_scan_waste(account=waste_account, now=start)
    waste_flag(user=client_user, resources=_deletable(waste_account), now=start)
    assert estate.tag("idle_address").startswith("delete@")

    estate.ec2.associate_address(AllocationId=estate["idle_address"], InstanceId=estate["stopped_instance"])
    estate.ec2.delete_snapshot(SnapshotId=estate["orphan_snapshot"])  # gone, by its owner's hand
    result = account_scan_waste(account=waste_account, now=start + timedelta(days=1))

    address = _row(estate, "idle_address")
    assert address.status == WasteStatus.RESOLVED and address.resolved_at
    assert address.outcome_message == f"No longer waste: associated with {estate['stopped_instance']}."
    assert estate.tag("idle_address") is None
    gone = _row(estate, "orphan_snapshot")
    assert gone.status == WasteStatus.RESOLVED and gone.outcome_message == "No longer exists in AWS."
    assert result.left == 2


def test_a_read_only_user_cannot_act_on_waste(estate, waste_account, make_user):
    from accounts.choices import Role

    account_scan_waste(account=waste_account)
    reader = make_user(Role.USER, team=waste_account.team)
    for act in (waste_flag, waste_exempt, waste_schedule):
        with pytest.raises(PermissionRefused):
            act(user=reader, resources=WasteResource.objects.all())
    assert not WasteResource.objects.exclude(status__in=[WasteStatus.DETECTED, WasteStatus.EXEMPT]).exists()
    assert ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count() == 0


def test_the_approver_sees_every_resource_of_the_request_and_then_each_outcome(estate, scheduled, admin_user):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(admin_user)
    url = reverse("approval_detail", args=[scheduled.pk])
    page = client.get(url).content.decode()
    assert "Resources (6)" in page and "$28.65 a month of idle resources" in page
    for item in scheduled.action_payload["resources"]:
        assert item["resource_id"] in page and item["reason"][:40] in page

    approval_approve(user=admin_user, request_id=scheduled.pk)
    approval_execute(request_id=scheduled.pk)

    page = client.get(url).content.decode()
    assert page.count("<strong>deleted</strong>") == 6
