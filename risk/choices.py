from django.db import models


class RiskEventType(models.TextChoices):
    REBALANCE_NOTICE = "rebalance_notice", "Rebalance recommendation"
    TERMINATION_NOTICE = "termination_notice", "Interruption (termination) notice"


class IngestChannel(models.TextChoices):
    SQS = "sqs", "SQS queue"
    WEBHOOK = "webhook", "Webhook"


class EventOutcome(models.TextChoices):
    """What one stored event did to the hive (fixed when it is written: events are append-only)."""

    POISONED = "poisoned", "Poisoned the pool"
    EXTENDED = "extended", "Extended the pool's poison"
    COUNTED = "counted", "Counted (rebalance)"
    LAB_ONLY = "lab_only", "Logged (LAB account, never poisons)"
    HELD = "held", "Held for review (tenant over its poison limit)"


class RejectReason(models.TextChoices):
    MALFORMED = "malformed", "Not an EventBridge event we read"
    UNKNOWN_TYPE = "unknown_type", "Not an interruption or rebalance event"
    UNKNOWN_ACCOUNT = "unknown_account", "No connected account has that AWS account id"
    WRONG_ACCOUNT = "wrong_account", "The event names another AWS account"
    UNATTRIBUTABLE = "unattributable", "The instance is not in the account"
    TOO_LARGE = "too_large", "Larger than an EventBridge event can be"


class HeldEventStatus(models.TextChoices):
    HELD = "held", "Held"
    RELEASED = "released", "Released (poison applied)"
    DISMISSED = "dismissed", "Dismissed"


class ListenerState(models.TextChoices):
    """How the SQS listener last fared with one account's queues."""

    UNKNOWN = "unknown", "Not polled yet"
    LISTENING = "listening", "Listening"
    NO_QUEUE = "no_queue", "No queue found"
    FAILING = "failing", "Failing (retried with backoff)"
