"""Risk workflows: interruption-event ingest, the hive's poisons, held events, webhook secrets.

Ingest (`risk_events_ingest`) takes the exact EventBridge JSON from either way in (the SQS listener, the
webhook), one event or a batch. Each event is attributed to a connected account, its pool resolved from
the inventory (or from DescribeInstances in that account, recording the instance), and written once per
EventBridge event id: a redelivery is a no-op. What it does to the hive is decided in the same
transaction, under a lock on the tenant (its team), so the per-tenant poison limit holds under concurrent
deliveries. Anything unreadable or unattributable is kept as a RejectedIngest with its reason; nothing
here raises for a bad event.
"""

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.choices import EnvironmentType
from accounts.models import Account, Team
from accounts.roles import Capability
from fleet.models import Instance
from fleet.services import instance_record_from_aws
from spotopt.errors import Conflict, DomainError, PermissionRefused
from spotopt.q import enqueue_on_commit

from .choices import EventOutcome, HeldEventStatus, IngestChannel, RejectReason, RiskEventType
from .events import EventRejected, InterruptionEvent, decode_body, parse_event
from .models import (
    POISON_DURATION,
    REJECTED_BODY_LIMIT,
    EventChannel,
    GlobalRiskEvent,
    HeldRiskEvent,
    RejectedIngest,
    SpotPoolRisk,
)

logger = logging.getLogger(__name__)

# A webhook call carries at most this many events (EventBridge API destinations send one).
MAX_BATCH = 100
WEBHOOK_SECRET_PREFIX = "spe_"


@dataclass(frozen=True)
class IngestResult:
    """What became of one event: stored (with its outcome), duplicate, or rejected (with the reason)."""

    status: str  # "stored" | "duplicate" | "rejected"
    event_id: str = ""
    outcome: str = ""
    pool_id: str = ""
    reason: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status != "rejected"

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value}


# --- Ingest ---------------------------------------------------------------------------------------------


REACT_INLINE, REACT_QUEUED, REACT_NEVER = "inline", "queued", "never"


def risk_events_ingest(
    *,
    body,
    channel: str,
    account: Account | None = None,
    received_at: datetime | None = None,
    react: str = REACT_QUEUED,
) -> list[IngestResult]:
    """Ingest one EventBridge event or a batch (a JSON array). `account` is who delivered it (the owner of
    the SQS queue, the webhook secret's account): an event naming another AWS account is rejected. Without
    it the event's own `account` field picks the connected account.

    Each stored event then gets its reaction (risk.safety: replica, promotion, emergency replacement):
    `react="inline"` right here, after the event is committed (the SQS listener: a process of its own, the
    two-minute warning leaves no time for a queue), `"queued"` on a django-q2 worker (the webhook answers
    at once), `"never"` (tests of the ingest alone)."""
    received_at = received_at or timezone.now()
    results = _ingest_all(body, channel=channel, account=account, received_at=received_at)
    for result in results:
        if result.status == "stored" and react != REACT_NEVER:
            ingest_result_react(result, inline=react == REACT_INLINE)
    return results


def ingest_result_react(result: IngestResult, *, inline: bool) -> None:
    """React to a stored event: at once in this thread (the listener), or as a django-q2 task after commit."""
    from .safety import event_react

    if not inline:
        enqueue_on_commit("risk.tasks.react_to_event", result.event_id, group="risk-reaction")
        return
    try:
        event = GlobalRiskEvent.objects.select_related("account").get(event_id=result.event_id)
        event_react(event=event)
    except Exception:  # the event is stored; a failed reaction must not lose the next message
        logger.exception("reaction to risk event %s failed", result.event_id)


def _ingest_all(body, *, channel: str, account: Account | None, received_at: datetime) -> list[IngestResult]:
    try:
        decoded = decode_body(body)
    except EventRejected as rejected:
        return [_reject(rejected, channel=channel, account=account, body=body, received_at=received_at)]
    events = decoded if isinstance(decoded, list) else [decoded]
    if len(events) > MAX_BATCH:
        rejected = EventRejected(RejectReason.TOO_LARGE, f"A batch holds at most {MAX_BATCH} events.")
        return [_reject(rejected, channel=channel, account=account, body=body, received_at=received_at)]
    return [_ingest_one(event, channel=channel, account=account, received_at=received_at) for event in events] or [
        _reject(
            EventRejected(RejectReason.MALFORMED, "The batch is empty."),
            channel=channel,
            account=account,
            body=body,
            received_at=received_at,
        )
    ]


