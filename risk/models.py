from datetime import timedelta

from django.db import models

from spotopt.db import TimestampedModel, UUIDModel, choices_check

from .choices import RiskEventType

# One production interruption blocks a pool for every tenant for this long.
POISON_DURATION = timedelta(days=15)


def pool_key(region: str, availability_zone: str, instance_type: str) -> str:
    return f"{region}:{availability_zone}:{instance_type}"


class SpotPoolRisk(TimestampedModel):
    """The cross-tenant ("hive") memory of one Spot capacity pool: region + AZ + instance type."""

    region = models.CharField(max_length=32)
    availability_zone = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    is_poisoned = models.BooleanField(default=False, db_index=True)
    interruption_count = models.PositiveIntegerField(default=0)
    last_interruption = models.DateTimeField(null=True, blank=True)
    poisoned_at = models.DateTimeField(null=True, blank=True)
    poison_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Which customer's interruption poisoned the pool; a bare id, since the memory outlives tenants.
    triggering_customer_id = models.UUIDField(null=True, blank=True)
    pool_metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["region", "availability_zone", "instance_type"]
        verbose_name = "spot pool risk"
        constraints = [
            models.UniqueConstraint(fields=["region", "availability_zone", "instance_type"], name="spot_pool_unique"),
            models.CheckConstraint(
                condition=models.Q(is_poisoned=False)
                | models.Q(poisoned_at__isnull=False, poison_expires_at__isnull=False),
                name="spot_pool_poison_has_dates",
            ),
        ]

    def __str__(self):
        return self.pool_id

    @property
    def pool_id(self) -> str:
        return pool_key(self.region, self.availability_zone, self.instance_type)


class AppendOnlyError(Exception):
    pass


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Global risk events are append-only: they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Global risk events are append-only: they cannot be deleted.")

    # bulk_update goes through update(); refuse it by name too for a clearer message.
    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Global risk events are append-only: they cannot be updated.")


class GlobalRiskEvent(UUIDModel):
    """An interruption signal reported by any tenant. Append-only: the ORM refuses updates and deletes,
    and on PostgreSQL a trigger rejects UPDATE and DELETE issued as raw SQL (migration 0002)."""

    event_id = models.CharField(max_length=128, unique=True, help_text="Source event id; makes ingest idempotent.")
    event_type = models.CharField(max_length=24, choices=RiskEventType.choices, db_index=True)
    pool_id = models.CharField(max_length=160, db_index=True, help_text="region:az:instance_type")
    region = models.CharField(max_length=32)
    availability_zone = models.CharField(max_length=32)
    instance_type = models.CharField(max_length=64)
    instance_id = models.CharField(max_length=32, blank=True)
    # No database FK: the event must survive its account (deleting an account would otherwise have to
    # UPDATE or DELETE the event, which the append-only rule forbids).
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    reported_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    raw_event = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at"]
        constraints = [
            choices_check("event_type", RiskEventType, name="globalriskevent_event_type_valid"),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("reported_at")), name="globalriskevent_expires_after_report"
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.pool_id} {self.reported_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Global risk events are append-only: they cannot be updated.")
        if not self.pool_id:
            self.pool_id = pool_key(self.region, self.availability_zone, self.instance_type)
        if self.expires_at is None and self.reported_at is not None:
            self.expires_at = self.reported_at + POISON_DURATION
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Global risk events are append-only: they cannot be deleted.")
