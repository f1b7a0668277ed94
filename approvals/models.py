from django.conf import settings
from django.db import models

from spotopt.db import AuditRefsModel, choices_check
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import ActionType, ApprovalStatus, ExecutionStatus, RiskLevel

# A decided request never changes again.
APPROVAL_STATUS_TRANSITIONS = TransitionTable(
    "Approval request status",
    ApprovalStatus,
    {
        ApprovalStatus.PENDING: {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED},
        ApprovalStatus.APPROVED: set(),
        ApprovalStatus.REJECTED: set(),
        ApprovalStatus.EXPIRED: set(),
    },
)


# Execution of an approved request: queued after commit, claimed once by a worker (queued -> running),
# finished once. Only a failed execution can be queued again (an admin's retry); a success is final.
EXECUTION_STATUS_TRANSITIONS = TransitionTable(
    "Approval execution status",
    ExecutionStatus,
    {
        ExecutionStatus.NOT_STARTED: {ExecutionStatus.QUEUED},
        ExecutionStatus.QUEUED: {ExecutionStatus.RUNNING},
        ExecutionStatus.RUNNING: {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED},
        ExecutionStatus.SUCCEEDED: set(),
        ExecutionStatus.FAILED: {ExecutionStatus.QUEUED},
    },
)


class ApprovalRequestQuerySet(TenantQuerySet):
    account_path = "account"


class ApprovalRequest(AuditRefsModel):
    """A high-risk action waiting for (or decided by) a second person.

    Requests are an audit trail: they stay when the account, instance or people they name are deleted
    (SET_NULL), and keep the AWS account id and instance id they concerned as plain text.
    """

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="approval_requests"
    )
    instance = models.ForeignKey(
        "fleet.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="approval_requests"
    )
    action_type = models.CharField(max_length=24, choices=ActionType.choices, db_index=True)
    action_payload = models.JSONField(default=dict, blank=True)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.MEDIUM, db_index=True)
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING, db_index=True
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="approval_requests_made",
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="approval_requests_decided",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    expires_at = models.DateTimeField(db_index=True)
    # What happened when the approved action ran.
    execution_status = models.CharField(
        max_length=12, choices=ExecutionStatus.choices, default=ExecutionStatus.NOT_STARTED, db_index=True
    )
    execution_attempts = models.PositiveSmallIntegerField(default=0)
    execution_queued_at = models.DateTimeField(null=True, blank=True)
    execution_started_at = models.DateTimeField(null=True, blank=True)
    execution_finished_at = models.DateTimeField(null=True, blank=True)
    execution_result = models.JSONField(default=dict, blank=True)
    execution_error = models.TextField(blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [
            choices_check("action_type", ActionType, name="approval_action_type_valid"),
            choices_check("risk_level", RiskLevel, name="approval_risk_level_valid"),
            choices_check("status", ApprovalStatus, name="approval_status_valid"),
            models.CheckConstraint(
                condition=models.Q(status=ApprovalStatus.PENDING) | models.Q(decided_at__isnull=False),
                name="approval_decided_has_time",
            ),
            choices_check("execution_status", ExecutionStatus, name="approval_execution_status_valid"),
            # Only an approved request is ever executed.
            models.CheckConstraint(
                condition=models.Q(execution_status=ExecutionStatus.NOT_STARTED)
                | models.Q(status=ApprovalStatus.APPROVED),
                name="approval_only_approved_execute",
            ),
        ]

    def __str__(self):
        return f"{self.get_action_type_display()} ({self.get_status_display()})"

    def move_to(self, status: str) -> None:
        transition(self, "status", APPROVAL_STATUS_TRANSITIONS, status)

    def move_execution_to(self, status: str) -> None:
        transition(self, "execution_status", EXECUTION_STATUS_TRANSITIONS, status)

    @property
    def is_decided(self) -> bool:
        return self.status != ApprovalStatus.PENDING
