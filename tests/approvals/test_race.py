"""Two people decide the same request at the same moment: the row lock decides, exactly one wins.

Real threads, real PostgreSQL transactions. The threads are released together by a barrier and call the
services; the policy check (which runs inside the decision's transaction, after the row is locked) is
slowed down a little, so without the lock both would read PENDING and both would "win".
"""

import threading
import time

import pytest
from django.db import connection

from accounts.choices import Role
from approvals import policy, registry, services
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import AlreadyDecided, approval_approve, approval_reject, approval_request_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 6
PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}


def _approve(user, request_id):
    return approval_approve(user=user, request_id=request_id, comment=f"Approved by {user.username}.")


def _reject(user, request_id):
    return approval_reject(user=user, request_id=request_id, comment=f"Rejected by {user.username}.")


@pytest.fixture
def executions(monkeypatch):
    """The executor the winning approval runs (inline, django-q2 sync), counting its calls."""
    calls = []
    lock = threading.Lock()

    def execute(request):
        with lock:
            calls.append(request.pk)
        return {"terminated": request.action_payload["instance_id"]}

    monkeypatch.setattr(registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", execute)
    return calls


@pytest.fixture
def slow_policy_check(monkeypatch):
    """Hold the lock holder inside its transaction for a moment, so the other decider really waits."""
    real = policy.decision_refusal

    def slow(user, request):
        time.sleep(0.15)
        return real(user, request)

    monkeypatch.setattr(services, "decision_refusal", slow)


def _race(deciders, request_id):
    """Run each (user, decide) in its own thread, all released at once; return {index: result or error}."""
    barrier = threading.Barrier(len(deciders))
    results: dict[int, object] = {}

    def attempt(index, user, decide):
        try:
            barrier.wait(timeout=20)
            results[index] = decide(user, request_id)
        except Exception as exc:  # the outcome is checked by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(i, user, decide), name=f"decider-{i}")
        for i, (user, decide) in enumerate(deciders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a decider is stuck"
    return results


def test_two_deciders_at_the_same_moment_exactly_one_wins(
    make_user, make_account, executions, slow_policy_check, mailoutbox
):
    requester = make_user(Role.CLIENT)
    account = make_account(requester)
    admin, other_admin, boss = make_user(Role.ADMIN), make_user(Role.ADMIN), make_user(Role.SUPER_ADMIN)
    pairings = [
        [(admin, _approve), (boss, _reject)],  # an admin approving, a super_admin rejecting
        [(admin, _approve), (other_admin, _approve)],  # two admins approving
        [(boss, _reject), (other_admin, _reject)],  # two rejections
    ]
    approved_rounds = 0

    for round_number in range(ROUNDS):
        deciders = pairings[round_number % len(pairings)]
        if round_number % 2:
            deciders = deciders[::-1]  # who starts first does not matter
        request = approval_request_create(
            action_type=ActionType.TERMINATE_ROGUE,
            payload=PAYLOAD,
            risk_level=RiskLevel.HIGH,
            requester=requester,
            account=account,
        )
        mailoutbox.clear()

        results = _race(deciders, request.pk)

        winners = [i for i, result in results.items() if isinstance(result, ApprovalRequest)]
        losers = [i for i, result in results.items() if isinstance(result, AlreadyDecided)]
        assert len(winners) == 1 and len(losers) == 1, f"round {round_number}: {results}"
        winner_user, winner_decide = deciders[winners[0]]
        loser_error = results[losers[0]]
        assert loser_error.code == "already_decided"
        assert f"by {winner_user.username}" in loser_error.message

        request.refresh_from_db()
        expected = ApprovalStatus.APPROVED if winner_decide is _approve else ApprovalStatus.REJECTED
        assert request.status == expected, f"round {round_number}"
        assert request.approver == winner_user
        assert request.decision_comment.endswith(f"by {winner_user.username}.")
        assert request.decided_at is not None
        # The loser queued nothing: one execution at most, and one email to the requester.
        if expected == ApprovalStatus.APPROVED:
            approved_rounds += 1
            assert request.execution_status == ExecutionStatus.SUCCEEDED
            assert request.execution_attempts == 1
        else:
            assert request.execution_status == ExecutionStatus.NOT_STARTED
        assert [message.to for message in mailoutbox] == [[requester.email]]

    assert len(executions) == approved_rounds
    assert ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count() == 0
