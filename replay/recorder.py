"""Recording a real month as a replay trace: the Spot price history that DescribeSpotPriceHistory gave the
platform (fleet.market.spot_history_refresh, the hourly market job, stores it as SpotPriceStep), the hive's
own log of interruption warnings and rebalance recommendations (risk.GlobalRiskEvent), and the fleets of
the connected accounts as they run now, anonymised as tenants t01, t02, ... (their AWS account ids kept, no
names).

A pool's price at the start of the week of history before the window is its last step before it (a price
holds until the next step). Warnings of several instances in one pool within `SAME_RECLAIM` are one pool
interruption (AWS reclaims a pool at once). On-demand prices are the platform's (OnDemandPrice, else the
shipped catalog), placement scores the last CapacitySignal. Only pools with price steps, and only instances
whose type is priced, are kept: the replay can price nothing else.
"""

from datetime import datetime, timedelta

from django.utils import timezone

from .trace import InstanceType, MarketEvent, Tenant, Trace, TraceInstance

SAME_RECLAIM = timedelta(minutes=2)
HISTORY = timedelta(days=7)


def trace_record(*, region: str, days: int, end: datetime | None = None, refresh_account=None) -> Trace:
    """The `days` before `end` (default: now, after the refresh) in `region`."""
    from accounts.models import Account
    from fleet.choices import Lifecycle
    from fleet.market import spot_history_refresh
    from fleet.models import CapacitySignal, Instance, InstanceTypeFacts, OnDemandPrice, SpotPriceStep
    from fleet.pricing import on_demand_hourly
    from risk.choices import RiskEventType
    from risk.models import GlobalRiskEvent

    instances = list(
        Instance.objects.filter(region=region, is_active=True, is_replica=False)
        .select_related("account")
        .order_by("account__account_id", "instance_id")
    )
    fleet_types = sorted({i.instance_type for i in instances})
    if refresh_account is not None:  # fetch what AWS has now (the hourly job does the same)
        spot_history_refresh(account=refresh_account, region=region, instance_types=fleet_types)
    end = end or timezone.now()
    start = end - timedelta(days=days)
    history_start = start - HISTORY
    # A price holds until the pool's next step: each pool starts the history with its last step before it,
    # stamped at the history's start (one indexed lookup per pool, as the ledger does).
    steps = []
    for zone, name in (
        SpotPriceStep.objects.filter(region=region, observed_at__lte=history_start)
        .order_by()
        .values_list("availability_zone", "instance_type")
        .distinct()
    ):
        before = (
            SpotPriceStep.objects.filter(
                region=region, availability_zone=zone, instance_type=name, observed_at__lte=history_start
            )
            .order_by("-observed_at")
            .values_list("price", flat=True)
            .first()
        )
        steps.append((history_start, zone, name, before))
    steps += list(
        SpotPriceStep.objects.filter(region=region, observed_at__gt=history_start, observed_at__lt=end)
        .order_by("observed_at", "availability_zone", "instance_type")
        .values_list("observed_at", "availability_zone", "instance_type", "price")
    )
    pools = sorted({(region, zone, name) for _, zone, name, _ in steps})
    type_names = sorted({pool[2] for pool in pools})
    listed = dict(
        OnDemandPrice.objects.filter(region=region, instance_type__in=type_names).values_list("instance_type", "price")
    )
    scores = dict(
        CapacitySignal.objects.filter(region=region, instance_type__in=type_names).values_list(
            "instance_type", "placement_score"
        )
    )
    types = []
    for facts in InstanceTypeFacts.objects.filter(region=region, instance_type__in=type_names).order_by(
        "instance_type"
    ):
        price = listed.get(facts.instance_type) or on_demand_hourly(facts.instance_type, region)
        if price is None:
            continue
        types.append(
            InstanceType(
                region=region,
                instance_type=facts.instance_type,
                vcpus=facts.vcpus,
                memory_mib=facts.memory_mib,
                architecture=facts.architecture,
                on_demand=float(price),
                placement_score=scores.get(facts.instance_type),
            )
        )
    priced = {t.instance_type for t in types}
    pools = [pool for pool in pools if pool[2] in priced]
    known = set(pools)

    market = [
        MarketEvent("price", at, (region, zone, name), float(price))
        for at, zone, name, price in steps
        if (region, zone, name) in known and price > 0
    ]
    kinds = {RiskEventType.TERMINATION_NOTICE: "interruption", RiskEventType.REBALANCE_NOTICE: "rebalance"}
    last: dict = {}
    for at, zone, name, event_type in (
        GlobalRiskEvent.objects.filter(region=region, reported_at__gte=start, reported_at__lt=end)
        .order_by("reported_at")
        .values_list("reported_at", "availability_zone", "instance_type", "event_type")
    ):
        pool, kind = (region, zone, name), kinds.get(event_type)
        if kind is None or pool not in known:
            continue
        if (pool, kind) in last and at - last[(pool, kind)] < SAME_RECLAIM:
            continue  # another instance's warning of the same reclaim
        last[(pool, kind)] = at
        market.append(MarketEvent(kind, at, pool))
    market.sort(key=lambda e: (e.at, e.kind != "price", e.pool))

    tenants, fleet, numbers = [], [], {}
    for instance in instances:
        if (region, instance.availability_zone, instance.instance_type) not in known:
            continue  # a pool without price steps (or an unpriced type): the replay could not price it
        account: Account = instance.account
        if account.pk not in numbers:
            numbers[account.pk] = f"t{len(numbers) + 1:02d}"
            tenants.append(Tenant(numbers[account.pk], account.account_id, account.environment_type))
        fleet.append(
            TraceInstance(
                numbers[account.pk], instance.instance_id, region, instance.availability_zone, instance.instance_type
            )
        )
    return Trace(
        name=f"recorded-{region}-{start:%Y%m%d}",
        start=start,
        days=days,
        assumptions={
            "recorded": True,
            "region": region,
            "price_steps": len(steps),
            "lifecycles_now": sorted({i.lifecycle for i in instances} | {Lifecycle.ON_DEMAND}),
            "note": "the fleets start on-demand in the replay, whatever they run now",
        },
        types=types,
        pools=pools,
        tenants=tenants,
        instances=fleet,
        market=market,
    )
