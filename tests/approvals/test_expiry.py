"""Expiry of approval requests, with a frozen clock: the per-risk default, the scheduled job, and a late
decision (which is refused and leaves the request EXPIRED)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_q.models import Schedule
from django_q.tasks import async_task

from accounts.choices import Role
from approvals import tasks
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.services import (
    AlreadyDecided,
    approval_approve,
    approval_reject,
    approval_request_create,
    approvals_expire_overdue,
    default_expiry,
)
from spotopt.errors import PermissionRefused
from tests.helpers import FROZEN_NOW as NOW

PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}
SCHEDULE_NAME = "spotopt:approvals.expire-overdue"


@pytest.fixture
def file_request(client_user, make_account):
    account = make_account(client_user)

    def file(risk=RiskLevel.MEDIUM, **overrides):
        fields = {
            "action_type": ActionType.TERMINATE_ROGUE,
            "payload": PAYLOAD,
            "risk_level": risk,
            "requester": client_user,
            "account": account,
        }
        fields.update(overrides)
        return approval_request_create(**fields)

    return file


def stored(request):
    request.refresh_from_db()
    return request


# --- when a request expires ----------------------------------------------------------------------------

DEFAULT_HOURS = {RiskLevel.LOW: 72, RiskLevel.MEDIUM: 48, RiskLevel.HIGH: 24, RiskLevel.CRITICAL: 4}


def test_the_default_expiry_hours_are_the_documented_ones(settings):
    assert settings.APPROVAL_EXPIRY_HOURS == DEFAULT_HOURS


@pytest.mark.parametrize(("risk", "hours"), list(DEFAULT_HOURS.items()))
def test_a_request_expires_after_its_risks_default(file_request, clock, risk, hours):
    request = file_request(risk=risk)
    assert stored(request).expires_at == NOW + timedelta(hours=hours)
    assert default_expiry(risk, now=NOW) == NOW + timedelta(hours=hours)


@override_settings(APPROVAL_EXPIRY_HOURS={"LOW": 240, "MEDIUM": 120, "HIGH": 12, "CRITICAL": 1})
@pytest.mark.parametrize(("risk", "hours"), [("LOW", 240), ("MEDIUM", 120), ("HIGH", 12), ("CRITICAL", 1)])
def test_the_default_follows_the_setting(file_request, clock, risk, hours):
    assert stored(file_request(risk=risk)).expires_at == NOW + timedelta(hours=hours)


def test_an_explicit_expiry_wins(file_request, clock):
    request = file_request(risk=RiskLevel.CRITICAL, expires_at=NOW + timedelta(days=7))
    assert stored(request).expires_at == NOW + timedelta(days=7)


# --- the scheduled job ---------------------------------------------------------------------------------


def test_overdue_pending_requests_expire_and_nothing_else_changes(file_request, super_admin, admin_user, clock):
    low, medium, high, critical = (file_request(risk=r) for r in DEFAULT_HOURS)
    approved = file_request(risk=RiskLevel.CRITICAL)
    rejected = file_request(risk=RiskLevel.HIGH)
    clock.now = NOW + timedelta(hours=1)
    approval_approve(user=super_admin, request_id=approved.pk, comment="Yes.")
    approval_reject(user=admin_user, request_id=rejected.pk, comment="No.")

    clock.now = NOW + timedelta(hours=24)  # HIGH is due this very minute, CRITICAL for 20 hours
    assert approvals_expire_overdue() == 2

    for request in (high, critical):
        request = stored(request)
        assert request.status == ApprovalStatus.EXPIRED
        assert request.decided_at == NOW + timedelta(hours=24)
        assert request.approver is None and request.decision_comment == ""
        assert request.execution_status == ExecutionStatus.NOT_STARTED
    for request in (low, medium):
        assert stored(request).status == ApprovalStatus.PENDING
        assert request.decided_at is None
    assert stored(approved).status == ApprovalStatus.APPROVED
    assert approved.decided_at == NOW + timedelta(hours=1)
    assert approved.execution_status == ExecutionStatus.QUEUED
    assert stored(rejected).status == ApprovalStatus.REJECTED
    assert rejected.decided_at == NOW + timedelta(hours=1)

    assert approvals_expire_overdue() == 0  # running again changes nothing
    assert stored(high).decided_at == NOW + timedelta(hours=24)

    clock.now = NOW + timedelta(hours=72)
    assert approvals_expire_overdue() == 2
    assert {stored(r).status for r in (low, medium)} == {ApprovalStatus.EXPIRED}


def test_the_job_takes_an_explicit_now(file_request, clock):
    request = file_request(risk=RiskLevel.CRITICAL)
    assert approvals_expire_overdue(now=NOW + timedelta(hours=4) - timedelta(seconds=1)) == 0
    assert stored(request).status == ApprovalStatus.PENDING
    assert approvals_expire_overdue(now=NOW + timedelta(hours=4)) == 1
    assert stored(request).status == ApprovalStatus.EXPIRED
    assert request.decided_at == NOW + timedelta(hours=4)


def test_the_task_runs_the_job_through_django_q(file_request, clock):
    request = file_request(risk=RiskLevel.CRITICAL)
    clock.now = NOW + timedelta(hours=5)
    assert tasks.expire_overdue() == 1
    assert stored(request).status == ApprovalStatus.EXPIRED

    later = file_request(risk=RiskLevel.CRITICAL)
    clock.now += timedelta(hours=5)
    async_task("approvals.tasks.expire_overdue")  # sync in the test settings: runs here and now
    assert stored(later).status == ApprovalStatus.EXPIRED


def test_setup_schedules_upserts_the_expiry_job(db):
    Schedule.objects.filter(name=SCHEDULE_NAME).delete()
    call_command("setup_schedules")
    call_command("setup_schedules")
    job = Schedule.objects.get(name=SCHEDULE_NAME)
    assert job.func == "approvals.tasks.expire_overdue"
    assert job.schedule_type == Schedule.MINUTES
    assert job.minutes == 5
    assert job.repeats == -1

    Schedule.objects.filter(name=SCHEDULE_NAME).update(minutes=60, func="approvals.tasks.gone")
    call_command("setup_schedules")
    assert Schedule.objects.filter(name=SCHEDULE_NAME).count() == 1
    job.refresh_from_db()
    assert (job.func, job.minutes) == ("approvals.tasks.expire_overdue", 5)


# --- a decision that comes too late --------------------------------------------------------------------


@pytest.mark.parametrize("late_by", [timedelta(0), timedelta(minutes=1), timedelta(days=3)])
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_deciding_an_expired_request_is_refused_and_it_ends_expired(file_request, admin_user, clock, decision, late_by):
    request = file_request(risk=RiskLevel.HIGH)
    clock.now = request.expires_at + late_by

    with pytest.raises(AlreadyDecided) as excinfo:
        if decision == "approve":
            approval_approve(user=admin_user, request_id=request.pk, comment="Sorry, I was away.")
        else:
            approval_reject(user=admin_user, request_id=request.pk, comment="Sorry, I was away.")
    assert excinfo.value.message == (
        "This request expired before it was decided; file a new one if it is still needed."
    )

    request = stored(request)
    assert request.status == ApprovalStatus.EXPIRED  # committed although the decision was refused
    assert request.decided_at == clock.now
    assert request.approver is None
    assert request.decision_comment == ""
    assert request.execution_status == ExecutionStatus.NOT_STARTED

    with pytest.raises(AlreadyDecided, match="already expired"):
        approval_approve(user=admin_user, request_id=request.pk)
    assert approvals_expire_overdue() == 0


def test_a_decision_a_moment_before_expiry_counts(file_request, super_admin, clock):
    request = file_request(risk=RiskLevel.CRITICAL)
    clock.now = request.expires_at - timedelta(seconds=1)
    approval_approve(user=super_admin, request_id=request.pk)
    assert stored(request).status == ApprovalStatus.APPROVED
    clock.now = request.expires_at + timedelta(hours=1)
    assert approvals_expire_overdue() == 0
    assert stored(request).status == ApprovalStatus.APPROVED


def test_a_refused_decider_on_a_live_request_does_not_expire_it(file_request, make_user, clock):
    request = file_request(risk=RiskLevel.HIGH)
    clock.now = request.expires_at - timedelta(minutes=1)
    with pytest.raises(PermissionRefused):
        approval_approve(user=make_user(Role.LAB), request_id=request.pk)
    assert stored(request).status == ApprovalStatus.PENDING
