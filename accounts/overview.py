"""The overview after sign-in (`/overview/`): the user's world at a glance, each figure linking to its page.
Every figure is one aggregate query over the user's scope (a constant number of queries, whatever the fleet)."""

from datetime import UTC
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone

from .choices import AccountStatus
from .selectors import accounts_for


def overview_for(user, *, now=None) -> dict:
    from approvals.choices import ApprovalStatus
    from approvals.policy import decidable_condition
    from approvals.selectors import approvals_for
    from fleet.models import Instance
    from risk.models import SpotPoolRisk
    from risk.selectors import poisoned_now
    from savings.selectors import savings_for
    from sla.models import SLA_MONTHLY_BUDGET_SECONDS
    from sla.selectors import downtime_for, month_start, sla_summary
    from waste.models import WasteResource
    from waste.selectors import LIVE_STATUSES

    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    first = month_start(today)
    ledger = (
        savings_for(user)
        .filter(day__gte=first)
        .order_by()
        .aggregate(
            baseline=Sum("baseline_cost"),
            actual=Sum("actual_cost"),
            overlap=Sum("overlap_cost"),
            projected=Sum("projected_saving"),
        )
    )
    zero = Decimal("0")
    realized = (ledger["baseline"] or zero) - (ledger["actual"] or zero) - (ledger["overlap"] or zero)
    sla = sla_summary(downtime_for(user), months=1, now=now)
    this_month = sla.month_rows(first)
    worst = max((row.downtime_seconds for row in this_month), default=zero)
    pending = approvals_for(user).filter(status=ApprovalStatus.PENDING)
    waste = (
        WasteResource.objects.for_user(user)
        .filter(status__in=LIVE_STATUSES)
        .order_by()
        .aggregate(monthly=Sum("monthly_cost"))
    )
    mine = Instance.objects.for_user(user).filter(
        is_active=True,
        region=OuterRef("region"),
        availability_zone=OuterRef("availability_zone"),
        instance_type=OuterRef("instance_type"),
    )
    poisoned = SpotPoolRisk.objects.filter(poisoned_now(now)).filter(Exists(mine)).count()
    accounts = accounts_for(user).order_by()
    failing = accounts.filter(Q(status=AccountStatus.FAILED) | Q(account_metadata__has_key="last_error")).count()
    return {
        "month": first,
        "realized": realized.quantize(Decimal("0.01")),
        "projected": (ledger["projected"] or zero).quantize(Decimal("0.01")),
        "sla_worst_seconds": worst,
        "sla_budget_seconds": SLA_MONTHLY_BUDGET_SECONDS,
        "sla_used_percent": int(min(Decimal(999), worst * 100 / SLA_MONTHLY_BUDGET_SECONDS)),
        "approvals_to_decide": pending.filter(decidable_condition(user)).count(),
        "approvals_pending": pending.count(),
        "waste_monthly": (waste["monthly"] or zero).quantize(Decimal("0.01")),
        "poisoned_pools": poisoned,
        "accounts_with_errors": failing,
        "accounts": accounts.count(),
        "as_of": now,
    }
