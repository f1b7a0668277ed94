"""The Django admin's "Approve selected requests" and "Reject selected requests" actions: the same services
and rules as the dashboard (the admin user is the decider; four eyes and the decision table apply)."""

import pytest
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.choices import Role
from approvals import registry
from approvals.choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel
from approvals.models import ApprovalRequest

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:approvals_approvalrequest_changelist")


def payload(instance_id="i-0123456789abcdef0") -> dict:
    return {"instance_id": instance_id, "region": "us-east-1"}


def run_action(client, action, approvals, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(a.pk) for a in approvals], **extra}
    return client.post(CHANGELIST, data)


def sent_messages(response) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in get_messages(response.wsgi_request)]


def statuses(*approvals):
    return [ApprovalRequest.objects.get(pk=a.pk).status for a in approvals]


@pytest.fixture
def signed_in_admin(client, super_admin):
    client.force_login(super_admin)
    return client


def test_the_actions_are_offered_on_the_changelist(signed_in_admin, make_approval):
    make_approval(action_payload=payload())
    page = signed_in_admin.get(CHANGELIST).content.decode()
    assert '<option value="approve_selected">Approve selected requests</option>' in page
    assert '<option value="reject_selected">Reject selected requests</option>' in page


def test_approve_decides_each_request_with_the_rules_and_reports_every_refusal(
    signed_in_admin,
    super_admin,
    client_user,
    make_account,
    make_approval,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    ran = []
    monkeypatch.setattr(
        registry.ACTIONS[ActionType.TERMINATE_ROGUE], "executor", lambda request: ran.append(request.pk) or {"ok": 1}
    )
    account = make_account(client_user)
    critical = make_approval(
        account=account, action_payload=payload(), risk_level=RiskLevel.CRITICAL, requester=client_user
    )
    medium = make_approval(account=account, action_payload=payload("i-0000000000000beef"))
    own = make_approval(
        account=account, action_payload=payload("i-00000000000000abc"), risk_level=RiskLevel.LOW, requester=super_admin
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(signed_in_admin, "approve_selected", [critical, medium, own])

    assert response.status_code == 302 and response.url == CHANGELIST
    assert statuses(critical, medium, own) == [ApprovalStatus.APPROVED, ApprovalStatus.APPROVED, ApprovalStatus.PENDING]
    critical.refresh_from_db()
    assert critical.approver == super_admin and critical.execution_status == ExecutionStatus.SUCCEEDED
    assert sorted(ran) == sorted([critical.pk, medium.pk])
    assert sent_messages(response) == [
        (
            messages.ERROR,
            f"Terminate rogue instance i-00000000000000abc ({str(own.pk)[:8]}): "
            "You made this request, so somebody else has to decide it (four eyes).",
        ),
        (messages.SUCCESS, "Approved 2 requests."),
    ]


def test_approve_reports_an_already_decided_request(signed_in_admin, make_approval, make_user):
    decided = make_approval(
        action_payload=payload(),
        status=ApprovalStatus.REJECTED,
        approver=make_user(Role.ADMIN, username="alex"),
        decided_at=timezone.now(),
        decision_comment="No.",
    )

    response = run_action(signed_in_admin, "approve_selected", [decided])

    [(level, text)] = sent_messages(response)
    assert level == messages.ERROR
    assert "This request was already rejected by alex at" in text
    decided.refresh_from_db()
    assert decided.status == ApprovalStatus.REJECTED and decided.decision_comment == "No."


def test_reject_asks_for_a_comment_first(signed_in_admin, make_approval):
    first = make_approval(action_payload=payload())
    second = make_approval(action_payload=payload("i-0000000000000beef"), risk_level=RiskLevel.HIGH)

    response = run_action(signed_in_admin, "reject_selected", [first, second])

    assert response.status_code == 200
    assert response.templates[0].name == "admin/approvals/reject_confirmation.html"
    page = response.content.decode()
    assert "Reject the selected requests?" in page
    assert "Terminate the unauthorized instance i-0123456789abcdef0 in us-east-1." in page
    assert "i-0000000000000beef" in page and "High risk" in page
    assert 'name="csrfmiddlewaretoken"' in page
    for approval in (first, second):
        assert f'name="{helpers.ACTION_CHECKBOX_NAME}" value="{approval.pk}"' in page
    assert '<textarea name="comment"' in page
    assert 'value="Reject 2 requests"' in page
    assert statuses(first, second) == [ApprovalStatus.PENDING, ApprovalStatus.PENDING]


@pytest.mark.parametrize("comment", ["", "   "])
def test_reject_without_a_comment_shows_the_page_again_with_the_error(signed_in_admin, make_approval, comment):
    approval = make_approval(action_payload=payload())

    response = run_action(signed_in_admin, "reject_selected", [approval], confirm="yes", comment=comment)

    assert response.status_code == 400
    page = response.content.decode()
    assert "Say why you reject the request: a comment is required." in page
    assert "Please say why you reject this request." in page
    assert statuses(approval) == [ApprovalStatus.PENDING]
    assert sent_messages(response) == []


def test_reject_with_a_comment_rejects_and_reports_refusals(
    signed_in_admin, super_admin, make_approval, make_user, django_capture_on_commit_callbacks
):
    pending = make_approval(action_payload=payload())
    own = make_approval(action_payload=payload("i-00000000000000abc"), requester=super_admin)
    decided = make_approval(
        action_payload=payload("i-0000000000000beef"),
        status=ApprovalStatus.APPROVED,
        approver=make_user(Role.ADMIN, username="alex"),
        decided_at=timezone.now(),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(
            signed_in_admin, "reject_selected", [pending, own, decided], confirm="yes", comment=" Not this week. "
        )

    assert response.status_code == 302 and response.url == CHANGELIST
    assert statuses(pending, own, decided) == [ApprovalStatus.REJECTED, ApprovalStatus.PENDING, ApprovalStatus.APPROVED]
    pending.refresh_from_db()
    assert pending.approver == super_admin and pending.decision_comment == "Not this week."
    assert pending.execution_status == ExecutionStatus.NOT_STARTED
    reported = sent_messages(response)
    assert reported[-1] == (messages.SUCCESS, "Rejected 1 request.")
    errors = [text for level, text in reported if level == messages.ERROR]
    assert len(errors) == 2
    assert any("four eyes" in text and "i-00000000000000abc" in text for text in errors)
    assert any("already approved by alex" in text and "i-0000000000000beef" in text for text in errors)


def test_the_existing_admin_stays_read_only_and_lists_the_execution_state(signed_in_admin, make_approval):
    approval = make_approval(
        action_payload=payload(),
        status=ApprovalStatus.APPROVED,
        decided_at=timezone.now(),
        execution_status=ExecutionStatus.FAILED,
    )
    page = signed_in_admin.get(CHANGELIST).content.decode()
    assert '<td class="field-execution_status">Failed</td>' in page
    response = signed_in_admin.get(reverse("admin:approvals_approvalrequest_change", args=[approval.pk]))
    assert set(response.context["adminform"].form.fields) == {"risk_level", "expires_at"}
