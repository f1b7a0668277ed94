"""The approval gate's background work goes through django-q2 for real: a real broker, a real worker.

With sync off, approving puts the execution task into the configured broker (the Django ORM by default,
Redis when REDIS_URL is set: django-q2 picks the broker from settings when it is imported), and a
`manage.py qcluster` subprocess on the same (test) database processes it.

The worker only has what INSTALLED_APPS register, not this process's monkeypatches; so the execution
test uses an action type that has no executor and checks that the worker recorded that failure. The
expiry test queues the expiry job with async_task and checks that the worker expired the request.

Marked `taskqueue`; they need PostgreSQL (the worker cannot share pytest's SQLite test database) and are
skipped on SQLite. CI runs them on PostgreSQL with the ORM broker and again with Redis
(`REDIS_URL=... pytest -m taskqueue`).
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from accounts.choices import Role
from approvals import registry
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import EXECUTE_TASK, NOTIFY_DECISION_TASK, approval_approve, approval_request_create

pytestmark = [pytest.mark.taskqueue, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 30

PAYLOADS = {
    ActionType.SWITCH_INSTANCE: {
        "instance_id": "i-0abc1234",
        "target_instance_type": "m5.large",
        "target_availability_zone": "us-east-1a",
    },
    ActionType.DELETE_WASTE: {
        "waste_resource_id": "6f1c1c3e-0d5e-4c4b-9b0a-2f7d3c0a9e11",
        "resource_type": "elastic_ip",
        "resource_id": "eipalloc-0123456789abcdef0",
        "region": "us-east-1",
    },
}


@pytest.fixture
def broker(monkeypatch):
    """The configured broker, emptied, with sync off so async_task really enqueues."""
    monkeypatch.setattr(Conf, "SYNC", False)
    broker = get_broker()
    expected = "Redis" if os.environ.get("REDIS_URL") else "ORM"
    assert type(broker).__name__ == expected, f"django-q2 uses {broker.info()}, expected the {expected} broker"
    broker.purge_queue()  # a Redis list survives between runs; the ORM queue is in the fresh test database
    yield broker
    broker.purge_queue()


def queued(broker) -> list[tuple[str, tuple]]:
    """(func, args) of every task waiting in the broker, read without taking them."""
    if type(broker).__name__ == "ORM":
        payloads = OrmQ.objects.filter(key=broker.list_key).values_list("payload", flat=True)
    else:
        payloads = broker.connection.lrange(broker.list_key, 0, -1)
    tasks = [SignedPackage.loads(payload) for payload in payloads]
    return sorted((task["func"], tuple(task["args"])) for task in tasks)


def _worker_env() -> dict:
    """The environment of `manage.py qcluster`: production settings, the test database, one worker."""
    db = connection.settings_dict
    url = urlsplit(os.environ["DATABASE_URL"])
    env = {**os.environ}
    env.pop("Q_SYNC", None)
    env.update(
        DJANGO_SETTINGS_MODULE="spotopt.settings",
        DATABASE_URL=urlunsplit(url._replace(path=f"/{db['NAME']}")),
        Q_WORKERS="1",
        DEBUG="true",  # the development SECRET_KEY, which signs the task packages, like this process
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_worker(log_path):
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the worker is stopped
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=settings.BASE_DIR,
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the cluster forks a sentinel, workers, a monitor
    )
    process.log = log
    return process


def _stop_worker(process):
    try:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    finally:
        process.log.close()


def _wait_for(condition, process, log_path, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    log = log_path.read_text(errors="replace")[-4000:]
    pytest.fail(f"the worker did not {what} within {WAIT_SECONDS} s (exit code {process.poll()}):\n{log}")


def _action_without_executor() -> str:
    for action_type in PAYLOADS:
        if registry.ACTIONS[action_type].executor is None:
            return action_type
    pytest.skip("every action type has an executor now: this test must not let a worker act on AWS")


def test_approving_queues_the_execution_in_the_broker_and_a_real_worker_runs_it(
    broker, make_user, make_account, tmp_path
):
    action_type = _action_without_executor()
    owner, admin = make_user(Role.CLIENT), make_user(Role.ADMIN)
    request = approval_request_create(
        action_type=action_type,
        payload=PAYLOADS[action_type],
        risk_level=RiskLevel.HIGH,
        requester=None,  # spotopt's own request: the decision email has nobody to go to
        account=make_account(owner),
    )
    broker.purge_queue()  # keep only what the decision queues (creation queued the approvers' email)

    approval_approve(user=admin, request_id=request.pk, comment="Go.")

    request.refresh_from_db()
    assert request.execution_status == ExecutionStatus.QUEUED  # nothing ran in this process
    assert queued(broker) == [(EXECUTE_TASK, (str(request.pk),)), (NOTIFY_DECISION_TASK, (str(request.pk),))]
    assert broker.queue_size() == 2

    log_path = tmp_path / "qcluster.log"
    worker = _start_worker(log_path)
    try:

        def executed():
            return ApprovalRequest.objects.get(pk=request.pk).execution_status == ExecutionStatus.FAILED

        _wait_for(executed, worker, log_path, "run the execution")
        _wait_for(lambda: Task.objects.filter(func=EXECUTE_TASK).exists(), worker, log_path, "save the result")
        _wait_for(lambda: broker.queue_size() == 0, worker, log_path, "empty the queue")
    finally:
        _stop_worker(worker)

    request.refresh_from_db()
    assert request.status == ApprovalStatus.APPROVED
    assert request.execution_status == ExecutionStatus.FAILED
    assert request.execution_error == (
        f"No executor is registered for {action_type}: this installation cannot perform that action yet."
    )
    assert request.execution_attempts == 1
    assert request.execution_started_at is not None and request.execution_finished_at is not None
    task = Task.objects.get(func=EXECUTE_TASK)
    assert task.args == (str(request.pk),)
    assert task.success is True
    assert task.result == ExecutionStatus.FAILED


def test_the_expiry_job_queued_with_async_task_is_processed_by_a_real_worker(broker, make_approval, tmp_path):
    overdue = make_approval(expires_at=timezone.now() - timedelta(minutes=1))
    not_due = make_approval(expires_at=timezone.now() + timedelta(hours=1))

    async_task("approvals.tasks.expire_overdue")
    assert queued(broker) == [("approvals.tasks.expire_overdue", ())]
    overdue.refresh_from_db()
    assert overdue.status == ApprovalStatus.PENDING  # nothing ran in this process

    log_path = tmp_path / "qcluster.log"
    worker = _start_worker(log_path)
    try:

        def expired():
            return ApprovalRequest.objects.get(pk=overdue.pk).status == ApprovalStatus.EXPIRED

        _wait_for(expired, worker, log_path, "expire the overdue request")
        _wait_for(
            lambda: Task.objects.filter(func="approvals.tasks.expire_overdue").exists(),
            worker,
            log_path,
            "save the result",
        )
    finally:
        _stop_worker(worker)

    overdue.refresh_from_db()
    not_due.refresh_from_db()
    assert overdue.status == ApprovalStatus.EXPIRED
    assert overdue.decided_at is not None
    assert not_due.status == ApprovalStatus.PENDING
    assert Task.objects.get(func="approvals.tasks.expire_overdue").result == 1
