from django.db import models

from accounts.models import Account
from spotopt.db import UUIDModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import DeletionOutcome, ResourceType, WasteStatus

# Deletion happens only from SCHEDULED_DELETE (after the grace period and an approval). A flag or a schedule
# is withdrawn back to DETECTED (the owner removed our tag, the request was rejected or expired). Any live
# row leaves the list as RESOLVED when its resource is used again or gone, and comes back DETECTED when it is
# waste again; EXEMPT is the customer's "keep", left only when the owner removes their keep tag. DELETED is
# final.
_LEAVES = {WasteStatus.RESOLVED, WasteStatus.EXEMPT}
WASTE_STATUS_TRANSITIONS = TransitionTable(
    "Waste resource status",
    WasteStatus,
    {
        WasteStatus.DETECTED: {WasteStatus.FLAGGED, *_LEAVES},
        WasteStatus.FLAGGED: {WasteStatus.SCHEDULED_DELETE, WasteStatus.DETECTED, *_LEAVES},
        WasteStatus.SCHEDULED_DELETE: {WasteStatus.DELETED, WasteStatus.DETECTED, *_LEAVES},
        WasteStatus.DELETED: set(),
        WasteStatus.RESOLVED: {WasteStatus.DETECTED, WasteStatus.EXEMPT},
        WasteStatus.EXEMPT: {WasteStatus.DETECTED, WasteStatus.RESOLVED},
    },
)
# Rows still on the waste list (what the totals count); the others are history.
LIVE_STATUSES = (WasteStatus.DETECTED, WasteStatus.FLAGGED, WasteStatus.SCHEDULED_DELETE)


class WasteResourceQuerySet(TenantQuerySet):
    account_path = "account"


class WasteResource(UUIDModel):
    """An idle resource found in a customer's account (Elastic IP, volume, snapshot, AMI)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="waste_resources")
    resource_type = models.CharField(max_length=16, choices=ResourceType.choices, db_index=True)
    resource_id = models.CharField(max_length=128)
    region = models.CharField(max_length=32)
    monthly_cost = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    currency = models.CharField(max_length=3, default="USD")
    detected_at = models.DateTimeField(auto_now_add=True)
    days_unused = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=WasteStatus.choices, default=WasteStatus.DETECTED, db_index=True)
    scheduled_deletion_date = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    resource_metadata = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    # Report only: e.g. a volume of a long-stopped instance. Shown with its cost, never flagged or deleted.
    deletable = models.BooleanField(default=True)
    # The instance a "stopped with volumes" finding is about (its fleet page links from the row).
    instance = models.ForeignKey(
        "fleet.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="waste_resources"
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The DELETE_WASTE request the row was scheduled in, and what its execution did with the resource.
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="waste_resources"
    )
    outcome = models.CharField(max_length=8, choices=DeletionOutcome.choices, default=DeletionOutcome.NONE, blank=True)
    outcome_message = models.TextField(blank=True)

    objects = WasteResourceQuerySet.as_manager()

    class Meta:
        ordering = ["-monthly_cost", "resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "resource_type", "resource_id"], name="waste_resource_unique"
            ),
            choices_check("resource_type", ResourceType, name="waste_resource_type_valid"),
            choices_check("status", WasteStatus, name="waste_status_valid"),
            non_negative("monthly_cost", name="waste_monthly_cost_non_negative"),
            choices_check("outcome", DeletionOutcome, name="waste_outcome_valid"),
            # A report-only finding is never on its way to deletion.
            models.CheckConstraint(
                condition=models.Q(deletable=True)
                | ~models.Q(status__in=[WasteStatus.FLAGGED, WasteStatus.SCHEDULED_DELETE, WasteStatus.DELETED]),
                name="waste_report_only_not_deleted",
            ),
        ]
        indexes = [models.Index(fields=["account", "status", "resource_type"])]

    def __str__(self):
        return f"{self.get_resource_type_display()} {self.resource_id}"

    def move_to(self, status: str) -> None:
        transition(self, "status", WASTE_STATUS_TRANSITIONS, status)
