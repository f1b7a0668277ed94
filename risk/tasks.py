"""django-q2 entry points of the risk app."""

import logging
import time

from django.utils import timezone

from fleet.launch import instance_is_running
from fleet.models import Instance
from sla.models import DowntimeLog
from sla.services import downtime_close
from spotopt.q import PeriodicJob

from .models import GlobalRiskEvent
from .safety import event_react, false_alarm_replicas_retire
from .services import expired_poisons_lift

logger = logging.getLogger(__name__)

# How long an emergency replacement may take to reach "running" before its downtime is closed anyway
# (and flagged in the row's details).
RUNNING_WAIT_SECONDS = 600


def lift_expired_poisons() -> int:
    return expired_poisons_lift()


def retire_false_alarm_replicas() -> int:
    return false_alarm_replicas_retire()


def react_to_event(event_id: str) -> str:
    """The queued reaction to a webhook-delivered event (the listener reacts inline)."""
    event = GlobalRiskEvent.objects.select_related("account").filter(event_id=event_id).first()
    if event is None:
        return "gone"
    reaction = event_react(event=event)
    return reaction.action if reaction else "none"


def close_downtime_when_running(log_pk: str, instance_pk: str) -> str:
    """Close an emergency replacement's downtime when the replacement runs (polled every 5 s)."""
    log = DowntimeLog.objects.filter(pk=log_pk, ended_at__isnull=True).first()
    instance = Instance.objects.select_related("account").filter(pk=instance_pk).first()
    if log is None or instance is None:
        return "nothing open"
    deadline = time.monotonic() + RUNNING_WAIT_SECONDS
    while time.monotonic() < deadline:
        if instance_is_running(instance=instance):
            downtime_close(log=log, ended_at=timezone.now())
            return "closed"
        time.sleep(5)
    logger.warning(
        "replacement %s not running after %s s; downtime %s closed", instance.instance_id, RUNNING_WAIT_SECONDS, log.pk
    )
    log.details = (
        f"{log.details} The replacement {instance.instance_id} was not running after {RUNNING_WAIT_SECONDS} s."
    )
    log.save(update_fields=["details"])
    downtime_close(log=log, ended_at=timezone.now())
    return "closed after waiting"


SCHEDULES = [
    PeriodicJob(name="risk.lift-expired-poisons", func="risk.tasks.lift_expired_poisons", minutes=10),
    PeriodicJob(name="risk.retire-false-alarm-replicas", func="risk.tasks.retire_false_alarm_replicas", minutes=10),
]
