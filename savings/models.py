"""The savings ledger: one row per moved instance and UTC day, what it would have cost without spotopt (the
baseline) and what it really cost, both in USD, with the prices each figure is made of."""

from django.db import models

from accounts.models import Account
from spotopt.db import TimestampedModel, choices_check, non_negative
from spotopt.scoping import TenantQuerySet

from .choices import MoveKind, PriceBasis


class SavingsDayQuerySet(TenantQuerySet):
    account_path = "account"


class SavingsDay(TimestampedModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="savings_days")
    # The instance whose hours are counted (the replacement a move launched, or a replica), and the switch.
    instance = models.ForeignKey("fleet.Instance", on_delete=models.CASCADE, related_name="savings_days")
    switch = models.ForeignKey(
        "fleet.Switch", on_delete=models.SET_NULL, null=True, blank=True, related_name="savings_days"
    )
    kind = models.CharField(max_length=12, choices=MoveKind.choices)
    day = models.DateField(db_index=True)
    hours = models.DecimalField(max_digits=8, decimal_places=4)
    baseline_cost = models.DecimalField(max_digits=14, decimal_places=6)
    actual_cost = models.DecimalField(max_digits=14, decimal_places=6)
    overlap_cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)  # both ran during the swap
    projected_saving = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    baseline_basis = models.CharField(max_length=10, choices=PriceBasis.choices, blank=True)
    actual_basis = models.CharField(max_length=10, choices=PriceBasis.choices)
    currency = models.CharField(max_length=3, default="USD")

    objects = SavingsDayQuerySet.as_manager()

    class Meta:
        ordering = ["-day", "instance_id"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "kind", "day"], name="savings_day_once"),
            choices_check("kind", MoveKind, name="savings_day_kind_valid"),
            non_negative("hours", name="savings_day_hours_non_negative"),
            non_negative("baseline_cost", name="savings_day_baseline_non_negative"),
            non_negative("actual_cost", name="savings_day_actual_non_negative"),
        ]
        indexes = [models.Index(fields=["account", "day"], name="savings_account_day")]

    @property
    def realized_saving(self):
        return self.baseline_cost - self.actual_cost - self.overlap_cost
