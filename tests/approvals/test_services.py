"""The approval gate's services: creation with payload validation, and every move of both state machines.

Status: PENDING -> APPROVED | REJECTED | EXPIRED, and a decided request never changes again.
Execution: not_started -> queued (approve) -> running (a worker's claim) -> succeeded | failed, and only an
admin's retry moves failed -> queued. Every move here goes through approvals.services.
"""

import json
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.choices import Role
from approvals import registry, services
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import (
    AlreadyDecided,
    approval_approve,
    approval_execute,
    approval_reject,
    approval_request_create,
    approval_retry_execution,
    approvals_expire_overdue,
)
from spotopt.errors import Conflict, DomainError, NotFound, PermissionRefused
from tests.helpers import FROZEN_NOW as NOW

GOOD_PAYLOADS = {
    ActionType.SWITCH_INSTANCE: {
        "instance_id": "i-0123456789abcdef0",
        "target_instance_type": "m5.large",
        "target_availability_zone": "us-east-1a",
        "current_hourly_price": "0.096",
        "target_hourly_price": 0.031,
        "reason": "Spot is 68% cheaper in this pool.",
    },
    ActionType.TERMINATE_ROGUE: {
        "instance_id": "i-0abc1234",
        "region": "eu-west-1",
        "flagged_at": "2026-11-01T10:00:00Z",
        "reason": "No owner tag.",
    },
    ActionType.DELETE_WASTE: {
        "resources": [
            {
                "waste_resource_id": "6f1c1c3e-0d5e-4c4b-9b0a-2f7d3c0a9e11",
                "resource_type": "ebs_volume",
                "resource_id": "vol-0123456789abcdef0",
                "region": "us-gov-west-1",
                "monthly_cost": "8.00",
                "reason": "unattached since 2026-10-02 at the latest, 100 GiB gp3",
            }
        ],
        "total_monthly_cost": "8.00",
    },
}

TERMINATE = {"instance_id": "i-0abc1234", "region": "us-east-1"}


@pytest.fixture
def owner_account(client_user, make_account):
    return make_account(client_user)


@pytest.fixture
def file_request(client_user, owner_account):
    def file(**overrides):
        fields = {
            "action_type": ActionType.TERMINATE_ROGUE,
            "payload": dict(TERMINATE),
            "risk_level": RiskLevel.MEDIUM,
            "requester": client_user,
            "account": owner_account,
        }
        fields.update(overrides)
        return approval_request_create(**fields)

    return file


def row(request) -> dict:
    """Everything a decision or an execution may change, as stored."""
    request.refresh_from_db()
    return {
        field: getattr(request, field)
        for field in (
            "status",
            "approver_id",
            "decided_at",
            "decision_comment",
            "execution_status",
            "execution_attempts",
            "execution_error",
            "execution_result",
        )
    }


# --- creation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action_type", list(GOOD_PAYLOADS))
def test_a_good_payload_of_each_action_type_is_accepted_and_stored_as_validated_json(
    file_request, client_user, owner_account, clock, action_type, django_capture_on_commit_callbacks
):
    payload = {**GOOD_PAYLOADS[action_type], "not_in_the_schema": "dropped"}
    with django_capture_on_commit_callbacks() as callbacks:
        request = file_request(action_type=action_type, payload=payload, risk_level=RiskLevel.HIGH)

    request.refresh_from_db()
    assert request.action_type == action_type
    assert request.status == ApprovalStatus.PENDING
    assert request.execution_status == ExecutionStatus.NOT_STARTED
    assert request.requester == client_user
    assert request.account == owner_account
    assert request.risk_level == RiskLevel.HIGH
    assert request.expires_at == NOW + timedelta(hours=24)
    assert request.approver is None and request.decided_at is None
    # Stored as plain JSON: only the schema's fields, in JSON types.
    stored = request.action_payload
    assert json.loads(json.dumps(stored)) == stored
    assert "not_in_the_schema" not in stored
    assert set(stored) <= set(payload) | {"target_lifecycle", "final_snapshot"}  # the schemas' defaults
    assert len(callbacks) == 1  # the approvers are notified once the request is committed


