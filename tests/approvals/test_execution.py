"""Executing an approved request through its registered executor: the result or the error is recorded,
a failure is retried by an admin, and nothing ever runs twice.

The executor is replaced by monkeypatching approvals.registry.ACTIONS[...].executor. Tasks run inline
(django-q2 sync in the test settings) once the transaction commits.
"""

import pytest

from accounts.choices import Role
from approvals import registry, tasks
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import (
    approval_approve,
    approval_execute,
    approval_reject,
    approval_request_create,
    approval_retry_execution,
)
from spotopt.errors import Conflict, DomainError
from tests.approvals.payloads import waste_payload

PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}


class FakeExecutor:
    """Records every call; does whatever `behaviour` says (return a dict, raise, or call back in)."""

    def __init__(self):
        self.calls = []
        self.behaviour = lambda request: {"terminated": request.action_payload["instance_id"]}

    def __call__(self, request):
        self.calls.append(request.pk)
        return self.behaviour(request)


@pytest.fixture
def executor(monkeypatch):
    fake = FakeExecutor()
    monkeypatch.setattr(registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", fake)
    return fake


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def approved(client_user, make_account, admin_user, committed):
    """Approve a fresh request; with run=True the queued execution runs as the worker would (inline)."""

    def approve(run=True, action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD):
        request = approval_request_create(
            action_type=action_type,
            payload=payload,
            risk_level=RiskLevel.HIGH,
            requester=client_user,
            account=make_account(client_user),
        )
        if run:
            with committed():
                approval_approve(user=admin_user, request_id=request.pk, comment="Go.")
        else:
            approval_approve(user=admin_user, request_id=request.pk, comment="Go.")
        request.refresh_from_db()
        return request

    return approve


def test_approval_runs_the_executor_once_and_records_the_result(approved, executor):
    request = approved()

    assert executor.calls == [request.pk]
    assert request.status == ApprovalStatus.APPROVED
    assert request.execution_status == ExecutionStatus.SUCCEEDED
    assert request.execution_result == {"terminated": "i-0abc1234"}
    assert request.execution_error == ""
    assert request.execution_attempts == 1
    assert request.execution_queued_at <= request.execution_started_at <= request.execution_finished_at


def test_the_executor_gets_the_request_with_its_payload_account_and_instance(
    client_user, make_account, make_instance, admin_user, executor, committed
):
    account = make_account(client_user)
    instance = make_instance(account)
    seen = {}

    def look(request):
        seen.update(
            payload=request.action_payload,
            account=request.account,
            instance=request.instance,
            status=ApprovalRequest.objects.get(pk=request.pk).execution_status,
        )
        return {}

    executor.behaviour = look
    request = approval_request_create(
        action_type=ActionType.TERMINATE_ROGUE,
        payload={"instance_id": instance.instance_id, "region": "us-east-1"},
        instance=instance,
    )
    with committed():
        approval_approve(user=admin_user, request_id=request.pk)
    assert seen == {
        "payload": {"instance_id": instance.instance_id, "region": "us-east-1"},
        "account": account,
        "instance": instance,
        "status": ExecutionStatus.RUNNING,
    }


def test_an_executor_returning_nothing_records_an_empty_result(approved, executor):
    executor.behaviour = lambda request: None
    request = approved()
    assert request.execution_status == ExecutionStatus.SUCCEEDED
    assert request.execution_result == {}


def _refuse(request):
    raise DomainError("The instance has termination protection on; turn it off and retry.")


def _crash(request):
    raise RuntimeError("KeyError in boto3 glue, secret=AKIAEXAMPLE")


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (_refuse, "The instance has termination protection on; turn it off and retry."),
        (_crash, "The action failed unexpectedly (RuntimeError)."),
    ],
    ids=["domain-error", "unexpected-exception"],
)
def test_a_failing_executor_is_recorded_as_failed_with_the_error(approved, executor, behaviour, error):
    executor.behaviour = behaviour
    request = approved()

    assert executor.calls == [request.pk]
    assert request.status == ApprovalStatus.APPROVED
    assert request.execution_status == ExecutionStatus.FAILED
    assert request.execution_error == error
    assert "AKIAEXAMPLE" not in request.execution_error  # an exception's text never reaches the user
    assert request.execution_result == {}
    assert request.execution_attempts == 1
    assert request.execution_finished_at is not None


