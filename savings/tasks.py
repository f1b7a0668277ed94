"""django-q2 entry points of the savings ledger."""

from spotopt.q import PeriodicJob


def close_days() -> int:
    from .ledger import yesterday_close

    return yesterday_close()


SCHEDULES = [PeriodicJob(name="savings.close-days", func="savings.tasks.close_days", minutes=60)]
