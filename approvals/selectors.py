"""Reads of approval requests, scoped to the user asking; pending first, soonest to expire first."""

from django.db.models import Case, IntegerField, Value, When

from .choices import ApprovalStatus
from .models import ApprovalRequest


def approvals_for(user):
    pending_first = Case(
        When(status=ApprovalStatus.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return (
        ApprovalRequest.objects.for_user(user)
        .select_related("account", "account__user", "instance", "requester", "approver")
        .annotate(pending_rank=pending_first)
        .order_by("pending_rank", "expires_at", "-created_at")
    )
