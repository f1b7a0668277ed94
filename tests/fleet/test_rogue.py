"""Rogue-instance enforcement against moto, with a frozen clock: an instance without an authorizing tag is
flagged at discovery, a TERMINATE_ROGUE approval request is filed once the grace period (24 h) is over,
and only an approved request terminates it (fleet.services.terminate_rogue_instance, the registered
executor). Tasks run inline (django-q2 sync in the test settings) once the transaction commits.
"""

from datetime import datetime, timedelta

import pytest

from accounts.choices import AccountStatus
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest
from approvals.services import approval_approve, approval_execute, approval_reject, approvals_expire_overdue
from approvals.tasks import execute_approval
from fleet.choices import AuthStatus
from fleet.models import Instance
from fleet.services import account_discover, rogue_enforce, terminate_rogue_instance
from tests.aws_fixtures import (
    CUSTOMER_ACCOUNT,
    REGION,
    AwsCalls,
    customer_session,
    moto,  # noqa: F401
)
from tests.helpers import FROZEN_NOW as T0

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("moto")]


@pytest.fixture
def calls(request):
    """Every AWS API call discovery and the executor make, by operation (after moto's session reset)."""
    request.getfixturevalue("moto")
    return AwsCalls().install()


MANAGED = {"ManagedBy": "SpotOptimizer"}


@pytest.fixture
def account(make_account, client_user):
    return make_account(
        client_user,
        account_id=CUSTOMER_ACCOUNT,
        role_arn=f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/SpotOptimizerCrossAccountRole",
        status=AccountStatus.CONNECTED,
        region=REGION,
        regions=[REGION],
    )


def ec2():
    return customer_session(CUSTOMER_ACCOUNT).client("ec2", region_name=REGION)


def launch(tags=None) -> str:
    kwargs = {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "InstanceType": "t3.micro"}
    if tags:
        kwargs["TagSpecifications"] = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
    return ec2().run_instances(**kwargs)["Instances"][0]["InstanceId"]


