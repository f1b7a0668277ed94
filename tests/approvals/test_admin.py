"""Admin for approval requests."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from approvals.choices import ApprovalStatus, RiskLevel
from tests.helpers import changelist_query_count

APPROVAL_CHANGELIST = reverse("admin:approvals_approvalrequest_changelist")


def test_approval_changelist_shows_requests(
    client, super_admin, client_user, make_account, make_instance, make_approval
):
    account = make_account(client_user, account_id="123412341234")
    make_approval(
        account=account,
        instance=make_instance(account, instance_id="i-0ap00000000000001"),
        requester=client_user,
        risk_level=RiskLevel.HIGH,
    )
    client.force_login(super_admin)
    response = client.get(APPROVAL_CHANGELIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Terminate rogue instance" in content
    assert "123412341234" in content
    assert "i-0ap00000000000001" in content
    assert client_user.username in content
    assert '<td class="field-risk_level">High</td>' in content


def test_approval_search_by_instance(client, super_admin, make_approval):
    make_approval(instance_ref="i-0ap0000000000wanted")
    make_approval(instance_ref="i-0ap00000000000other")
    client.force_login(super_admin)
    content = client.get(APPROVAL_CHANGELIST, {"q": "wanted"}).content.decode()
    assert "i-0ap0000000000wanted" in content
    assert "i-0ap00000000000other" not in content


def test_approval_changelist_queries_do_not_grow_with_rows(client, super_admin, make_user, make_account, make_approval):
    client.force_login(super_admin)

    def add_rows(count):
        for _ in range(count):
            requester = make_user()
            make_approval(
                account=make_account(requester),
                requester=requester,
                approver=make_user(),
                status=ApprovalStatus.APPROVED,
                decided_at=timezone.now(),
            )

    add_rows(2)
    few = changelist_query_count(client, APPROVAL_CHANGELIST)
    add_rows(8)
    assert changelist_query_count(client, APPROVAL_CHANGELIST) == few


def test_approval_request_and_decision_are_read_only(client, super_admin, make_approval):
    approval = make_approval()
    client.force_login(super_admin)
    response = client.get(reverse("admin:approvals_approvalrequest_change", args=[approval.pk]))
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {"risk_level", "expires_at"}


def test_approval_change_form_cannot_decide_a_request(client, super_admin, make_approval):
    approval = make_approval(action_payload={"instance_id": "i-0ap00000000000aaa"})
    new_deadline = timezone.now() + timedelta(days=3)
    client.force_login(super_admin)
    response = client.post(
        reverse("admin:approvals_approvalrequest_change", args=[approval.pk]),
        {
            "risk_level": RiskLevel.CRITICAL,
            "expires_at_0": new_deadline.strftime("%Y-%m-%d"),
            "expires_at_1": new_deadline.strftime("%H:%M:%S"),
            "status": ApprovalStatus.APPROVED,
            "action_payload": '{"instance_id": "i-0tampered"}',
        },
    )
    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.risk_level == RiskLevel.CRITICAL
    assert approval.status == ApprovalStatus.PENDING
    assert approval.action_payload == {"instance_id": "i-0ap00000000000aaa"}


def test_approvals_are_not_raised_through_the_admin(client, super_admin):
    client.force_login(super_admin)
    assert client.get(reverse("admin:approvals_approvalrequest_add")).status_code == 403