def _ingest_one(event, *, channel: str, account: Account | None, received_at: datetime) -> IngestResult:
    try:
        # A queue is the account's own (its policy lets only the account's rules send): an envelope without
        # "account" is the queue owner's. The webhook's events must name the account themselves.
        owner = account.account_id if account is not None and channel == IngestChannel.SQS else ""
        parsed = parse_event(event, received_at=received_at, account_if_absent=owner)
        account = _attribute(parsed, account)
        if GlobalRiskEvent.objects.filter(event_id=parsed.event_id).exists():
            return IngestResult("duplicate", event_id=parsed.event_id)
        pool = _resolve_pool(parsed, account)
        return _record(parsed, account=account, pool=pool, channel=channel, received_at=received_at)
    except EventRejected as rejected:
        return _reject(rejected, channel=channel, account=account, body=event, received_at=received_at)


def _attribute(parsed: InterruptionEvent, delivered_by: Account | None) -> Account:
    if delivered_by is not None:
        if parsed.aws_account_id != delivered_by.account_id:
            raise EventRejected(
                RejectReason.WRONG_ACCOUNT,
                f"The event names AWS account {parsed.aws_account_id}, but it was delivered for "
                f"{delivered_by.account_id}.",
                aws_account_id=parsed.aws_account_id,
                event_id=parsed.event_id,
            )
        return delivered_by
    account = Account.objects.filter(account_id=parsed.aws_account_id, is_active=True).first()
    if account is None:
        raise EventRejected(
            RejectReason.UNKNOWN_ACCOUNT,
            f"No connected account has the AWS account id {parsed.aws_account_id}.",
            aws_account_id=parsed.aws_account_id,
            event_id=parsed.event_id,
        )
    return account


def _resolve_pool(parsed: InterruptionEvent, account: Account) -> tuple[str, str, str]:
    """(region, AZ, instance type) of the event's instance: neither event names the pool."""
    known = (
        Instance.objects.filter(account=account, instance_id=parsed.instance_id)
        .values_list("region", "availability_zone", "instance_type")
        .first()
    )
    if known:
        return known
    try:
        instance = instance_record_from_aws(account=account, region=parsed.region, instance_id=parsed.instance_id)
    except DomainError as exc:
        raise EventRejected(
            RejectReason.UNATTRIBUTABLE,
            f"Instance {parsed.instance_id} is not in our inventory and could not be looked up: {exc.message}",
            aws_account_id=parsed.aws_account_id,
            event_id=parsed.event_id,
        ) from None
    if instance is None:
        raise EventRejected(
            RejectReason.UNATTRIBUTABLE,
            f"AWS account {account.account_id} has no live instance {parsed.instance_id} in {parsed.region}.",
            aws_account_id=parsed.aws_account_id,
            event_id=parsed.event_id,
        )
    return instance.region, instance.availability_zone, instance.instance_type


def _record(parsed: InterruptionEvent, *, account, pool, channel, received_at) -> IngestResult:
    region, zone, instance_type = pool
    try:
        with transaction.atomic():
            # One tenant's events are decided one at a time: the duplicate check and the poison limit see
            # every earlier event of the tenant (READ COMMITTED: each statement after the lock does).
            Team.objects.select_for_update().filter(pk=account.team_id).first()
            if GlobalRiskEvent.objects.filter(event_id=parsed.event_id).exists():
                return IngestResult("duplicate", event_id=parsed.event_id)
            pool_row, _ = SpotPoolRisk.objects.select_for_update().get_or_create(
                region=region, availability_zone=zone, instance_type=instance_type
            )
            outcome = _outcome(parsed, account=account, pool=pool_row, now=received_at)
            event = GlobalRiskEvent.objects.create(
                event_id=parsed.event_id,
                event_type=parsed.event_type,
                region=region,
                availability_zone=zone,
                instance_type=instance_type,
                instance_id=parsed.instance_id,
                instance_action=parsed.instance_action,
                account=account,
                reported_at=parsed.reported_at,
                expires_at=parsed.reported_at + POISON_DURATION,
                received_at=received_at,
                channel=channel,
                outcome=outcome,
                raw_event=parsed.raw,
            )
            _apply(outcome, event=event, pool=pool_row, account=account)
    except IntegrityError:
        # The same event id committed by another delivery between our check and our insert.
        if GlobalRiskEvent.objects.filter(event_id=parsed.event_id).exists():
            return IngestResult("duplicate", event_id=parsed.event_id)
        raise
    logger.info("risk event %s: %s %s (%s)", parsed.event_id, parsed.event_type, event.pool_id, outcome)
    return IngestResult("stored", event_id=parsed.event_id, outcome=outcome, pool_id=event.pool_id)


