"""Emails of the approval gate: the people who may decide hear about a new request, the requester hears
about its outcome. The tasks run inline (django-q2 sync in the test settings) once the transaction commits.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.choices import Role
from approvals.choices import ActionType, ApprovalStatus, RiskLevel
from approvals.services import (
    AlreadyDecided,
    approval_approve,
    approval_reject,
    approval_request_create,
    approvals_expire_overdue,
)
from tests.helpers import FROZEN_NOW as NOW

PAYLOAD = {"instance_id": "i-0abc1234", "region": "us-east-1"}


@pytest.fixture
def people(make_user, make_account):
    """Everyone who could be mailed, by a short name."""
    cast = {
        "sa1": make_user(Role.SUPER_ADMIN),
        "sa2": make_user(Role.SUPER_ADMIN),
        "root": make_user(Role.CLIENT, is_superuser=True),  # a Django superuser counts as super_admin
        "ad1": make_user(Role.ADMIN),
        "ad2": make_user(Role.ADMIN),
        "owner": make_user(Role.CLIENT),
        "outsider": make_user(Role.CLIENT),
        "viewer": make_user(Role.USER),
        "lab": make_user(Role.LAB),
        "gone": make_user(Role.ADMIN, is_active=False),
    }
    cast["account"] = make_account(cast["owner"], account_id="444455556666")
    make_account(cast["outsider"])
    make_account(cast["viewer"])
    return cast


def link(request) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('approval_detail', args=[request.pk])}"


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the services queue on commit (the mail tasks), as a real transaction would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def file_request(people, committed):
    def file(risk=RiskLevel.MEDIUM, requester="owner", **overrides):
        fields = {
            "action_type": ActionType.TERMINATE_ROGUE,
            "payload": PAYLOAD,
            "risk_level": risk,
            "requester": people[requester] if requester else None,
            "account": people["account"],
        }
        fields.update(overrides)
        with committed():
            return approval_request_create(**fields)

    return file


# Who is mailed about a new request on the owner's account: (risk, requester) -> recipients.
APPROVER_EMAILS = [
    pytest.param(RiskLevel.LOW, "ad1", {"sa1", "sa2", "root", "ad2", "owner"}, id="LOW-by-admin"),
    pytest.param(RiskLevel.MEDIUM, None, {"sa1", "sa2", "root", "ad1", "ad2", "owner"}, id="MEDIUM-by-spotopt"),
    pytest.param(RiskLevel.MEDIUM, "owner", {"sa1", "sa2", "root", "ad1", "ad2"}, id="MEDIUM-by-owner"),
    pytest.param(RiskLevel.HIGH, "viewer", {"sa1", "sa2", "root", "ad1", "ad2"}, id="HIGH-by-user"),
    pytest.param(RiskLevel.CRITICAL, "ad1", {"sa1", "sa2", "root"}, id="CRITICAL-by-admin"),
    pytest.param(RiskLevel.CRITICAL, "sa1", {"sa2", "root"}, id="CRITICAL-by-super-admin"),
]


@pytest.mark.parametrize(("risk", "requester", "expected"), APPROVER_EMAILS)
def test_exactly_the_approvers_who_may_decide_get_one_email_with_the_link(
    people, file_request, mailoutbox, clock, risk, requester, expected
):
    request = file_request(risk=risk, requester=requester)

    recipients = [message.to for message in mailoutbox]
    assert all(len(to) == 1 for to in recipients)  # one email per person: nobody sees the others
    assert sorted(to[0] for to in recipients) == sorted(people[name].email for name in expected)
    for message in mailoutbox:
        assert message.subject == f"[spotopt] Approval needed: Terminate rogue instance on 444455556666 ({risk})"
        assert message.from_email == settings.DEFAULT_FROM_EMAIL
        assert f"Approve or reject it here: {link(request)}" in message.body
        assert "Terminate the unauthorized instance i-0abc1234 in us-east-1." in message.body
        requested_by = people[requester].username if requester else "spotopt (automatic)"
        assert f"Requested by: {requested_by}" in message.body
        assert f"Expires: {request.expires_at:%Y-%m-%d %H:%M} UTC" in message.body


def test_nobody_who_could_decide_means_no_email(make_user, make_account, committed, mailoutbox):
    make_user(Role.LAB)
    make_user(Role.USER)
    with committed():
        approval_request_create(
            action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, account=make_account(make_user(Role.CLIENT))
        )
    # The owner is a client who may decide MEDIUM on their own account.
    assert len(mailoutbox) == 1
    mailoutbox.clear()
    with committed():
        approval_request_create(action_type=ActionType.TERMINATE_ROGUE, payload=PAYLOAD, risk_level=RiskLevel.HIGH)
    assert mailoutbox == []


def _only_mail_to(mailoutbox, user):
    assert [message.to for message in mailoutbox] == [[user.email]]
    return mailoutbox[0]


@pytest.mark.parametrize(
    "decide,risk,requester,decider,comment,subject,said",
    [
        pytest.param(
            approval_approve,
            RiskLevel.MEDIUM,
            "owner",
            "ad1",
            "Fine, it is idle.",
            "[spotopt] Approved: Terminate rogue instance on 444455556666 (MEDIUM)",
            "approved",
            id="approval",
        ),
        pytest.param(
            approval_reject,
            RiskLevel.CRITICAL,
            "ad2",
            "sa1",
            "Not before the audit.",
            "[spotopt] Rejected: Terminate rogue instance on 444455556666 (CRITICAL)",
            "rejected",
            id="rejection",
        ),
    ],
)
def test_a_decision_is_mailed_to_the_requester_with_the_comment(
    people, file_request, committed, mailoutbox, clock, decide, risk, requester, decider, comment, subject, said
):
    request = file_request(risk=risk, requester=requester)
    mailoutbox.clear()

    with committed():
        decide(user=people[decider], request_id=request.pk, comment=comment)

    message = _only_mail_to(mailoutbox, people[requester])
    assert message.subject == subject
    assert f"Your request was {said} by {people[decider].username}." in message.body
    assert f"Comment: {comment}" in message.body
    assert f"Details: {link(request)}" in message.body


def test_expiry_is_mailed_to_the_requester(people, file_request, committed, mailoutbox, clock):
    request = file_request(risk=RiskLevel.HIGH, requester="viewer")
    mailoutbox.clear()

    with committed():
        assert approvals_expire_overdue(now=NOW + timedelta(hours=24)) == 1

    message = _only_mail_to(mailoutbox, people["viewer"])
    assert message.subject == "[spotopt] Expired: Terminate rogue instance on 444455556666 (HIGH)"
    assert "Your request was expired." in message.body
    assert "Comment:" not in message.body
    assert f"Details: {link(request)}" in message.body


def test_expiry_found_by_a_late_decision_is_mailed_to_the_requester(people, file_request, committed, mailoutbox, clock):
    request = file_request(requester="owner")
    mailoutbox.clear()
    clock.now = request.expires_at

    with committed(), pytest.raises(AlreadyDecided, match="expired"):
        approval_approve(user=people["ad1"], request_id=request.pk)

    message = _only_mail_to(mailoutbox, people["owner"])
    assert message.subject.startswith("[spotopt] Expired: ")


def test_no_decision_email_for_a_request_spotopt_filed_itself(people, file_request, committed, mailoutbox, clock):
    approved, rejected = file_request(requester=None), file_request(requester=None)
    mailoutbox.clear()

    with committed():
        approval_approve(user=people["ad1"], request_id=approved.pk)
    with committed():
        approval_reject(user=people["ad1"], request_id=rejected.pk, comment="No.")
    with committed():
        approvals_expire_overdue(now=NOW + timedelta(days=30))
    assert mailoutbox == []


def test_a_request_without_an_account_says_so_in_the_subject(people, file_request, mailoutbox, clock):
    file_request(account=None, requester=None, risk=RiskLevel.HIGH)
    assert mailoutbox
    assert mailoutbox[0].subject == "[spotopt] Approval needed: Terminate rogue instance (HIGH)"


def test_the_decision_emails_name_the_final_status(people, file_request, committed, mailoutbox, clock):
    approved, rejected = file_request(), file_request()
    mailoutbox.clear()
    with committed():
        approval_approve(user=people["ad1"], request_id=approved.pk)
    with committed():
        approval_reject(user=people["ad1"], request_id=rejected.pk, comment="No.")
    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert (approved.status, rejected.status) == (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED)
    assert [m.subject.split(":")[0] for m in mailoutbox] == ["[spotopt] Approved", "[spotopt] Rejected"]