def tag(instance_id, tags):
    ec2().create_tags(Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def untag(instance_id, *keys):
    ec2().delete_tags(Resources=[instance_id], Tags=[{"Key": key} for key in keys])


def aws_state(instance_id) -> str:
    reservations = ec2().describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservations[0]["Instances"][0]["State"]["Name"]


def row(instance_id) -> Instance:
    return Instance.objects.get(instance_id=instance_id)


def requests():
    return ApprovalRequest.objects.filter(action_type=ActionType.TERMINATE_ROGUE).order_by("created_at")


@pytest.fixture
def rogue_with_request(account, clock):
    """An untagged instance flagged at T0 and its termination request, filed at T0 + 24 h."""
    rogue = launch()
    account_discover(account=account)
    clock.at(hours=24)
    account_discover(account=account)
    (request,) = requests()
    return rogue, request


def approve(request, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(user=user, request_id=request.pk, comment="Unknown instance: terminate.")
    request.refresh_from_db()
    return request


# --- Flag, grace period, request ----------------------------------------------------------------------


def test_an_untagged_instance_is_flagged_then_filed_for_termination_once_after_24_hours(account, clock):
    rogue, managed = launch(), launch(MANAGED)

    first = account_discover(account=account)

    assert first.flagged == 1
    assert row(rogue).auth_status == AuthStatus.FLAGGED
    assert row(rogue).flagged_at == T0
    assert row(managed).auth_status == AuthStatus.AUTHORIZED
    assert row(managed).flagged_at is None
    assert not requests().exists()

    clock.at(hours=23)
    before = account_discover(account=account)
    assert (before.flagged, before.rogue_requests) == (0, 0)
    assert row(rogue).auth_status == AuthStatus.FLAGGED
    assert row(rogue).flagged_at == T0  # the grace period does not restart
    assert not requests().exists()

    clock.at(hours=24)  # exactly the grace period
    due = account_discover(account=account)

    assert due.rogue_requests == 1
    (request,) = requests()
    assert request.status == ApprovalStatus.PENDING
    assert request.risk_level == RiskLevel.HIGH
    assert request.requester is None  # filed by spotopt itself
    assert request.instance == row(rogue)
    assert request.account == account
    assert request.action_payload["instance_id"] == rogue
    assert request.action_payload["region"] == REGION
    assert "24 hours" in request.action_payload["reason"]
    assert request.expires_at == T0 + timedelta(hours=24 + 24)  # HIGH requests wait 24 h for a decision
    # Nothing is terminated without a decision.
    assert aws_state(rogue) == "running"
    assert row(rogue).auth_status == AuthStatus.FLAGGED

    clock.advance(minutes=15)
    assert account_discover(account=account).rogue_requests == 0
    clock.advance(hours=5)
    assert rogue_enforce(account=account, now=clock.now) == (0, 0, 0)
    assert requests().count() == 1  # no duplicate while one is pending


def test_rogue_enforce_takes_the_time_it_is_given(account, clock):
    rogue = launch()
    account_discover(account=account)
    assert rogue_enforce(account=account, now=T0 + timedelta(hours=23, minutes=59)) == (0, 0, 0)
    assert rogue_enforce(account=account, now=T0 + timedelta(hours=24)) == (0, 0, 1)
    assert requests().get().instance == row(rogue)


def test_tagging_re_authorizes_and_a_later_flag_starts_a_new_grace_period(account, clock):
    rogue = launch()
    account_discover(account=account)
    assert row(rogue).flagged_at == T0

    clock.at(hours=2)
    tag(rogue, MANAGED)
    result = account_discover(account=account)

    assert result.reauthorized == 1
    assert row(rogue).auth_status == AuthStatus.AUTHORIZED
    assert row(rogue).flagged_at is None

    clock.at(hours=10)
    untag(rogue, "ManagedBy")
    assert account_discover(account=account).flagged == 1
    assert row(rogue).auth_status == AuthStatus.FLAGGED
    assert row(rogue).flagged_at == T0 + timedelta(hours=10)

    clock.at(hours=25)  # the first flag's grace period would be over; the new one is not
    assert account_discover(account=account).rogue_requests == 0
    clock.at(hours=34)
    assert account_discover(account=account).rogue_requests == 1
    flagged_at = requests().get().action_payload["flagged_at"]
    assert datetime.fromisoformat(flagged_at) == T0 + timedelta(hours=10)


def test_an_instance_gone_before_the_grace_period_ends_gets_no_request(account, clock):
    rogue = launch()
    account_discover(account=account)
    clock.at(hours=1)
    ec2().terminate_instances(InstanceIds=[rogue])
    clock.at(hours=25)
    result = account_discover(account=account)
    assert result.deactivated == 1
    assert result.rogue_requests == 0
    assert not requests().exists()
    assert not row(rogue).is_active


def test_after_a_request_expires_a_new_one_is_filed(account, clock, rogue_with_request):
    clock.at(hours=48)
    assert approvals_expire_overdue() == 1
    clock.advance(minutes=15)
    assert account_discover(account=account).rogue_requests == 1
    assert [r.status for r in requests()] == [ApprovalStatus.EXPIRED, ApprovalStatus.PENDING]


def test_a_rejected_request_is_not_filed_again_for_the_same_flagging(
    account, clock, rogue_with_request, admin_user, make_user
):
    rogue, request = rogue_with_request
    approval_reject(user=admin_user, request_id=request.pk, comment="Known box, leave it.")
    for hours in (25, 30, 72):
        clock.at(hours=hours)
        assert account_discover(account=account).rogue_requests == 0
    assert [r.status for r in requests()] == [ApprovalStatus.REJECTED]
    assert row(rogue).auth_status == AuthStatus.FLAGGED


def test_the_authorizing_tags_setting_is_honoured(account, clock, settings):
    settings.FLEET_AUTHORIZING_TAGS = ["Team", "ManagedBy=SpotOptimizer"]
    by_team = launch({"Team": "payments"})
    by_team_empty = launch({"Team": ""})
    by_managed = launch(MANAGED)
    managed_by_other = launch({"ManagedBy": "Other"})
    eks_only = launch({"eks:cluster-name": "prod"})  # authorizing by default, not with this setting

    account_discover(account=account)

    statuses = {instance_id: row(instance_id).auth_status for instance_id in (by_team, by_team_empty, by_managed)}
    assert set(statuses.values()) == {AuthStatus.AUTHORIZED}
    assert row(managed_by_other).auth_status == AuthStatus.FLAGGED
    assert row(eks_only).auth_status == AuthStatus.FLAGGED

    clock.at(hours=24)
    account_discover(account=account)
    assert {r.action_payload["instance_id"] for r in requests()} == {managed_by_other, eks_only}
    assert "Team, ManagedBy=SpotOptimizer" in requests().first().action_payload["reason"]


# --- Approval and execution ---------------------------------------------------------------------------


def test_an_approved_request_terminates_the_instance_in_aws(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, calls
):
    rogue, request = rogue_with_request
    bystander = launch(MANAGED)
    account_discover(account=account)
    clock.advance(hours=1)

    request = approve(request, admin_user, django_capture_on_commit_callbacks)

    assert request.status == ApprovalStatus.APPROVED
    assert request.approver == admin_user
    assert request.execution_status == ExecutionStatus.SUCCEEDED, request.execution_error
    assert request.execution_result["instance_id"] == rogue
    assert request.execution_result["state"] in ("shutting-down", "terminated")
    assert aws_state(rogue) in ("shutting-down", "terminated")
    assert calls.named("TerminateInstances") == [{"InstanceIds": [rogue]}]
    terminated = row(rogue)
    assert terminated.auth_status == AuthStatus.TERMINATED
    assert not terminated.is_active
    assert aws_state(bystander) == "running"

    # Later discoveries leave the terminated row as it is and file nothing new.
    clock.advance(hours=30)
    result = account_discover(account=account)
    assert (result.flagged, result.rogue_requests, result.deactivated) == (0, 0, 0)
    assert row(rogue).auth_status == AuthStatus.TERMINATED
    assert requests().count() == 1


def test_executing_twice_does_not_terminate_twice(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, calls
):
    rogue, request = rogue_with_request
    request = approve(request, admin_user, django_capture_on_commit_callbacks)
    assert request.execution_status == ExecutionStatus.SUCCEEDED

    assert approval_execute(request_id=request.pk) is None  # nothing queued any more
    assert execute_approval(str(request.pk)) == "skipped"  # a duplicate task
    # The executor itself, called again, reports instead of terminating.
    request.refresh_from_db()
    assert terminate_rogue_instance(request) == {"instance_id": rogue, "state": "already terminated"}

    assert len(calls.named("TerminateInstances")) == 1
    request.refresh_from_db()
    assert request.execution_attempts == 1
    assert request.execution_status == ExecutionStatus.SUCCEEDED


def test_the_executor_refuses_an_instance_tagged_in_aws_after_it_was_flagged(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, calls
):
    # The owner tags it between two discoveries: spotopt's copy of the tags is stale, AWS is not.
    rogue, request = rogue_with_request
    tag(rogue, MANAGED)

    request = approve(request, admin_user, django_capture_on_commit_callbacks)

    assert request.execution_status == ExecutionStatus.FAILED
    assert "authorizing tag" in request.execution_error
    assert "not terminated" in request.execution_error
    assert calls.named("TerminateInstances") == []
    assert aws_state(rogue) == "running"
    assert row(rogue).auth_status == AuthStatus.FLAGGED
    # The next discovery re-authorizes it.
    account_discover(account=account)
    assert row(rogue).auth_status == AuthStatus.AUTHORIZED


def test_the_executor_refuses_an_instance_re_authorized_by_discovery_before_approval(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, calls
):
    rogue, request = rogue_with_request
    tag(rogue, MANAGED)
    clock.advance(minutes=15)
    account_discover(account=account)
    assert row(rogue).auth_status == AuthStatus.AUTHORIZED

    request = approve(request, admin_user, django_capture_on_commit_callbacks)

    assert request.execution_status == ExecutionStatus.FAILED
    assert "no longer flagged as rogue" in request.execution_error
    assert calls.named("TerminateInstances") == []
    assert aws_state(rogue) == "running"
    assert row(rogue).auth_status == AuthStatus.AUTHORIZED


def test_an_instance_already_terminated_in_aws_is_not_terminated_again(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, calls
):
    rogue, request = rogue_with_request
    ec2().terminate_instances(InstanceIds=[rogue])  # the owner was quicker

    request = approve(request, admin_user, django_capture_on_commit_callbacks)

    assert request.execution_status == ExecutionStatus.SUCCEEDED, request.execution_error
    assert request.execution_result == {"instance_id": rogue, "state": "already terminated"}
    assert calls.named("TerminateInstances") == []
    assert row(rogue).auth_status == AuthStatus.TERMINATED
    assert not row(rogue).is_active


def test_an_instance_aws_no_longer_knows_counts_as_terminated(
    account, clock, admin_user, rogue_with_request, django_capture_on_commit_callbacks, monkeypatch
):
    rogue, request = rogue_with_request
    # Long-terminated instances vanish from DescribeInstances: asking for one is InvalidInstanceID.NotFound.
    Instance.objects.filter(pk=request.instance_id).update(instance_id="i-0000000000000dead")
    request.action_payload["instance_id"] = "i-0000000000000dead"
    request.save(update_fields=["action_payload"])

    request = approve(request, admin_user, django_capture_on_commit_callbacks)

    assert request.execution_status == ExecutionStatus.SUCCEEDED, request.execution_error
    assert request.execution_result == {"instance_id": "i-0000000000000dead", "state": "already terminated"}
    assert row("i-0000000000000dead").auth_status == AuthStatus.TERMINATED
    assert aws_state(rogue) == "running"  # the instance in AWS under the old id was never touched
