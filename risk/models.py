from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from spotopt.db import TimestampedModel, UUIDModel, choices_check
from spotopt.scoping import TenantQuerySet
from spotopt.states import TransitionTable, transition

from .choices import EventOutcome, HeldEventStatus, IngestChannel, ListenerState, RejectReason, RiskEventType

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


class AppendOnlyQuerySet(TenantQuerySet):
    account_path = "account"

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
    # When and how it reached us, and what it did to the hive (fixed at write time: append-only).
    received_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=8, choices=IngestChannel.choices, default=IngestChannel.SQS)
    outcome = models.CharField(max_length=16, choices=EventOutcome.choices, default=EventOutcome.COUNTED)
    instance_action = models.CharField(max_length=32, blank=True, help_text="terminate, stop or hibernate")

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-reported_at"]
        indexes = [
            # The event log pages newest first, per tenant (account_id IN …) and globally; the poison limit
            # counts a tenant's new poisons of the last hour.
            models.Index(fields=["account", "-received_at", "-id"], name="riskevent_account_recent"),
            models.Index(fields=["-received_at", "-id"], name="riskevent_recent"),
        ]
        constraints = [
            choices_check("event_type", RiskEventType, name="globalriskevent_event_type_valid"),
            choices_check("channel", IngestChannel, name="globalriskevent_channel_valid"),
            choices_check("outcome", EventOutcome, name="globalriskevent_outcome_valid"),
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


class RejectedIngestQuerySet(TenantQuerySet):
    account_path = "account"


# Kept of a rejected body: enough to see what was wrong, bounded so garbage cannot fill the database.
REJECTED_BODY_LIMIT = 16 * 1024


class RejectedIngest(UUIDModel):
    """A message or webhook event that could not be read as an interruption event of a connected account,
    kept with the reason (super_admins see them all, a tenant those attributed to its accounts)."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.CharField(max_length=8, choices=IngestChannel.choices)
    reason = models.CharField(max_length=16, choices=RejectReason.choices, db_index=True)
    message = models.TextField(help_text="What was wrong, for a person.")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="rejected_ingests"
    )
    aws_account_id = models.CharField(max_length=64, blank=True)
    event_id = models.CharField(max_length=128, blank=True)
    raw_body = models.TextField(blank=True, help_text=f"The body as received, cut at {REJECTED_BODY_LIMIT} bytes.")

    objects = RejectedIngestQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "rejected event"
        constraints = [
            choices_check("channel", IngestChannel, name="rejectedingest_channel_valid"),
            choices_check("reason", RejectReason, name="rejectedingest_reason_valid"),
        ]

    def __str__(self):
        return f"{self.get_reason_display()} at {self.received_at:%Y-%m-%d %H:%M:%S}"


HELD_EVENT_TRANSITIONS = TransitionTable(
    "Held event status",
    HeldEventStatus,
    {
        HeldEventStatus.HELD: {HeldEventStatus.RELEASED, HeldEventStatus.DISMISSED},
        HeldEventStatus.RELEASED: set(),
        HeldEventStatus.DISMISSED: set(),
    },
)


class HeldRiskEventQuerySet(TenantQuerySet):
    account_path = "account"


class HeldRiskEvent(TimestampedModel):
    """A termination warning of a tenant over its hourly poison limit: stored, but it poisons nothing until
    a super_admin releases it (or dismisses it)."""

    event = models.OneToOneField(GlobalRiskEvent, on_delete=models.PROTECT, related_name="hold")
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="held_risk_events"
    )
    status = models.CharField(
        max_length=12, choices=HeldEventStatus.choices, default=HeldEventStatus.HELD, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    objects = HeldRiskEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [choices_check("status", HeldEventStatus, name="heldriskevent_status_valid")]

    def __str__(self):
        return f"held {self.event}"

    def move_to(self, status: str) -> None:
        transition(self, "status", HELD_EVENT_TRANSITIONS, status)


# Health, not a lifecycle: once polled, an account's queues can go from any state to any other (a failing
# account may keep failing); nothing goes back to "not polled yet".
_POLLED = {ListenerState.LISTENING, ListenerState.NO_QUEUE, ListenerState.FAILING}
LISTENER_STATE_TRANSITIONS = TransitionTable(
    "Event listener state",
    ListenerState,
    {
        ListenerState.UNKNOWN: _POLLED,
        ListenerState.LISTENING: _POLLED,
        ListenerState.NO_QUEUE: _POLLED,
        ListenerState.FAILING: _POLLED,
    },
)


class EventChannelQuerySet(TenantQuerySet):
    account_path = "account"


class EventChannel(TimestampedModel):
    """How one account's interruption events reach us: its webhook secret (only a SHA-256 hash is kept;
    the secret is shown once) and how the SQS listener last fared with its queues."""

    account = models.OneToOneField("accounts.Account", on_delete=models.CASCADE, related_name="event_channel")
    webhook_secret_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    webhook_secret_created_at = models.DateTimeField(null=True, blank=True)
    listener_state = models.CharField(max_length=12, choices=ListenerState.choices, default=ListenerState.UNKNOWN)
    listener_error = models.TextField(blank=True)
    listener_failures = models.PositiveIntegerField(default=0)
    listener_retry_at = models.DateTimeField(null=True, blank=True)
    # Region -> queue URL, as the listener found them.
    queues = models.JSONField(default=dict, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    objects = EventChannelQuerySet.as_manager()

    class Meta:
        constraints = [choices_check("listener_state", ListenerState, name="eventchannel_listener_state_valid")]

    def __str__(self):
        return f"event channel of {self.account_id}"

    def move_listener_to(self, state: str) -> None:
        transition(self, "listener_state", LISTENER_STATE_TRANSITIONS, state)


class EventReactionQuerySet(TenantQuerySet):
    account_path = "account"


class EventReaction(UUIDModel):
    """What the safety net did about one stored event when it acted (a launch, or a replica's promotion), and
    how long it took from the event's arrival to the act: the reaction time operators watch on /metrics;
    the savings ledger reads when a replica took over."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="event_reactions")
    instance = models.ForeignKey(
        "fleet.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="event_reactions"
    )
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=24, choices=RiskEventType.choices)
    action = models.CharField(max_length=32)
    # The instance that took over (the replacement launched, or the replica promoted).
    replacement_id = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField()
    acted_at = models.DateTimeField(db_index=True)
    seconds = models.FloatField(help_text="From the event's arrival to the act.")

    objects = EventReactionQuerySet.as_manager()

    class Meta:
        ordering = ["-acted_at"]
        constraints = [
            # A reaction retried for the same event and instance is the same act, counted once.
            models.UniqueConstraint(fields=["event_id", "instance"], name="event_reaction_once"),
        ]

    def __str__(self):
        return f"{self.action} on {self.event_id} in {self.seconds:.2f} s"