def _outcome(parsed: InterruptionEvent, *, account: Account, pool: SpotPoolRisk, now: datetime) -> str:
    if account.environment_type != EnvironmentType.PROD:
        return EventOutcome.LAB_ONLY
    if parsed.event_type == RiskEventType.REBALANCE_NOTICE:
        return EventOutcome.COUNTED
    if pool.is_poisoned and pool.poison_expires_at and pool.poison_expires_at > now:
        return EventOutcome.EXTENDED
    if tenant_new_poisons_last_hour(team_id=account.team_id, now=now) >= settings.RISK_TENANT_POISONS_PER_HOUR:
        return EventOutcome.HELD
    return EventOutcome.POISONED


def tenant_new_poisons_last_hour(*, team_id, now: datetime | None = None) -> int:
    """How many pools the team's events newly poisoned in the hour before `now`."""
    now = now or timezone.now()
    return GlobalRiskEvent.objects.filter(
        account_id__in=Account.objects.filter(team_id=team_id).values("pk"),
        outcome=EventOutcome.POISONED,
        received_at__gt=now - timedelta(hours=1),
        received_at__lte=now,
    ).count()


def _apply(outcome: str, *, event: GlobalRiskEvent, pool: SpotPoolRisk, account: Account) -> None:
    if outcome in (EventOutcome.POISONED, EventOutcome.EXTENDED):
        _poison(pool, event=event, team_id=account.team_id)
    elif outcome == EventOutcome.COUNTED:
        metadata = dict(pool.pool_metadata)
        metadata["rebalance_count"] = int(metadata.get("rebalance_count", 0)) + 1
        metadata["last_rebalance"] = event.reported_at.isoformat()
        pool.pool_metadata = metadata
        pool.save(update_fields=["pool_metadata", "updated_at"])
    elif outcome == EventOutcome.HELD:
        HeldRiskEvent.objects.create(event=event, account=account)
        logger.warning(
            "risk event %s held: team %s is over %s new poisons an hour",
            event.event_id,
            account.team_id,
            settings.RISK_TENANT_POISONS_PER_HOUR,
        )


def _poison(pool: SpotPoolRisk, *, event: GlobalRiskEvent, team_id) -> None:
    """Poison (or extend the poison of) the locked pool for every tenant, from this termination warning."""
    expires = event.reported_at + POISON_DURATION
    still_poisoned = pool.is_poisoned and pool.poison_expires_at and pool.poison_expires_at > event.received_at
    if not still_poisoned:
        pool.poisoned_at = event.reported_at
        pool.triggering_customer_id = team_id
    pool.is_poisoned = True
    pool.poison_expires_at = max(expires, pool.poison_expires_at) if still_poisoned else expires
    pool.interruption_count += 1
    pool.last_interruption = max(event.reported_at, pool.last_interruption or event.reported_at)
    pool.save()


def _reject(rejected: EventRejected, *, channel, account, body, received_at) -> IngestResult:
    raw = body if isinstance(body, str) else _as_text(body)
    RejectedIngest.objects.create(
        received_at=received_at,
        channel=channel,
        reason=rejected.reason,
        message=rejected.message[:2000],
        account=account,
        aws_account_id=rejected.aws_account_id or (account.account_id if account else ""),
        event_id=rejected.event_id,
        raw_body=raw[:REJECTED_BODY_LIMIT],
    )
    logger.info("risk event rejected (%s, %s): %s", channel, rejected.reason, rejected.message)
    return IngestResult("rejected", event_id=rejected.event_id, reason=rejected.reason, message=rejected.message)


def _as_text(body) -> str:
    if isinstance(body, bytes):
        return body[:REJECTED_BODY_LIMIT].decode("utf-8", errors="replace")
    try:
        return json.dumps(body)[:REJECTED_BODY_LIMIT]
    except (TypeError, ValueError):
        return repr(body)[:REJECTED_BODY_LIMIT]


# --- The hive, by hand and on schedule ------------------------------------------------------------------


def _require_hive_manager(user) -> None:
    if not user.can(Capability.MANAGE_HIVE):
        raise PermissionRefused("Only super_admins overrule the hive: it is every tenant's shared memory.")


