"""Reads of the hive and the interruption events, scoped to the user asking.

Pools are global knowledge: every signed-in user reads them (with no word of which tenant's interruption
poisoned one). Events, held events and rejected ingests are tenant data: a customer sees its accounts',
lab users LAB accounts', admins every tenant's."""

from django.db.models import Q
from django.utils import timezone

from accounts.roles import effective_role
from fleet.selectors import ACCOUNT_COLUMNS

from .models import EventChannel, GlobalRiskEvent, HeldRiskEvent, RejectedIngest, SpotPoolRisk

POOL_COLUMNS = (
    "id",
    "region",
    "availability_zone",
    "instance_type",
    "is_poisoned",
    "interruption_count",
    "last_interruption",
    "poisoned_at",
    "poison_expires_at",
    "pool_metadata",
    "updated_at",
)


def poisoned_now(now=None) -> Q:
    """A poison counts until it expires, whether or not the job has cleared the flag yet (as the gatekeeper)."""
    return Q(is_poisoned=True, poison_expires_at__gt=now or timezone.now())


def pools_for(user):
    """Every pool the hive knows, for any signed-in user; poisoned ones first, the latest to expire first."""
    if effective_role(user) is None:
        return SpotPoolRisk.objects.none()
    return SpotPoolRisk.objects.only(*POOL_COLUMNS).order_by("-poison_expires_at", "id")


def _account_columns(prefix: str = "account") -> list[str]:
    return [f"{prefix}__{column}" for column in ACCOUNT_COLUMNS]


def _columns_without(model, *left_out: str) -> list[str]:
    """The row's own columns but the big ones a list does not show (raw bodies), and its account's few."""
    return [f.name for f in model._meta.concrete_fields if f.name not in left_out] + _account_columns()


def events_for(user):
    """The user's tenants' events, newest received first (the riskevent_*_recent indexes)."""
    return (
        GlobalRiskEvent.objects.for_user(user)
        .select_related("account")
        .only(*_columns_without(GlobalRiskEvent, "raw_event"))
        .order_by("-received_at", "-id")
    )


def held_events_for(user):
    return (
        HeldRiskEvent.objects.for_user(user)
        .select_related("event", "account", "decided_by")
        .only(
            "id",
            "status",
            "created_at",
            "decided_at",
            "decision_note",
            "account",
            "decided_by__username",
            *(
                f"event__{f.name}"
                for f in GlobalRiskEvent._meta.concrete_fields
                if f.name not in ("raw_event", "account")
            ),
            *_account_columns(),
        )
        .order_by("-created_at", "-id")
    )


def rejected_for(user):
    return (
        RejectedIngest.objects.for_user(user)
        .select_related("account")
        .only(*_columns_without(RejectedIngest, "raw_body"))
        .order_by("-received_at", "-id")
    )


def event_channel_of(account) -> EventChannel | None:
    return EventChannel.objects.filter(account=account).first()
