"""Recording the downtime the platform causes, against the 60-seconds-a-month SLA.

Only downtime spotopt causes is logged here (causes in DowntimeCause: an emergency switch, an interruption
without a replica standing by, an optimizer failure, a worker crash). An interruption AWS causes while we
held a replica is not downtime: the replica took over. The safety net (risk.safety) opens a stretch at
the interruption warning and closes it when the replacement runs.
"""

from datetime import datetime

from spotopt.errors import DomainError

from .choices import DowntimeCause
from .models import DowntimeLog


def _check_cause(cause: str) -> None:
    if cause not in DowntimeCause.values:
        raise DomainError(
            f"{cause!r} is not downtime the platform causes; the causes are {', '.join(DowntimeCause.values)}.",
            code="unknown_cause",
        )


def downtime_open(*, account, instance, cause: str, started_at: datetime, details: str = "", user=None) -> DowntimeLog:
    """A stretch of downtime that has begun and not ended yet."""
    _check_cause(cause)
    return DowntimeLog.objects.create(
        account=account, instance=instance, user=user, cause=cause, started_at=started_at, details=details[:4000]
    )


def downtime_close(*, log: DowntimeLog, ended_at: datetime) -> DowntimeLog:
    if log.ended_at is not None:
        return log
    if ended_at < log.started_at:
        raise DomainError("Downtime cannot end before it started.", code="ends_before_start")
    log.ended_at = ended_at
    log.save()  # computes duration_seconds
    return log


def downtime_record(
    *, account, instance, cause: str, started_at: datetime, ended_at: datetime, details: str = ""
) -> DowntimeLog:
    """A finished stretch, recorded at once."""
    _check_cause(cause)
    if ended_at < started_at:
        raise DomainError("Downtime cannot end before it started.", code="ends_before_start")
    return DowntimeLog.objects.create(
        account=account,
        instance=instance,
        cause=cause,
        started_at=started_at,
        ended_at=ended_at,
        details=details[:4000],
    )
