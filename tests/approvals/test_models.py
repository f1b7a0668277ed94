"""Database rules of approvals.ApprovalRequest: an audit trail with a one-way status."""

import pytest
from django.utils import timezone

from approvals.choices import ApprovalStatus
from approvals.models import ApprovalRequest
from spotopt.errors import TransitionNotAllowed
from tests.helpers import assert_update_rejected


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("status", "MAYBE", "approval_status_valid"),
        ("action_type", "REBOOT", "approval_action_type_valid"),
        ("risk_level", "EXTREME", "approval_risk_level_valid"),
    ],
)
def test_invalid_enum_values_are_rejected_by_the_database(make_approval, field, value, constraint):
    approval = make_approval(decided_at=timezone.now())
    assert_update_rejected(ApprovalRequest.objects.filter(pk=approval.pk), constraint, **{field: value})
    approval.refresh_from_db()
    assert getattr(approval, field) != value


@pytest.mark.parametrize("status", ["APPROVED", "REJECTED", "EXPIRED"])
def test_a_decided_request_must_record_when(make_approval, status):
    approval = make_approval()
    assert_update_rejected(ApprovalRequest.objects.filter(pk=approval.pk), "approval_decided_has_time", status=status)
    ApprovalRequest.objects.filter(pk=approval.pk).update(status=status, decided_at=timezone.now())
    approval.refresh_from_db()
    assert approval.status == status


def test_refs_are_recorded_from_account_and_instance(client_user, make_account, make_instance, make_approval):
    account = make_account(client_user, account_id="444455556666")
    instance = make_instance(account, instance_id="i-0abc0000000000001")
    approval = make_approval(account=account, instance=instance)
    approval.refresh_from_db()
    assert approval.aws_account_ref == "444455556666"
    assert approval.instance_ref == "i-0abc0000000000001"


def test_request_outlives_its_account_and_instance(client_user, make_account, make_instance, make_approval):
    account = make_account(client_user, account_id="777788889999")
    instance = make_instance(account, instance_id="i-0abc0000000000002")
    approval = make_approval(account=account, instance=instance, requester=client_user)

    instance.delete()
    approval.refresh_from_db()
    assert approval.instance_id is None
    assert approval.account_id == account.pk
    assert approval.instance_ref == "i-0abc0000000000002"

    account.delete()
    approval.refresh_from_db()
    assert approval.account_id is None
    assert approval.aws_account_ref == "777788889999"
    assert approval.requester_id == client_user.pk


def test_approval_move_is_saved_with_its_decision_time(make_approval, super_admin):
    approval = make_approval()
    approval.move_to(ApprovalStatus.APPROVED)
    approval.approver = super_admin
    approval.decided_at = timezone.now()
    approval.save()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED
    with pytest.raises(TransitionNotAllowed, match="from APPROVED to REJECTED; from APPROVED it can move to nothing"):
        approval.move_to(ApprovalStatus.REJECTED)


def test_refs_follow_a_request_moved_to_another_account(client_user, make_account, make_instance, make_approval):
    first, second = make_account(client_user), make_account(client_user)
    request = make_approval(account=first, instance=make_instance(first))
    request.account = second
    request.instance = make_instance(second)
    request.save()
    request.refresh_from_db()
    assert request.aws_account_ref == second.account_id
    assert request.instance_ref == request.instance.instance_id
