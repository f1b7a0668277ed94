"""Platform housekeeping run by django-q2."""

from django.core.management import call_command

from .q import PeriodicJob


def clear_expired_sessions() -> None:
    call_command("clearsessions")


SCHEDULES = [
    PeriodicJob(name="platform.clear-expired-sessions", func="spotopt.tasks.clear_expired_sessions", minutes=24 * 60),
]
