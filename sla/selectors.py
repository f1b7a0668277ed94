"""Reads of the SLA: the downtime rows of the user's accounts, and the monthly summary in SQL.

The summary is one GROUP BY (account, calendar month of the start, cause) over the chosen months; a stretch
still open counts until now, read from the few open rows (only replacements in flight are open). A stretch
counts in the month it started."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from accounts.models import Account
from fleet.selectors import ACCOUNT_COLUMNS

from .choices import DowntimeCause
from .models import SLA_MONTHLY_BUDGET_SECONDS, DowntimeLog

MAX_MONTHS = 24
ZERO = Decimal("0.000")


def downtime_for(user):
    return (
        DowntimeLog.objects.for_user(user)
        .select_related("account", "instance")
        .only(
            *(f.name for f in DowntimeLog._meta.concrete_fields),
            *(f"account__{column}" for column in ACCOUNT_COLUMNS),
            "instance__id",
            "instance__instance_id",
        )
        .order_by("-started_at", "-id")
    )


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_back(until: date, count: int) -> list[date]:
    """The first days of the `count` calendar months ending with `until`'s, oldest first."""
    months, year, month = [], until.year, until.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


@dataclass
class AccountMonth:
    """One account's downtime in one calendar month, against the budget."""

    account_id: object
    month: date
    downtime_seconds: Decimal = ZERO
    incidents: int = 0
    open_incidents: int = 0
    by_cause: dict = field(default_factory=dict)
    account_name: str = ""
    aws_account_id: str | None = None

    @property
    def budget_left_seconds(self) -> Decimal:
        return max(ZERO, Decimal(SLA_MONTHLY_BUDGET_SECONDS) - self.downtime_seconds)

    @property
    def over_budget(self) -> bool:
        return self.downtime_seconds > SLA_MONTHLY_BUDGET_SECONDS

    @property
    def budget_used_percent(self) -> int:
        return min(999, int(self.downtime_seconds * 100 / SLA_MONTHLY_BUDGET_SECONDS))


@dataclass
class SlaSummary:
    budget_seconds: int
    months: list[date]
    rows: list[AccountMonth]  # (account, month) pairs with downtime, newest month first, most downtime first

    def month_rows(self, month: date) -> list[AccountMonth]:
        return [row for row in self.rows if row.month == month]

    @property
    def by_month(self) -> list[dict]:
        """Per month: the worst account's downtime (the SLA is per account) and the total."""
        out = []
        for month in self.months:
            rows = self.month_rows(month)
            out.append(
                {
                    "month": month,
                    "worst_account_seconds": max((r.downtime_seconds for r in rows), default=ZERO),
                    "total_seconds": sum((r.downtime_seconds for r in rows), ZERO),
                    "accounts_over_budget": sum(1 for r in rows if r.over_budget),
                    "incidents": sum(r.incidents for r in rows),
                }
            )
        return out

    @property
    def by_cause(self) -> dict:
        totals = {cause: ZERO for cause in DowntimeCause.values}
        for row in self.rows:
            for cause, seconds in row.by_cause.items():
                totals[cause] += seconds
        return totals


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def sla_summary(queryset, *, months: int = 12, now: datetime | None = None) -> SlaSummary:
    """The downtime of `queryset` (already scoped and filtered) per account and month, for the `months`
    calendar months up to now's: one aggregate query, one for the open stretches, one for the names."""
    now = now or timezone.now()
    months = max(1, min(MAX_MONTHS, months))
    month_list = months_back(now.astimezone(UTC).date(), months)
    since = datetime.combine(month_list[0], datetime.min.time(), tzinfo=UTC)
    window = queryset.filter(started_at__gte=since, started_at__lte=now).order_by()
    groups = (
        window.annotate(month=TruncMonth("started_at", tzinfo=UTC))
        .values("account_id", "month", "cause")
        .annotate(
            seconds=Sum("duration_seconds"),
            incidents=Count("id"),
            open_incidents=Count("id", filter=Q(ended_at__isnull=True)),
        )
    )
    rows: dict[tuple, AccountMonth] = {}
    for group in groups:
        key = (group["account_id"], _as_date(group["month"]))
        row = rows.setdefault(key, AccountMonth(account_id=key[0], month=key[1]))
        seconds = (group["seconds"] or ZERO).quantize(ZERO)
        row.downtime_seconds += seconds
        row.by_cause[group["cause"]] = row.by_cause.get(group["cause"], ZERO) + seconds
        row.incidents += group["incidents"]
        row.open_incidents += group["open_incidents"]
    if any(row.open_incidents for row in rows.values()):
        for log in window.filter(ended_at__isnull=True).values("account_id", "started_at", "cause"):
            row = rows[(log["account_id"], month_start(log["started_at"].astimezone(UTC).date()))]
            elapsed = Decimal(str(max(0.0, (now - log["started_at"]).total_seconds()))).quantize(ZERO)
            row.downtime_seconds += elapsed
            row.by_cause[log["cause"]] = row.by_cause.get(log["cause"], ZERO) + elapsed
    names = Account.objects.filter(pk__in={row.account_id for row in rows.values()}).values_list(
        "pk", "account_name", "account_id"
    )
    known = {pk: (name, aws_id) for pk, name, aws_id in names}
    for row in rows.values():
        row.account_name, aws_id = known.get(row.account_id, ("(account removed)", None))
        row.aws_account_id = None if aws_id is None or str(aws_id).startswith("pending-") else aws_id
    ordered = sorted(rows.values(), key=lambda r: (r.month, r.downtime_seconds), reverse=True)
    return SlaSummary(budget_seconds=SLA_MONTHLY_BUDGET_SECONDS, months=month_list, rows=ordered)
