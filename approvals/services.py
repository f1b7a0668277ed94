"""The approval gate: create, decide (four eyes, one winner), expire, execute (once), retry.

Lifecycle: PENDING -> APPROVED | REJECTED | EXPIRED, nothing else (APPROVAL_STATUS_TRANSITIONS); a decided
request never changes again. Approving queues execution after commit; a worker claims it once
(queued -> running with a conditional UPDATE), and the outcome is recorded (succeeded / failed). Only an
admin's retry queues a failed execution again; a success is never repeated.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, User
from fleet.models import Instance
from spotopt.errors import Conflict, DomainError, NotFound, PermissionRefused
from spotopt.q import enqueue_on_commit

from . import registry
from .choices import ApprovalStatus, ExecutionStatus, RiskLevel
from .models import ApprovalRequest
from .policy import can_retry_execution, decision_refusal

logger = logging.getLogger(__name__)

EXECUTE_TASK = "approvals.tasks.execute_approval"
NOTIFY_APPROVERS_TASK = "approvals.tasks.notify_approvers"
NOTIFY_APPROVERS_DIGEST_TASK = "approvals.tasks.notify_approvers_digest"
NOTIFY_DECISION_TASK = "approvals.tasks.notify_requester"


class AlreadyDecided(Conflict):
    code = "already_decided"


def default_expiry(risk_level: str, *, now=None):
    return (now or timezone.now()) + timedelta(hours=settings.APPROVAL_EXPIRY_HOURS[risk_level])


@transaction.atomic
def approval_request_create(
    *,
    action_type: str,
    payload: dict,
    risk_level: str = RiskLevel.MEDIUM,
    requester: User | None = None,
    account: Account | None = None,
    instance: Instance | None = None,
    expires_at=None,
) -> ApprovalRequest:
    """File a request (requester None means spotopt itself, e.g. the rogue-instance enforcer). The payload
    is validated against its action type's schema; approvers are notified after commit."""
    if risk_level not in RiskLevel.values:
        raise DomainError(f"Unknown risk level '{risk_level}'.", code="invalid_risk_level")
    clean_payload = registry.validate_payload(action_type, payload)
    if instance is not None and account is None:
        account = instance.account
    now = timezone.now()
    expires_at = expires_at or default_expiry(risk_level, now=now)
    if expires_at <= now:
        raise DomainError("A request must expire in the future.", code="invalid_expiry")
    request = ApprovalRequest.objects.create(
        action_type=action_type,
        action_payload=clean_payload,
        risk_level=risk_level,
        requester=requester,
        account=account,
        instance=instance,
        expires_at=expires_at,
    )
    enqueue_on_commit(NOTIFY_APPROVERS_TASK, str(request.pk))
    logger.info("approval request %s filed: %s (%s)", request.pk, action_type, risk_level)
    return request


def approval_requests_create(*, action_type: str, items: list[tuple[dict, Instance]], risk_level: str) -> list:
    """File many requests spotopt itself makes (e.g. one per overdue rogue instance) in one insert, and
    notify each approver once for all of them (one digest email, not one per request). `items` are
    (payload, instance) pairs; each payload is validated like approval_request_create's."""
    if risk_level not in RiskLevel.values:
        raise DomainError(f"Unknown risk level '{risk_level}'.", code="invalid_risk_level")
    now = timezone.now()
    expires_at = default_expiry(risk_level, now=now)
    requests = [
        ApprovalRequest(
            action_type=action_type,
            action_payload=registry.validate_payload(action_type, payload),
            risk_level=risk_level,
            account=instance.account,
            instance=instance,
            # bulk_create skips save(), which keeps these audit references: set them here.
            aws_account_ref=instance.account.account_id,
            instance_ref=instance.instance_id,
            expires_at=expires_at,
        )
        for payload, instance in items
    ]
    with transaction.atomic():
        created = ApprovalRequest.objects.bulk_create(requests)
        if created:
            enqueue_on_commit(NOTIFY_APPROVERS_DIGEST_TASK, [str(request.pk) for request in created])
    logger.info("%d approval requests filed: %s (%s)", len(created), action_type, risk_level)
    return created


def _locked(request_id) -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None:
        raise NotFound("That approval request does not exist.")
    # Load the account outside the lock's FOR UPDATE (PostgreSQL refuses FOR UPDATE across a nullable join).
    if request.account_id:
        request.account = Account.objects.get(pk=request.account_id)
    return request