@pytest.mark.parametrize("behaviour", [_refuse, _crash], ids=["domain-error", "unexpected-exception"])
def test_a_failure_retried_once_by_an_admin_succeeds(approved, executor, make_user, committed, behaviour):
    executor.behaviour = behaviour
    request = approved()
    assert request.execution_status == ExecutionStatus.FAILED

    executor.behaviour = lambda request: {"terminated": "i-0abc1234", "on": "retry"}
    with committed():
        approval_retry_execution(user=make_user(Role.ADMIN), request_id=request.pk)
    request.refresh_from_db()

    assert request.execution_status == ExecutionStatus.SUCCEEDED
    assert request.execution_result == {"terminated": "i-0abc1234", "on": "retry"}
    assert request.execution_error == ""
    assert request.execution_attempts == 2
    assert executor.calls == [request.pk, request.pk]  # exactly twice in total


def test_a_retry_that_fails_again_counts_the_attempt(approved, executor, admin_user, committed):
    executor.behaviour = _refuse
    request = approved()
    with committed():
        approval_retry_execution(user=admin_user, request_id=request.pk)
    request.refresh_from_db()
    assert request.execution_status == ExecutionStatus.FAILED
    assert request.execution_attempts == 2
    assert request.execution_error.startswith("The instance has termination protection on")
    assert len(executor.calls) == 2


def test_executing_again_after_success_does_nothing(approved, executor):
    request = approved()
    before = (request.execution_status, request.execution_attempts, request.execution_finished_at)

    assert approval_execute(request_id=request.pk) is None
    assert tasks.execute_approval(str(request.pk)) == "skipped"

    request.refresh_from_db()
    assert (request.execution_status, request.execution_attempts, request.execution_finished_at) == before
    assert executor.calls == [request.pk]


def test_a_duplicate_task_while_running_does_nothing(approved, executor):
    """A second delivery of the task (or a second worker) arrives while the first is still running."""
    request = approved(run=False)
    duplicate = {}

    def run_and_meet_a_duplicate(request):
        duplicate["returned"] = approval_execute(request_id=request.pk)
        duplicate["task"] = tasks.execute_approval(str(request.pk))
        return {"terminated": "i-0abc1234"}

    executor.behaviour = run_and_meet_a_duplicate
    done = approval_execute(request_id=request.pk)

    assert duplicate == {"returned": None, "task": "skipped"}
    assert executor.calls == [request.pk]
    assert done.execution_status == ExecutionStatus.SUCCEEDED
    assert done.execution_attempts == 1


def test_a_retry_while_running_is_refused(approved, executor, admin_user):
    request = approved(run=False)
    refused = {}

    def try_a_retry(request):
        with pytest.raises(Conflict) as excinfo:
            approval_retry_execution(user=admin_user, request_id=request.pk)
        refused["message"] = excinfo.value.message
        return {}

    executor.behaviour = try_a_retry
    approval_execute(request_id=request.pk)
    assert refused == {"message": "Only a failed execution can be retried; this one is running."}
    assert executor.calls == [request.pk]


def test_a_retry_after_success_is_refused(approved, executor, admin_user, committed):
    request = approved()
    with committed(), pytest.raises(Conflict, match="this one is succeeded"):
        approval_retry_execution(user=admin_user, request_id=request.pk)
    request.refresh_from_db()
    assert request.execution_status == ExecutionStatus.SUCCEEDED
    assert executor.calls == [request.pk]


def test_no_executor_registered_fails_with_a_clear_message(approved, monkeypatch):
    monkeypatch.setattr(registry.ACTIONS[ActionType.DELETE_WASTE], "executor", None)
    request = approved(
        action_type=ActionType.DELETE_WASTE,
        payload=waste_payload("eipalloc-0123456789abcdef0", "us-east-1", resource_type="elastic_ip"),
    )
    assert request.execution_status == ExecutionStatus.FAILED
    assert request.execution_error == (
        "No executor is registered for DELETE_WASTE: this installation cannot perform that action yet."
    )
    assert request.execution_attempts == 1


def test_only_an_approved_and_queued_request_is_executed(client_user, make_account, admin_user, executor):
    account = make_account(client_user)
    pending, rejected = (
        approval_request_create(action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, account=account)
        for _ in range(2)
    )
    approval_reject(user=admin_user, request_id=rejected.pk, comment="No.")
    for request in (pending, rejected):
        assert approval_execute(request_id=request.pk) is None
        assert tasks.execute_approval(str(request.pk)) == "skipped"
        request.refresh_from_db()
        assert request.execution_status == ExecutionStatus.NOT_STARTED
        assert request.execution_attempts == 0
    assert executor.calls == []


def test_the_task_reports_the_outcome(approved, executor):
    request = approved(run=False)
    assert tasks.execute_approval(str(request.pk)) == ExecutionStatus.SUCCEEDED
    executor.behaviour = _refuse
    other = approved(run=False)
    assert tasks.execute_approval(str(other.pk)) == ExecutionStatus.FAILED