def test_validated_payload_values_are_normalised(file_request):
    switch = file_request(action_type=ActionType.SWITCH_INSTANCE, payload=GOOD_PAYLOADS[ActionType.SWITCH_INSTANCE])
    assert switch.action_payload["target_lifecycle"] == "spot"  # the default
    assert Decimal(switch.action_payload["current_hourly_price"]) == Decimal("0.096")
    assert Decimal(switch.action_payload["target_hourly_price"]) == Decimal("0.031")

    waste = file_request(action_type=ActionType.DELETE_WASTE, payload=GOOD_PAYLOADS[ActionType.DELETE_WASTE])
    (item,) = waste.action_payload["resources"]
    assert uuid.UUID(item["waste_resource_id"]) == uuid.UUID("6f1c1c3e-0d5e-4c4b-9b0a-2f7d3c0a9e11")
    assert Decimal(item["monthly_cost"]) == Decimal("8")
    assert waste.action_payload["final_snapshot"] is True  # the default

    rogue = file_request(action_type=ActionType.TERMINATE_ROGUE, payload=GOOD_PAYLOADS[ActionType.TERMINATE_ROGUE])
    assert rogue.action_payload["flagged_at"].startswith("2026-11-01")


def test_the_account_is_taken_from_the_instance(client_user, make_account, make_instance):
    account = make_account(client_user)
    instance = make_instance(account)
    request = approval_request_create(
        action_type=ActionType.TERMINATE_ROGUE,
        payload={"instance_id": instance.instance_id, "region": "us-east-1"},
        instance=instance,
    )
    assert request.account == account
    assert request.requester is None  # filed by spotopt itself
    request.refresh_from_db()
    assert request.instance_ref == instance.instance_id
    assert request.aws_account_ref == account.account_id


def _without(payload: dict, key: str) -> dict:
    return {k: v for k, v in payload.items() if k != key}


SWITCH, ROGUE, WASTE = (GOOD_PAYLOADS[t] for t in ActionType)


def _waste(**item) -> dict:
    """The good DELETE_WASTE batch with its one resource's fields changed."""
    return {**WASTE, "resources": [{**WASTE["resources"][0], **item}]}


BAD_PAYLOADS = [
    # (action type, payload, what the error must name)
    pytest.param(ActionType.SWITCH_INSTANCE, _without(SWITCH, "instance_id"), "instance_id", id="switch-no-instance"),
    pytest.param(ActionType.TERMINATE_ROGUE, _without(ROGUE, "instance_id"), "instance_id", id="rogue-no-instance"),
    pytest.param(ActionType.TERMINATE_ROGUE, {**ROGUE, "instance_id": "vol-0123"}, "instance_id", id="rogue-not-ec2"),
    pytest.param(ActionType.TERMINATE_ROGUE, {**ROGUE, "region": "us-east-1a"}, "region", id="rogue-az-not-region"),
    pytest.param(ActionType.TERMINATE_ROGUE, {**ROGUE, "region": "US-EAST-1"}, "region", id="rogue-region-case"),
    pytest.param(ActionType.DELETE_WASTE, _waste(region="useast1"), "resources[0].region", id="waste-region"),
    pytest.param(
        ActionType.SWITCH_INSTANCE,
        {**SWITCH, "target_availability_zone": "us-east-1"},
        "target_availability_zone",
        id="switch-region-not-az",
    ),
    pytest.param(ActionType.SWITCH_INSTANCE, {**SWITCH, "target_lifecycle": "reserved"}, "target_lifecycle", id="lc"),
    pytest.param(
        ActionType.DELETE_WASTE, _waste(monthly_cost="-0.01"), "resources[0].monthly_cost", id="waste-neg-cost"
    ),
    pytest.param(
        ActionType.SWITCH_INSTANCE, {**SWITCH, "target_hourly_price": -1}, "target_hourly_price", id="switch-neg-price"
    ),
    pytest.param(
        ActionType.DELETE_WASTE, _waste(resource_type="s3_bucket"), "resources[0].resource_type", id="waste-type"
    ),
    pytest.param(
        ActionType.DELETE_WASTE, _waste(waste_resource_id="42"), "resources[0].waste_resource_id", id="waste-uuid"
    ),
    pytest.param("REBOOT_INSTANCE", dict(ROGUE), "action type 'REBOOT_INSTANCE'", id="unknown-action-type"),
    pytest.param(ActionType.TERMINATE_ROGUE, ["i-0abc1234", "us-east-1"], "payload must be a JSON object", id="list"),
    pytest.param(ActionType.TERMINATE_ROGUE, "i-0abc1234", "payload must be a JSON object", id="string"),
    pytest.param(ActionType.DELETE_WASTE, {**WASTE, "resources": []}, "resources", id="waste-empty-batch"),
    pytest.param(ActionType.TERMINATE_ROGUE, None, "payload must be a JSON object", id="null"),
]


