"""Reads of the fleet, scoped to the user asking."""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from .models import Instance
from .pricing import instance_hourly


def instances_for(user):
    return Instance.objects.for_user(user).select_related("account", "account__user", "replica_of")


@dataclass
class FleetSummary:
    instances: int = 0
    by_lifecycle: Counter = field(default_factory=Counter)
    by_orchestrator: Counter = field(default_factory=Counter)
    by_region: Counter = field(default_factory=Counter)
    by_auth_status: Counter = field(default_factory=Counter)
    hourly_cost: Decimal = Decimal("0")
    unpriced: int = 0  # instances whose price is not known: left out of hourly_cost, never counted as zero

    @property
    def monthly_cost(self) -> Decimal:
        return (self.hourly_cost * 730).quantize(Decimal("0.01"))


def fleet_summary(instances) -> tuple[FleetSummary, dict]:
    """Totals over `instances` (a queryset of active instances) and the same per account id: one query."""
    total = FleetSummary()
    per_account: dict = {}
    rows = instances.values_list(
        "account_id", "lifecycle", "orchestrator_type", "region", "auth_status", "instance_type", "instance_metadata"
    )
    for account_id, lifecycle, orchestrator, region, auth_status, instance_type, metadata in rows.iterator():
        price = instance_hourly(lifecycle=lifecycle, instance_type=instance_type, region=region, metadata=metadata)
        for summary in (total, per_account.setdefault(account_id, FleetSummary())):
            summary.instances += 1
            summary.by_lifecycle[lifecycle] += 1
            summary.by_orchestrator[orchestrator] += 1
            summary.by_region[region] += 1
            summary.by_auth_status[auth_status] += 1
            if price is None:
                summary.unpriced += 1
            else:
                summary.hourly_cost += price
    return total, per_account