def _decide(*, user: User, request_id, status: str, comment: str) -> ApprovalRequest:
    now = timezone.now()
    with transaction.atomic():
        request = _locked(request_id)
        if request.is_decided:
            raise AlreadyDecided(
                f"This request was already {request.get_status_display().lower()}"
                + (f" by {request.approver.username}" if request.approver else "")
                + (f" at {request.decided_at:%Y-%m-%d %H:%M} UTC." if request.decided_at else ".")
            )
        # Who may decide comes first: somebody who may not decide changes nothing, not even expiry.
        refusal = decision_refusal(user, request)
        if refusal:
            raise PermissionRefused(refusal)
        if request.expires_at <= now:
            request.move_to(ApprovalStatus.EXPIRED)
            request.decided_at = now
            request.save(update_fields=["status", "decided_at", "updated_at"])
            # The scheduled job will never see it now: tell the requester here, as that job would.
            enqueue_on_commit(NOTIFY_DECISION_TASK, str(request.pk))
            expired = True
        else:
            expired = False
            request.move_to(status)
            request.approver = user
            request.decided_at = now
            request.decision_comment = comment
            fields = ["status", "approver", "decided_at", "decision_comment", "updated_at"]
            if status == ApprovalStatus.APPROVED:
                request.move_execution_to(ExecutionStatus.QUEUED)
                request.execution_queued_at = now
                fields += ["execution_status", "execution_queued_at"]
                enqueue_on_commit(EXECUTE_TASK, str(request.pk))
            request.save(update_fields=fields)
            enqueue_on_commit(NOTIFY_DECISION_TASK, str(request.pk))
    if expired:  # committed as EXPIRED; the decision itself is refused
        raise AlreadyDecided("This request expired before it was decided; file a new one if it is still needed.")
    logger.info("approval request %s %s by user %s", request.pk, status, user.pk)
    return request


def approval_approve(*, user: User, request_id, comment: str = "") -> ApprovalRequest:
    return _decide(user=user, request_id=request_id, status=ApprovalStatus.APPROVED, comment=(comment or "").strip())


def approval_reject(*, user: User, request_id, comment: str) -> ApprovalRequest:
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("Say why you reject the request: a comment is required.", code="comment_required")
    return _decide(user=user, request_id=request_id, status=ApprovalStatus.REJECTED, comment=comment)


def approvals_expire_overdue(*, now=None) -> int:
    """Mark every pending request past its expiry EXPIRED (the scheduled job). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        overdue = list(
            ApprovalRequest.objects.select_for_update(skip_locked=True)
            .filter(status=ApprovalStatus.PENDING, expires_at__lte=now)
            .values_list("pk", flat=True)
        )
        ApprovalRequest.objects.filter(pk__in=overdue, status=ApprovalStatus.PENDING).update(
            status=ApprovalStatus.EXPIRED, decided_at=now, updated_at=now
        )
        for pk in overdue:
            enqueue_on_commit(NOTIFY_DECISION_TASK, str(pk))
    if overdue:
        logger.info("%d approval request(s) expired", len(overdue))
    return len(overdue)


def approval_execute(*, request_id) -> ApprovalRequest | None:
    """Run the approved action once. The worker first claims the request (queued -> running) with a
    conditional UPDATE, so a duplicate task, a second worker or a late retry finds nothing to do."""
    now = timezone.now()
    claimed = ApprovalRequest.objects.filter(
        pk=request_id, status=ApprovalStatus.APPROVED, execution_status=ExecutionStatus.QUEUED
    ).update(execution_status=ExecutionStatus.RUNNING, execution_started_at=now, updated_at=now)
    if not claimed:
        logger.info("approval %s: nothing to execute (not queued)", request_id)
        return None
    request = ApprovalRequest.objects.select_related("account", "instance").get(pk=request_id)
    ApprovalRequest.objects.filter(pk=request_id).update(execution_attempts=request.execution_attempts + 1)
    try:
        executor = registry.executor_for(request.action_type)
        result = executor(request) or {}
    except DomainError as error:
        return _finish(request, ExecutionStatus.FAILED, error=error.message, result=getattr(error, "result", None))
    except Exception as error:  # an executor bug must still leave a recorded, retryable state
        logger.exception("approval %s: executor crashed", request_id)
        return _finish(
            request, ExecutionStatus.FAILED, error=f"The action failed unexpectedly ({type(error).__name__})."
        )
    return _finish(request, ExecutionStatus.SUCCEEDED, result=result)


def _finish(request: ApprovalRequest, status: str, *, result: dict | None = None, error: str = ""):
    with transaction.atomic():
        locked = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
        locked.move_execution_to(status)
        locked.execution_finished_at = timezone.now()
        locked.execution_result = result or {}
        locked.execution_error = error
        locked.save(
            update_fields=[
                "execution_status",
                "execution_finished_at",
                "execution_result",
                "execution_error",
                "updated_at",
            ]
        )
    logger.info("approval %s execution %s", request.pk, status)
    return locked


def approval_retry_execution(*, user: User, request_id) -> ApprovalRequest:
    """An admin queues a failed execution again. Anything else (running, succeeded) is refused."""
    if not can_retry_execution(user):
        raise PermissionRefused("Only admins can retry a failed execution.")
    with transaction.atomic():
        request = _locked(request_id)
        if request.execution_status != ExecutionStatus.FAILED:
            state = request.get_execution_status_display().lower()
            raise Conflict(f"Only a failed execution can be retried; this one is {state}.", code="not_retryable")
        request.move_execution_to(ExecutionStatus.QUEUED)
        request.execution_queued_at = timezone.now()
        request.execution_error = ""
        request.save(update_fields=["execution_status", "execution_queued_at", "execution_error", "updated_at"])
        enqueue_on_commit(EXECUTE_TASK, str(request.pk))
    return request
