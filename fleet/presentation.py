"""How instances look on the fleet pages: badge tones, cluster membership in short, and the authorization
status in plain words."""

from datetime import datetime, timedelta

from django.conf import settings

from spotopt.presentation import register_badges

from .choices import AuthStatus, Lifecycle, SwitchOutcome, SwitchStatus
from .inventory import authorizing_rule
from .models import Instance, Switch

ROGUE_LABEL = "rogue"

register_badges(
    Instance,
    {
        "auth_status": {
            AuthStatus.AUTHORIZED: "ok",
            AuthStatus.UNAUTHORIZED: "warn",
            AuthStatus.FLAGGED: "error",
            AuthStatus.TERMINATED: "",
        },
        "lifecycle": {Lifecycle.SPOT: "spot", Lifecycle.ON_DEMAND: ""},
    },
)

register_badges(
    Switch,
    {
        "status": {
            SwitchStatus.AWAITING_APPROVAL: "warn",
            SwitchStatus.QUEUED: "info",
            SwitchStatus.RUNNING: "info",
            SwitchStatus.SUCCEEDED: "ok",
            SwitchStatus.ROLLED_BACK: "warn",
            SwitchStatus.FAILED: "error",
            SwitchStatus.CANCELLED: "",
        },
        "outcome": {
            SwitchOutcome.PENDING: "",
            SwitchOutcome.SUCCESS: "ok",
            SwitchOutcome.FAILURE: "error",
            SwitchOutcome.NOT_APPLICABLE: "",
        },
    },
)

MEMBERSHIP_LABELS = {
    "cluster_name": "Cluster",
    "node_group": "Node group",
    "nodepool": "Karpenter nodepool",
    "asg_name": "Auto Scaling group",
}


def _or_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"


def authorizing_tags_sentence() -> str:
    return _or_list(list(settings.FLEET_AUTHORIZING_TAGS))


def membership_short(membership: dict) -> str:
    """The table's short form: "cluster / node group" (or nodepool), else "ASG name"."""
    group = membership.get("node_group") or membership.get("nodepool")
    if membership.get("cluster_name"):
        return " / ".join(filter(None, [membership["cluster_name"], group]))
    if group:
        return group
    if membership.get("asg_name"):
        return f"ASG {membership['asg_name']}"
    return ""


def decorate(instance: Instance, now) -> Instance:
    """What the templates need beside the row itself (no query: the account is selected with the row)."""
    membership = instance.cluster_membership or {}
    instance.is_rogue = instance.auth_status == AuthStatus.FLAGGED
    instance.flagged_hours = (
        max(0, int((now - instance.flagged_at).total_seconds() // 3600)) if instance.flagged_at else None
    )
    instance.grace_over = instance.flagged_hours is not None and instance.flagged_hours >= settings.ROGUE_GRACE_HOURS
    instance.membership_items = [
        (label, membership[key]) for key, label in MEMBERSHIP_LABELS.items() if membership.get(key)
    ]
    instance.membership_short = membership_short(membership)
    instance.membership_title = ", ".join(f"{label}: {value}" for label, value in instance.membership_items)
    return instance


def what_happens_next(instance: Instance, now) -> dict:
    """The authorization status in plain words: why, and what spotopt does next."""
    grace = settings.ROGUE_GRACE_HOURS
    rule = authorizing_rule(instance.tags)
    sentence = authorizing_tags_sentence()
    if instance.auth_status == AuthStatus.FLAGGED:
        deadline = instance.flagged_at + timedelta(hours=grace) if instance.flagged_at else None
        return {
            "headline": "Flagged as rogue: it has no authorizing tag.",
            "next": (
                f"A termination request will be filed after the {grace} h grace period unless it gets an "
                f"authorizing tag: {sentence}."
            ),
            "deadline": deadline,
            "deadline_passed": deadline is not None and deadline <= now,
            "reassure": "Nothing is terminated automatically: someone other than the requester must approve "
            "the request first.",
        }
    if instance.auth_status == AuthStatus.UNAUTHORIZED:
        return {
            "headline": "Not authorized: it has no authorizing tag.",
            "next": (
                f"The next discovery flags it, and a termination request is filed after the {grace} h grace "
                f"period, unless it gets an authorizing tag: {sentence}."
            ),
        }
    if instance.auth_status == AuthStatus.TERMINATED:
        return {
            "headline": "Terminated by spotopt through an approved request.",
            "next": "Nothing else will happen to it; its history stays here.",
        }
    return {
        "headline": f"Authorized by the tag {rule}." if rule else "Authorized.",
        "next": "spotopt leaves it running. If it loses every authorizing tag "
        f"({sentence}), it is flagged and a termination request is filed after the {grace} h grace period.",
    }


def lab_change_message(instance: Instance, changed: list[str]) -> str:
    words = {
        "pipeline_mode": f"pipeline mode {instance.get_pipeline_mode_display()}",
        "is_shadow_mode": f"shadow mode {'on' if instance.is_shadow_mode else 'off'}",
        "assigned_model_version": (
            f"model version {instance.assigned_model_version}"
            if instance.assigned_model_version
            else "no model version assigned"
        ),
    }
    return "Lab controls saved: " + ", ".join(words[name] for name in changed) + "."


INTERRUPTION_EVENTS = {"termination_notice": "Interruption warning", "rebalance_notice": "Rebalance recommendation"}


def interruption_note(metadata: dict) -> dict | None:
    """The last interruption event the safety net acted on for this instance (risk.safety writes it)."""
    note = (metadata or {}).get("interruption")
    if not note:
        return None
    try:
        reported_at = datetime.fromisoformat(note.get("reported_at", ""))
    except ValueError:
        reported_at = None
    return {
        "event": INTERRUPTION_EVENTS.get(note.get("event_type"), "Event"),
        "event_id": note.get("event_id", ""),
        "reported_at": reported_at,
        "what": note.get("detail") or note.get("action", ""),
        "replacement_id": note.get("replacement_id", ""),
    }
