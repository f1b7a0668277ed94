"""Emails of the approval gate: approvers on creation, the requester on the decision."""

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db.models import Q
from django.urls import reverse

from accounts.choices import Role
from accounts.models import User

from .models import ApprovalRequest
from .policy import can_decide
from .registry import describe


def request_url(request: ApprovalRequest) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{reverse('approval_detail', args=[request.pk])}"


def approvers_for(request: ApprovalRequest) -> list[User]:
    """Everyone who may decide this request (the decision table, four eyes), with an email address."""
    # Operators, and the clients of the team whose account it is: not every client of every tenant.
    team_clients = Q(role=Role.CLIENT, team_id=request.account.team_id) if request.account else Q(pk__in=[])
    candidates = (
        User.objects.filter(is_active=True)
        .exclude(email="")
        .filter(Q(role__in=[Role.SUPER_ADMIN, Role.ADMIN]) | Q(is_superuser=True) | team_clients)
    )
    return [user for user in candidates.order_by("username") if can_decide(user, request)]


# How many requests a digest email lists one by one before pointing at the queue.
DIGEST_LISTED = 20


def notify_approvers_digest(requests: list[ApprovalRequest]) -> int:
    """One email per approver for many requests spotopt filed at once (e.g. a rogue-enforcement pass): the
    approvers are looked up once per account, not once per request."""
    by_account: dict = {}
    for request in requests:
        by_account.setdefault(request.account_id, []).append(request)
    messages = []
    queue = f"{settings.SITE_URL.rstrip('/')}{reverse('approval_list')}?status=PENDING"
    for batch in by_account.values():
        first = batch[0]
        listed = "\n".join(
            f"- {describe(request.action_type, request.action_payload)}\n  {request_url(request)}"
            for request in batch[:DIGEST_LISTED]
        )
        more = f"\n… and {len(batch) - DIGEST_LISTED} more." if len(batch) > DIGEST_LISTED else ""
        where = f" on {first.aws_account_ref}" if first.aws_account_ref else ""
        subject = (
            f"[spotopt] Approval needed: {len(batch)} x {first.get_action_type_display()}{where} ({first.risk_level})"
        )
        body = (
            f"{len(batch)} {first.get_risk_level_display().lower()}-risk actions need your approval "
            f"(expiring {first.expires_at:%Y-%m-%d %H:%M} UTC):\n\n{listed}{more}\n\n"
            f"The queue: {queue}\n"
        )
        messages += [(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email]) for user in approvers_for(first)]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def _subject(request: ApprovalRequest, what: str) -> str:
    where = f" on {request.aws_account_ref}" if request.aws_account_ref else ""
    return f"[spotopt] {what}: {request.get_action_type_display()}{where} ({request.risk_level})"


def notify_approvers(request: ApprovalRequest) -> int:
    body = (
        f"A {request.get_risk_level_display().lower()}-risk action needs your approval.\n\n"
        f"{describe(request.action_type, request.action_payload)}\n\n"
        f"Requested by: {request.requester.username if request.requester else 'spotopt (automatic)'}\n"
        f"Expires: {request.expires_at:%Y-%m-%d %H:%M} UTC\n\n"
        f"Approve or reject it here: {request_url(request)}\n"
    )
    messages = [
        (_subject(request, "Approval needed"), body, settings.DEFAULT_FROM_EMAIL, [user.email])
        for user in approvers_for(request)
    ]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def notify_requester(request: ApprovalRequest) -> int:
    if request.requester is None or not request.requester.email:
        return 0
    decided_by = f" by {request.approver.username}" if request.approver else ""
    comment = f"\nComment: {request.decision_comment}\n" if request.decision_comment else ""
    body = (
        f"Your request was {request.get_status_display().lower()}{decided_by}.\n\n"
        f"{describe(request.action_type, request.action_payload)}\n{comment}\n"
        f"Details: {request_url(request)}\n"
    )
    subject = _subject(request, request.get_status_display())
    return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [request.requester.email])])
