from decimal import Decimal

from django.conf import settings
from django.db import models

from spotopt.db import AuditRefsModel, choices_check
from spotopt.scoping import TenantQuerySet

from .choices import DowntimeCause

# The platform promises at most this much downtime it causes per calendar month.
SLA_MONTHLY_BUDGET_SECONDS = 60


class DowntimeLogQuerySet(TenantQuerySet):
    account_path = "account"


class DowntimeLog(AuditRefsModel):
    """A stretch of downtime the platform caused. Kept for the SLA even when the account, instance or
    user is deleted (SET_NULL), with the AWS account id and instance id kept as text."""

    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="downtime_logs"
    )
    instance = models.ForeignKey(
        "fleet.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="downtime_logs"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="downtime_logs"
    )
    started_at = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    cause = models.CharField(max_length=24, choices=DowntimeCause.choices, db_index=True)
    details = models.TextField(blank=True)

    objects = DowntimeLogQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            # The downtime list pages newest first, per tenant (account_id IN …) and for admins.
            models.Index(fields=["account", "-started_at", "-id"], name="downtime_account_recent"),
            models.Index(fields=["-started_at", "-id"], name="downtime_recent"),
        ]
        constraints = [
            choices_check("cause", DowntimeCause, name="downtime_cause_valid"),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="downtime_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_seconds__isnull=True) | models.Q(duration_seconds__gte=0),
                name="downtime_duration_non_negative",
            ),
        ]

    def __str__(self):
        return f"{self.get_cause_display()} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.ended_at and self.started_at:
            seconds = Decimal(str((self.ended_at - self.started_at).total_seconds()))
            self.duration_seconds = seconds.quantize(Decimal("0.001"))
        else:
            self.duration_seconds = None  # still open: no duration yet
        super().save(*args, **kwargs)
