"""Reads of the waste list, scoped to the user asking, and its summary in SQL (never a loop over rows)."""

from decimal import Decimal

from django.db.models import Count, Q, Sum

from fleet.selectors import ACCOUNT_COLUMNS

from .choices import ResourceType, WasteStatus
from .models import LIVE_STATUSES, WasteResource

ROW_COLUMNS = [
    f.name for f in WasteResource._meta.concrete_fields if f.name not in ("account", "instance", "approval_request")
]


def waste_for(user):
    """The user's tenants' waste, the costliest first (a unique order for keyset pages)."""
    return (
        WasteResource.objects.for_user(user)
        .select_related("account", "instance")
        .only(
            *ROW_COLUMNS,
            "account",
            "instance",
            "approval_request",
            *(f"account__{c}" for c in ACCOUNT_COLUMNS),
            "instance__id",
            "instance__instance_id",
        )
        .order_by("-monthly_cost", "id")
    )


def waste_summary(queryset) -> dict:
    """Monthly waste still on the list (detected, flagged, scheduled) by type and by account, and what is
    exempt: two GROUP BY queries over the (filtered) list, whatever its size."""
    live = Q(status__in=LIVE_STATUSES)
    by_type_rows = {
        row["resource_type"]: row
        for row in queryset.order_by()
        .values("resource_type")
        .annotate(
            count=Count("id", filter=live),
            monthly_cost=Sum("monthly_cost", filter=live),
            exempt=Count("id", filter=Q(status=WasteStatus.EXEMPT)),
        )
    }
    by_type = [
        {
            "resource_type": kind.value,
            "label": kind.label,
            "count": (by_type_rows.get(kind.value) or {}).get("count", 0),
            "monthly_cost": (by_type_rows.get(kind.value) or {}).get("monthly_cost") or Decimal(0),
            "exempt": (by_type_rows.get(kind.value) or {}).get("exempt", 0),
        }
        for kind in ResourceType
    ]
    by_account = [
        {
            "account_id": row["account_id"],
            "account_name": row["account__account_name"],
            "aws_account_id": row["account__account_id"],
            "count": row["count"],
            "monthly_cost": row["monthly_cost"] or Decimal(0),
        }
        for row in queryset.order_by()
        .filter(live)
        .values("account_id", "account__account_name", "account__account_id")
        .annotate(count=Count("id"), monthly_cost=Sum("monthly_cost"))
        .order_by("-monthly_cost", "account__account_name")
    ]
    return {
        "count": sum(t["count"] for t in by_type),
        "monthly_cost": sum((t["monthly_cost"] for t in by_type), Decimal(0)),
        "exempt": sum(t["exempt"] for t in by_type),
        "currency": "USD",
        "by_type": by_type,
        "by_account": by_account,
    }
