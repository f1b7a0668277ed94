"""django-q2 entry points of the approval gate: ids in, a service does the work."""

from spotopt.q import PeriodicJob

from . import notifications, services
from .models import ApprovalRequest


def execute_approval(request_id: str) -> str:
    request = services.approval_execute(request_id=request_id)
    return request.execution_status if request else "skipped"


def expire_overdue() -> int:
    return services.approvals_expire_overdue()


def notify_approvers(request_id: str) -> int:
    request = ApprovalRequest.objects.select_related("requester").filter(pk=request_id).first()
    return notifications.notify_approvers(request) if request else 0


def notify_approvers_digest(request_ids: list[str]) -> int:
    requests = list(
        ApprovalRequest.objects.select_related("account").filter(pk__in=request_ids).order_by("created_at", "pk")
    )
    return notifications.notify_approvers_digest(requests)


def notify_requester(request_id: str) -> int:
    request = ApprovalRequest.objects.select_related("requester", "approver").filter(pk=request_id).first()
    return notifications.notify_requester(request) if request else 0


SCHEDULES = [
    PeriodicJob(name="approvals.expire-overdue", func="approvals.tasks.expire_overdue", minutes=5),
]