@pytest.mark.parametrize(("action_type", "payload", "named"), BAD_PAYLOADS)
def test_a_bad_payload_is_refused_naming_the_field_and_nothing_is_created(
    file_request, action_type, payload, named, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(DomainError) as excinfo:
        file_request(action_type=action_type, payload=payload)
    assert named in excinfo.value.message
    assert excinfo.value.code in ("invalid_payload", "invalid_action_type")
    assert not ApprovalRequest.objects.exists()
    assert callbacks == []  # nobody is notified about a request that does not exist


def test_missing_fields_are_all_named_with_the_action_type(file_request):
    with pytest.raises(DomainError) as excinfo:
        file_request(action_type=ActionType.SWITCH_INSTANCE, payload={})
    message = excinfo.value.message
    assert message.startswith("The payload of a SWITCH_INSTANCE request is not valid")
    for field in ("instance_id", "target_instance_type", "target_availability_zone"):
        assert field in message


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"risk_level": "EXTREME"}, "invalid_risk_level"),
        ({"expires_at": NOW}, "invalid_expiry"),
        ({"expires_at": NOW - timedelta(minutes=1)}, "invalid_expiry"),
    ],
)
def test_unknown_risk_or_an_expiry_in_the_past_is_refused(file_request, clock, overrides, code):
    with pytest.raises(DomainError) as excinfo:
        file_request(**overrides)
    assert excinfo.value.code == code
    assert not ApprovalRequest.objects.exists()


# --- status: PENDING -> APPROVED | REJECTED | EXPIRED, decided is final -----------------------------


def _approve(request, decider):
    return approval_approve(user=decider, request_id=request.pk, comment="Go ahead.")


def _reject(request, decider):
    return approval_reject(user=decider, request_id=request.pk, comment="Not during the sale.")


def _expire(request, decider):
    return approvals_expire_overdue(now=request.expires_at + timedelta(days=365))


DECISIONS = {"approve": _approve, "reject": _reject, "expire": _expire}
DECIDED_BY = {"approve": ApprovalStatus.APPROVED, "reject": ApprovalStatus.REJECTED, "expire": ApprovalStatus.EXPIRED}


@pytest.mark.parametrize("decision", list(DECISIONS))
def test_a_pending_request_can_be_approved_rejected_or_expired(file_request, admin_user, clock, decision):
    request = file_request()
    DECISIONS[decision](request, admin_user)
    stored = row(request)
    assert stored["status"] == DECIDED_BY[decision]
    assert stored["decided_at"] is not None
    assert stored["approver_id"] == (None if decision == "expire" else admin_user.pk)
    expected_execution = ExecutionStatus.QUEUED if decision == "approve" else ExecutionStatus.NOT_STARTED
    assert stored["execution_status"] == expected_execution


@pytest.mark.parametrize("then", list(DECISIONS))
@pytest.mark.parametrize("first", list(DECISIONS))
def test_a_decided_request_never_changes_again(file_request, admin_user, super_admin, clock, first, then):
    request = file_request()
    DECISIONS[first](request, admin_user)
    before = row(request)

    clock.now = NOW + timedelta(minutes=5)
    if then == "expire":
        assert DECISIONS[then](request, super_admin) == 0
    else:
        with pytest.raises(AlreadyDecided) as excinfo:
            DECISIONS[then](request, super_admin)
        assert excinfo.value.code == "already_decided"
        assert f"already {DECIDED_BY[first].label.lower()}" in excinfo.value.message

    assert row(request) == before


def test_already_decided_names_who_decided_and_when(file_request, admin_user, super_admin, clock):
    request = file_request()
    _approve(request, admin_user)
    with pytest.raises(AlreadyDecided) as excinfo:
        _reject(request, super_admin)
    assert excinfo.value.message == (
        f"This request was already approved by {admin_user.username} at {NOW:%Y-%m-%d %H:%M} UTC."
    )


