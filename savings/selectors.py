"""Reads of the savings ledger, scoped to the user's accounts; the monthly summary is one GROUP BY."""

from datetime import date
from decimal import Decimal

from django.db.models import Count, F, Sum
from django.db.models.functions import TruncMonth

from fleet.selectors import ACCOUNT_COLUMNS

from .models import SavingsDay

ZERO = Decimal("0")


def savings_for(user):
    return (
        SavingsDay.objects.for_user(user)
        .select_related("account", "instance")
        .only(
            *(f.name for f in SavingsDay._meta.concrete_fields),
            *(f"account__{column}" for column in ACCOUNT_COLUMNS),
            "instance__id",
            "instance__instance_id",
            "instance__instance_type",
            "instance__availability_zone",
        )
        .order_by("-day", "-id")
    )


def _money(value) -> Decimal:
    return (value or ZERO).quantize(Decimal("0.01"))


def monthly_summary(queryset) -> list[dict]:
    """Per account and calendar month (newest first): baseline, actual, overlap, realized and projected."""
    rows = (
        queryset.order_by()
        .annotate(month=TruncMonth("day"))
        .values("month", "account_id", "account__account_name", "account__account_id")
        .annotate(
            baseline=Sum("baseline_cost"),
            actual=Sum("actual_cost"),
            overlap=Sum("overlap_cost"),
            projected=Sum("projected_saving"),
            moves=Count("instance_id", distinct=True),
            hours=Sum("hours"),
        )
        .order_by("-month", "account__account_name")
    )
    summary = []
    for row in rows:
        realized = (row["baseline"] or ZERO) - (row["actual"] or ZERO) - (row["overlap"] or ZERO)
        month = row["month"]
        summary.append(
            {
                "month": month.date() if hasattr(month, "date") else month,
                "account": row["account_id"],
                "account_name": row["account__account_name"],
                "aws_account_id": row["account__account_id"],
                "baseline_cost": _money(row["baseline"]),
                "actual_cost": _money(row["actual"]),
                "overlap_cost": _money(row["overlap"]),
                "realized_saving": _money(realized),
                "projected_saving": _money(row["projected"]),
                "difference": _money(realized - (row["projected"] or ZERO)),
                "moves": row["moves"],
                "currency": "USD",
            }
        )
    return summary


def months_totals(summary: list[dict], months: int, today: date) -> list[dict]:
    """The last `months` calendar months, oldest first, summed over accounts (for the chart)."""
    keys = []
    year, month = today.year, today.month
    for _ in range(months):
        keys.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    totals = {key: {"month": key, "realized": ZERO, "projected": ZERO} for key in keys}
    for row in summary:
        if row["month"] in totals:
            totals[row["month"]]["realized"] += row["realized_saving"]
            totals[row["month"]]["projected"] += row["projected_saving"]
    return [totals[key] for key in reversed(keys)]


def moves_of(queryset) -> list[dict]:
    """The rows summed per moved instance (for the month the queryset is filtered to), biggest saving first."""
    rows = (
        queryset.order_by()
        .values("instance_id", "instance__instance_id", "kind", "account__account_name")
        .annotate(
            baseline=Sum("baseline_cost"),
            actual=Sum("actual_cost"),
            overlap=Sum("overlap_cost"),
            projected=Sum("projected_saving"),
            hours=Sum("hours"),
            realized=Sum(F("baseline_cost") - F("actual_cost") - F("overlap_cost")),
        )
        .order_by("-realized", "instance__instance_id")
    )
    return [
        {
            "instance": row["instance_id"],
            "instance_id": row["instance__instance_id"],
            "kind": row["kind"],
            "account_name": row["account__account_name"],
            "hours": row["hours"],
            "baseline_cost": _money(row["baseline"]),
            "actual_cost": _money(row["actual"]),
            "overlap_cost": _money(row["overlap"]),
            "realized_saving": _money(row["realized"]),
            "projected_saving": _money(row["projected"]),
        }
        for row in rows
    ]
