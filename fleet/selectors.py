"""Reads of the fleet, scoped to the user asking. Summaries are SQL aggregates (GROUP BY), never a loop
over a tenant's rows."""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Q, Sum

from accounts.choices import AccountStatus
from accounts.selectors import accounts_for

from .models import Instance

HOURS_A_MONTH = 730


# What the lists show of an instance's account and owner (not their secrets nor the account's discovery log).
ACCOUNT_COLUMNS = ("id", "account_name", "account_id", "environment_type", "user_id", "team_id", "status")
OWNER_COLUMNS = ("id", "username", "full_name", "email")


def instances_for(user):
    """The user's instances, by instance id (the order the unique index already has: pages cost no sort),
    with the account and owner columns the pages and the API show."""
    return (
        Instance.objects.for_user(user)
        .select_related("account", "account__user", "replica_of")
        .only(
            *(field.name for field in Instance._meta.concrete_fields if field.name != "replica_of"),
            "replica_of",
            "replica_of__instance_id",
            *(f"account__{column}" for column in ACCOUNT_COLUMNS),
            *(f"account__user__{column}" for column in OWNER_COLUMNS),
        )
        .order_by("instance_id")
    )


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
        return (self.hourly_cost * HOURS_A_MONTH).quantize(Decimal("0.01"))

    def add(self, group: dict) -> None:
        self.instances += group["instances"]
        self.by_lifecycle[group["lifecycle"]] += group["instances"]
        self.by_orchestrator[group["orchestrator_type"]] += group["instances"]
        self.by_region[group["region"]] += group["instances"]
        self.by_auth_status[group["auth_status"]] += group["instances"]
        self.hourly_cost += group["hourly"] or 0
        self.unpriced += group["instances"] - group["priced"]


SUMMARY_GROUPS = ("account_id", "lifecycle", "orchestrator_type", "region", "auth_status")


def fleet_summary_groups(instances):
    """One row per (account, lifecycle, orchestrator, region, auth status): count, priced count, hourly sum."""
    return (
        instances.order_by()
        .values(*SUMMARY_GROUPS)
        .annotate(instances=Count("id"), priced=Count("hourly_price"), hourly=Sum("hourly_price"))
    )


def fleet_summary(instances) -> tuple[FleetSummary, dict]:
    """Totals over `instances` and the same per account id, from one GROUP BY query (the rows it folds are
    groups, a few dozen whatever the fleet's size)."""
    total = FleetSummary()
    per_account: dict = {}
    for group in fleet_summary_groups(instances):
        total.add(group)
        per_account.setdefault(group["account_id"], FleetSummary()).add(group)
    return total, per_account


def fleet_empty_state(user) -> dict:
    """What a reader with no instance at all should do next, from one aggregate over their accounts."""
    accounts = accounts_for(user)
    counts = accounts.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status=AccountStatus.PENDING)),
        failed=Count("id", filter=Q(status=AccountStatus.FAILED)),
    )
    discovering = accounts.filter(
        Q(status=AccountStatus.CONNECTED) | Q(account_metadata__discovery__state="running")
    ).first()
    if not counts["total"]:
        kind = "no_accounts"
    elif discovering:
        kind = "discovering"
    elif counts["pending"] == counts["total"]:
        kind = "pending"
    elif counts["failed"] == counts["total"]:
        kind = "failed"
    else:
        kind = "nothing_found"
    return {"kind": kind, "accounts": counts["total"], "first_account": discovering or accounts.first()}


EXPERIMENTS_SHOWN = 20


def instance_relations(user, instance: Instance) -> dict:
    """The detail page's neighbours of an instance: replicas, the instance it stands in for, its approval
    requests and the optimizer's newest evaluations (each one query, scoped to the user)."""
    from approvals.selectors import approvals_for

    related = list(
        instances_for(user).filter(Q(replica_of=instance) | Q(pk=instance.replica_of_id)).order_by("instance_id")
    )
    logs = instance.experiment_logs.all()
    experiments = list(logs.select_related("model").order_by("-execution_time")[:EXPERIMENTS_SHOWN])
    return {
        "replicas": [other for other in related if other.replica_of_id == instance.pk],
        "replica_of": next((other for other in related if other.pk == instance.replica_of_id), None),
        "approvals": list(approvals_for(user).filter(instance=instance)[:50]),
        "experiments": experiments,
        # Counted only when the page is full: below that, the page shows them all.
        "experiment_count": len(experiments) if len(experiments) < EXPERIMENTS_SHOWN else logs.count(),
        "experiments_shown": EXPERIMENTS_SHOWN,
    }