def test_approve_records_approver_time_and_comment(file_request, admin_user, clock):
    request = file_request()
    clock.now = NOW + timedelta(hours=2)
    result = approval_approve(user=admin_user, request_id=request.pk, comment="  Looks safe.  ")
    request.refresh_from_db()
    assert result.pk == request.pk
    assert request.status == ApprovalStatus.APPROVED
    assert request.approver == admin_user
    assert request.decided_at == NOW + timedelta(hours=2)
    assert request.decision_comment == "Looks safe."
    assert request.execution_status == ExecutionStatus.QUEUED
    assert request.execution_queued_at == NOW + timedelta(hours=2)


def test_approve_without_a_comment_is_fine(file_request, admin_user, clock):
    request = file_request()
    approval_approve(user=admin_user, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert request.decision_comment == ""


def test_reject_records_approver_time_and_comment(file_request, admin_user, clock):
    request = file_request()
    clock.now = NOW + timedelta(minutes=30)
    approval_reject(user=admin_user, request_id=request.pk, comment="Wait until Monday.\n")
    request.refresh_from_db()
    assert request.status == ApprovalStatus.REJECTED
    assert request.approver == admin_user
    assert request.decided_at == NOW + timedelta(minutes=30)
    assert request.decision_comment == "Wait until Monday."
    assert request.execution_status == ExecutionStatus.NOT_STARTED


@pytest.mark.parametrize("comment", ["", "   \n\t", None])
def test_reject_needs_a_comment(file_request, admin_user, comment, django_capture_on_commit_callbacks):
    request = file_request()
    before = row(request)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(DomainError) as excinfo:
        approval_reject(user=admin_user, request_id=request.pk, comment=comment)
    assert excinfo.value.code == "comment_required"
    assert "comment is required" in excinfo.value.message
    assert row(request) == before
    assert callbacks == []


def test_a_refused_decider_changes_nothing(file_request, readonly_user, django_capture_on_commit_callbacks):
    request = file_request()
    before = row(request)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(PermissionRefused):
        approval_approve(user=readonly_user, request_id=request.pk)
    assert row(request) == before
    assert callbacks == []


def test_unknown_request_is_not_found(admin_user):
    missing = uuid.uuid4()
    with pytest.raises(NotFound):
        approval_approve(user=admin_user, request_id=missing)
    with pytest.raises(NotFound):
        approval_reject(user=admin_user, request_id=missing, comment="No.")
    with pytest.raises(NotFound):
        approval_retry_execution(user=admin_user, request_id=missing)
    assert approval_execute(request_id=missing) is None


def test_approving_queues_the_execution_and_the_requester_notice_after_commit(
    file_request, admin_user, monkeypatch, django_capture_on_commit_callbacks
):
    request = file_request()
    queued = []
    monkeypatch.setattr("spotopt.q.async_task", lambda func, *args, **kwargs: queued.append((func, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        _approve(request, admin_user)
    assert queued == [(services.EXECUTE_TASK, str(request.pk)), (services.NOTIFY_DECISION_TASK, str(request.pk))]

    queued.clear()
    other = file_request()
    with django_capture_on_commit_callbacks(execute=True):
        _reject(other, admin_user)
    assert queued == [(services.NOTIFY_DECISION_TASK, str(other.pk))]


# --- execution_status: not_started -> queued -> running -> succeeded | failed; failed -> queued by retry ----


@pytest.fixture
def executor(monkeypatch):
    """The TERMINATE_ROGUE executor: succeeds unless `executor.fail` is set; records what it saw."""

    class Executor:
        def __init__(self):
            self.fail = False
            self.seen = []  # the execution status stored while it ran, one per call

        def __call__(self, request):
            self.seen.append(ApprovalRequest.objects.get(pk=request.pk).execution_status)
            if self.fail:
                raise DomainError("The instance is protected against termination.")
            return {"terminated": request.action_payload["instance_id"]}

    fake = Executor()
    monkeypatch.setattr(registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", fake)
    return fake


def _in_state(state, *, file_request, admin_user, executor):
    """A request whose execution is in `state`, reached through the services."""
    request = file_request()
    if state == "rejected":
        _reject(request, admin_user)
        return request
    if state == "expired":
        _expire(request, admin_user)
        return request
    if state == ExecutionStatus.NOT_STARTED:
        return request
    _approve(request, admin_user)
    if state == ExecutionStatus.RUNNING:
        # What a worker's claim does (approval_execute's conditional UPDATE), without finishing.
        ApprovalRequest.objects.filter(pk=request.pk).update(execution_status=ExecutionStatus.RUNNING)
    elif state in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
        executor.fail = state == ExecutionStatus.FAILED
        approval_execute(request_id=request.pk)
        executor.fail = False
    request.refresh_from_db()
    assert request.execution_status == state
    return request


EXECUTION_MOVES = [
    # (where the execution is, what is tried, where it ends; None = refused or nothing done)
    ("not_started", "execute", None),
    ("not_started", "retry", None),
    ("rejected", "execute", None),
    ("rejected", "retry", None),
    ("expired", "execute", None),
    ("expired", "retry", None),
    ("queued", "execute", "succeeded"),
    ("queued", "retry", None),
    ("running", "execute", None),
    ("running", "retry", None),
    ("succeeded", "execute", None),
    ("succeeded", "retry", None),
    ("failed", "execute", None),
    ("failed", "retry", "queued"),
]


@pytest.mark.parametrize(("state", "action", "ends"), EXECUTION_MOVES)
def test_execution_moves_through_the_services(file_request, admin_user, executor, clock, state, action, ends):
    request = _in_state(state, file_request=file_request, admin_user=admin_user, executor=executor)
    before = row(request)
    calls_before = len(executor.seen)

    if action == "execute":
        result = approval_execute(request_id=request.pk)
        if ends is None:
            assert result is None  # nothing to execute: the row is left alone
    else:
        if ends is None:
            with pytest.raises(Conflict) as excinfo:
                approval_retry_execution(user=admin_user, request_id=request.pk)
            assert excinfo.value.code == "not_retryable"
            shown = ExecutionStatus(before["execution_status"]).label.lower()
            assert excinfo.value.message == f"Only a failed execution can be retried; this one is {shown}."
        else:
            approval_retry_execution(user=admin_user, request_id=request.pk)

    after = row(request)
    if ends is None:
        assert after == before
        assert len(executor.seen) == calls_before
    else:
        assert after["execution_status"] == ends
        assert after["status"] == ApprovalStatus.APPROVED


def test_a_worker_claims_queued_as_running_before_the_executor_runs(file_request, admin_user, executor, clock):
    request = file_request()
    _approve(request, admin_user)
    clock.now = NOW + timedelta(minutes=1)
    done = approval_execute(request_id=request.pk)
    assert executor.seen == [ExecutionStatus.RUNNING]
    assert done.execution_status == ExecutionStatus.SUCCEEDED
    done.refresh_from_db()
    assert done.execution_started_at == NOW + timedelta(minutes=1)
    assert done.execution_finished_at == NOW + timedelta(minutes=1)
    assert done.execution_result == {"terminated": "i-0abc1234"}
    assert done.execution_attempts == 1


def test_retry_moves_failed_to_queued_and_clears_the_error(file_request, admin_user, executor, clock):
    request = _in_state(ExecutionStatus.FAILED, file_request=file_request, admin_user=admin_user, executor=executor)
    assert request.execution_error == "The instance is protected against termination."
    clock.now = NOW + timedelta(hours=1)
    approval_retry_execution(user=admin_user, request_id=request.pk)
    request.refresh_from_db()
    assert request.execution_status == ExecutionStatus.QUEUED
    assert request.execution_error == ""
    assert request.execution_queued_at == NOW + timedelta(hours=1)
    assert request.execution_attempts == 1  # counted when it runs, not when queued


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.SUPER_ADMIN, True), (Role.ADMIN, True), (Role.CLIENT, False), (Role.USER, False), (Role.LAB, False)],
)
def test_only_admins_retry(file_request, admin_user, executor, make_user, clock, role, allowed):
    request = _in_state(ExecutionStatus.FAILED, file_request=file_request, admin_user=admin_user, executor=executor)
    who = make_user(role)
    if allowed:
        approval_retry_execution(user=who, request_id=request.pk)
        request.refresh_from_db()
        assert request.execution_status == ExecutionStatus.QUEUED
    else:
        with pytest.raises(PermissionRefused, match="Only admins can retry"):
            approval_retry_execution(user=who, request_id=request.pk)
        request.refresh_from_db()
        assert request.execution_status == ExecutionStatus.FAILED
