"""django-q2 entry points of the risk app."""

from spotopt.q import PeriodicJob

from .services import expired_poisons_lift


def lift_expired_poisons() -> int:
    return expired_poisons_lift()


SCHEDULES = [
    PeriodicJob(name="risk.lift-expired-poisons", func="risk.tasks.lift_expired_poisons", minutes=10),
]
