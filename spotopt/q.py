"""django-q2 wiring: periodic jobs are declared in each app's tasks.py and upserted by name.

An app's tasks.py lists `SCHEDULES = [PeriodicJob(...)]`; `manage.py setup_schedules` calls
`schedules_sync()`, which creates or updates each job by name and removes jobs we created earlier that
no app declares any more. Running it twice changes nothing. One-off work goes through `enqueue_on_commit`.
"""

import importlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task

logger = logging.getLogger(__name__)

# Our schedules' names start with this, so we never touch schedules an operator added by hand.
NAME_PREFIX = "spotopt:"


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # without the prefix, e.g. "fleet.discover-all"
    func: str  # dotted path of the task function
    minutes: int | None = None  # run every N minutes (schedule type MINUTES)
    schedule_type: str = Schedule.MINUTES
    cron: str | None = None

    @property
    def full_name(self) -> str:
        return f"{NAME_PREFIX}{self.name}"

    def schedule_fields(self) -> dict:
        fields = {"func": self.func, "schedule_type": self.schedule_type, "repeats": -1}
        if self.schedule_type == Schedule.MINUTES:
            fields["minutes"] = self.minutes
        if self.schedule_type == Schedule.CRON:
            fields["cron"] = self.cron
        return fields


def declared_jobs() -> list[PeriodicJob]:
    jobs: list[PeriodicJob] = []
    for module_name in settings.SCHEDULE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # an app without periodic work has no tasks.py
        jobs.extend(getattr(module, "SCHEDULES", []))
    names = [job.full_name for job in jobs]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"Periodic jobs declared twice: {sorted(duplicates)}")
    return jobs


@dataclass
class SyncResult:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]


@transaction.atomic
def schedules_sync() -> SyncResult:
    result = SyncResult([], [], [], [])
    jobs = declared_jobs()
    for job in jobs:
        fields = job.schedule_fields()
        schedule = Schedule.objects.filter(name=job.full_name).first()
        if schedule is None:
            Schedule.objects.create(name=job.full_name, **fields)
            result.created.append(job.full_name)
        elif any(getattr(schedule, key) != value for key, value in fields.items()):
            for key, value in fields.items():
                setattr(schedule, key, value)
            schedule.save()
            result.updated.append(job.full_name)
        else:
            result.unchanged.append(job.full_name)
    stale = Schedule.objects.filter(name__startswith=NAME_PREFIX).exclude(name__in=[j.full_name for j in jobs])
    result.removed = list(stale.values_list("name", flat=True))
    stale.delete()
    return result


def enqueue_on_commit(func: str, *args, **kwargs) -> None:
    """Queue a task once the current transaction commits (ids in, never model instances)."""
    transaction.on_commit(lambda: async_task(func, *args, **kwargs))
