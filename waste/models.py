from django.db import models

from accounts.models import Account
from spotopt.db import UUIDModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import ResourceType, WasteStatus

# Deletion happens only from SCHEDULED_DELETE (after the grace period and an approval); a flag or a
# schedule can be withdrawn one step back. DELETED is final.
WASTE_STATUS_TRANSITIONS = TransitionTable(
    "Waste resource status",
    WasteStatus,
    {
        WasteStatus.DETECTED: {WasteStatus.FLAGGED},
        WasteStatus.FLAGGED: {WasteStatus.SCHEDULED_DELETE, WasteStatus.DETECTED},
        WasteStatus.SCHEDULED_DELETE: {WasteStatus.DELETED, WasteStatus.FLAGGED},
        WasteStatus.DELETED: set(),
    },
)


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
        ]

    def __str__(self):
        return f"{self.get_resource_type_display()} {self.resource_id}"

    def move_to(self, status: str) -> None:
        transition(self, "status", WASTE_STATUS_TRANSITIONS, status)
