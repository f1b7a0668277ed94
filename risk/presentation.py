"""How the hive and the interruption events look on the pages: badge tones and plain words."""

from django.conf import settings
from django.utils import timezone

from spotopt.presentation import register_badges

from .choices import EventOutcome, HeldEventStatus, IngestChannel, ListenerState, RejectReason, RiskEventType
from .models import POISON_DURATION, EventChannel, GlobalRiskEvent, HeldRiskEvent, RejectedIngest

register_badges(
    GlobalRiskEvent,
    {
        "event_type": {RiskEventType.TERMINATION_NOTICE: "error", RiskEventType.REBALANCE_NOTICE: "warn"},
        "outcome": {
            EventOutcome.POISONED: "error",
            EventOutcome.EXTENDED: "error",
            EventOutcome.COUNTED: "info",
            EventOutcome.LAB_ONLY: "",
            EventOutcome.HELD: "warn",
        },
        "channel": {IngestChannel.SQS: "", IngestChannel.WEBHOOK: ""},
    },
)
register_badges(
    HeldRiskEvent,
    {"status": {HeldEventStatus.HELD: "warn", HeldEventStatus.RELEASED: "error", HeldEventStatus.DISMISSED: ""}},
)
register_badges(
    RejectedIngest,
    {
        "reason": {reason: "warn" for reason in RejectReason},
        "channel": {IngestChannel.SQS: "", IngestChannel.WEBHOOK: ""},
    },
)
register_badges(
    EventChannel,
    {
        "listener_state": {
            ListenerState.UNKNOWN: "",
            ListenerState.LISTENING: "ok",
            ListenerState.NO_QUEUE: "warn",
            ListenerState.FAILING: "error",
        }
    },
)


def pool_row(pool, now=None) -> dict:
    """A pool as its row shows it: poisoned now, and for how much longer."""
    now = now or timezone.now()
    poisoned = bool(pool.is_poisoned and pool.poison_expires_at and pool.poison_expires_at > now)
    lifts = pool.pool_metadata.get("lifts", [])
    return {
        "pool": pool,
        "poisoned": poisoned,
        "expires_in": (pool.poison_expires_at - now) if poisoned else None,
        "rebalance_count": int(pool.pool_metadata.get("rebalance_count", 0)),
        "false_alarms": int(pool.pool_metadata.get("false_alarms", 0)),
        "last_lift": lifts[-1] if lifts else None,
    }


def hive_rules() -> dict:
    """The hive's rules in numbers, as the risk page explains them."""
    return {
        "poison_days": POISON_DURATION.days,
        "tenant_limit": settings.RISK_TENANT_POISONS_PER_HOUR,
    }