def pool_poison_lift(*, pool: SpotPoolRisk, user, reason: str) -> SpotPoolRisk:
    """A super_admin lifts a poison before it expires; the reason is kept in the pool's history."""
    _require_hive_manager(user)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the pool is safe again: the reason is kept and shown.", code="reason_required")
    with transaction.atomic():
        pool = SpotPoolRisk.objects.select_for_update().get(pk=pool.pk)
        now = timezone.now()
        if not (pool.is_poisoned and pool.poison_expires_at and pool.poison_expires_at > now):
            raise Conflict(f"Pool {pool.pool_id} is not poisoned.")
        metadata = dict(pool.pool_metadata)
        metadata["lifts"] = [
            *metadata.get("lifts", []),
            {
                "at": now.isoformat(),
                "by": user.username,
                "reason": reason[:1000],
                "poisoned_at": pool.poisoned_at.isoformat(),
                "would_have_expired_at": pool.poison_expires_at.isoformat(),
            },
        ]
        pool.pool_metadata = metadata
        pool.is_poisoned = False
        pool.save(update_fields=["is_poisoned", "pool_metadata", "updated_at"])
    logger.info("pool %s lifted by %s: %s", pool.pool_id, user.username, reason)
    return pool


def expired_poisons_lift(*, now: datetime | None = None) -> int:
    """The scheduled job: clear the flag of every poison whose 15 days are over (one UPDATE)."""
    now = now or timezone.now()
    return SpotPoolRisk.objects.filter(is_poisoned=True, poison_expires_at__lte=now).update(
        is_poisoned=False, updated_at=now
    )


def held_event_release(*, held: HeldRiskEvent, user, note: str = "") -> HeldRiskEvent:
    """A super_admin judges a held warning genuine: it poisons its pool now, as it would have."""
    _require_hive_manager(user)
    with transaction.atomic():
        held = HeldRiskEvent.objects.select_for_update().select_related("event").get(pk=held.pk)
        held.move_to(HeldEventStatus.RELEASED)
        event = held.event
        pool, _ = SpotPoolRisk.objects.select_for_update().get_or_create(
            region=event.region, availability_zone=event.availability_zone, instance_type=event.instance_type
        )
        team_id = Account.objects.filter(pk=event.account_id).values_list("team_id", flat=True).first()
        _poison(pool, event=_as_of_now(event), team_id=team_id)
        _decide(held, user=user, note=note)
    return held


def held_event_dismiss(*, held: HeldRiskEvent, user, note: str = "") -> HeldRiskEvent:
    _require_hive_manager(user)
    with transaction.atomic():
        held = HeldRiskEvent.objects.select_for_update().get(pk=held.pk)
        held.move_to(HeldEventStatus.DISMISSED)
        _decide(held, user=user, note=note)
    return held


def _as_of_now(event: GlobalRiskEvent) -> GlobalRiskEvent:
    # A released warning poisons from its own report time; "still poisoned" is judged now.
    event.received_at = timezone.now()
    return event


def _decide(held: HeldRiskEvent, *, user, note: str) -> None:
    held.decided_by, held.decided_at, held.decision_note = user, timezone.now(), (note or "").strip()[:2000]
    held.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])


# --- Webhook secrets ------------------------------------------------------------------------------------


def _secret_hash(secret: str) -> str:
    # A random 256-bit secret needs no slow hash: SHA-256 is enough and lets the webhook find it directly.
    return hashlib.sha256(secret.encode()).hexdigest()


def event_webhook_secret_rotate(*, account: Account, user) -> str:
    """A new webhook secret for the account (the old one stops working); returned once, stored hashed."""
    if not user.can(Capability.MANAGE_ACCOUNTS):
        raise PermissionRefused("Read-only users cannot create webhook secrets.")
    secret = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        channel, _ = EventChannel.objects.select_for_update().get_or_create(account=account)
        channel.webhook_secret_hash = _secret_hash(secret)
        channel.webhook_secret_created_at = timezone.now()
        channel.save(update_fields=["webhook_secret_hash", "webhook_secret_created_at", "updated_at"])
    logger.info("webhook secret of account %s rotated by %s", account.pk, user.username)
    return secret


def account_for_webhook_secret(secret: str | None) -> Account | None:
    """The active account whose webhook secret this is, or None."""
    if not secret or not secret.startswith(WEBHOOK_SECRET_PREFIX) or len(secret) > 200:
        return None
    channel = (
        EventChannel.objects.select_related("account")
        .filter(webhook_secret_hash=_secret_hash(secret), account__is_active=True)
        .first()
    )
    return channel.account if channel else None
