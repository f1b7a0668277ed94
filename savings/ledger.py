"""Closing a day of the savings ledger: for every instance spotopt moved, what it would have cost without us
and what it really cost that UTC day, from what ran (not from what a decision projected).

- A succeeded switch (SWITCH, FALLBACK_ONDEMAND, RETURN_TO_SPOT): its replacement's hours that day, from its
  launch (the switch's "launched" step) until it left (inactive since discovery saw it go) or now. Baseline:
  those hours of the old instance: an on-demand one at its list price, a Spot one priced by its own pool's
  history over the same hours (measured; the price it paid when the optimizer decided if none is known).
  Actual: a Spot replacement's hours priced by its pool's Spot price history as a step function (each price
  holds until the pool's next step; measured), an on-demand one at its list price. The time both ran during
  the swap (launched -> old terminated) costs the old price on top: an overlap against us. Projected: the
  decision's projected hourly saving over the same hours.
- A replica the safety net kept standing by: baseline nothing, actual its hours at its price (against us).
- A replacement the safety net launched for an interrupted instance (an emergency replacement, or the one
  attached to an Auto Scaling group before the doomed member left): baseline the replaced instance's
  baseline (the old instance of the switch that launched it, else itself) priced as above, actual the
  replacement's hours priced as above. An on-demand emergency fallback for a Spot instance costs more: against us.

Every row is upserted on (instance, kind, day): closing a day again changes nothing; `manage.py
savings_recompute --month YYYY-MM` closes every day of a month again from these inputs.
"""

import logging
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleet.choices import Lifecycle, SwitchStatus
from fleet.models import Instance, SpotPriceStep, Switch
from mlgov.choices import Decision

from .choices import MoveKind, PriceBasis
from .models import SavingsDay

logger = logging.getLogger(__name__)

KIND_OF_DECISION = {
    Decision.SWITCH: MoveKind.SWITCH,
    Decision.FALLBACK_ONDEMAND: MoveKind.FALLBACK,
    Decision.RETURN_TO_SPOT: MoveKind.RETURN,
}
REPLICA_PURPOSE = "replica"
# risk.safety's launches for an interrupted instance, and the tag that names the instance each replaces.
REPLACES_TAG = {"emergency-replacement": "spotopt:replaces", "asg-replacement": "spotopt:replica-of"}
SIX = Decimal("0.000001")
HOUR = Decimal(3600)


def _hours(start: datetime, end: datetime) -> Decimal:
    return max(Decimal(str((end - start).total_seconds())) / HOUR, Decimal(0))


def _clip(start, end, window_start, window_end):
    start, end = max(start, window_start), min(end, window_end)
    return (start, end) if end > start else None


def _step_at(steps: list, name: str) -> datetime | None:
    """When the switch recorded that step (None: it did not)."""
    return next((datetime.fromisoformat(s["at"]) for s in steps if s["step"] == name), None)


@dataclass
class _Prices:
    """Spot price steps of the pools a day needs, loaded at once: pool -> ([times], [prices])."""

    by_pool: dict

    @classmethod
    def load(cls, pools: set[tuple], start: datetime, end: datetime) -> "_Prices":
        by_pool = defaultdict(lambda: ([], []))
        if pools:
            condition = Q(pk__in=[])
            for region, zone, instance_type in sorted(pools):
                condition |= Q(region=region, availability_zone=zone, instance_type=instance_type)
                # The price the day starts with: the pool's last step before it, however old (a price holds
                # until the next step). One indexed lookup per pool (spot_price_pool).
                before = (
                    SpotPriceStep.objects.filter(
                        region=region, availability_zone=zone, instance_type=instance_type, observed_at__lte=start
                    )
                    .order_by("-observed_at")
                    .values_list("observed_at", "price")
                    .first()
                )
                if before:
                    by_pool[(region, zone, instance_type)][0].append(before[0])
                    by_pool[(region, zone, instance_type)][1].append(before[1])
            rows = (
                SpotPriceStep.objects.filter(condition, observed_at__gt=start, observed_at__lt=end)
                .order_by("observed_at")
                .values_list("region", "availability_zone", "instance_type", "observed_at", "price")
            )
            for region, zone, instance_type, observed_at, price in rows:
                times, prices = by_pool[(region, zone, instance_type)]
                times.append(observed_at)
                prices.append(price)
        return cls(by_pool)

    def cost(self, pool: tuple, start: datetime, end: datetime) -> Decimal | None:
        """The pool's Spot price integrated over [start, end) (None: no step at or before `start`)."""
        times, prices = self.by_pool.get(pool, ([], []))
        index = bisect_right(times, start) - 1
        if index < 0:
            return None
        total, moment = Decimal(0), start
        while moment < end:
            following = times[index + 1] if index + 1 < len(times) else None
            segment_end = min(end, following) if following is not None else end
            total += prices[index] * _hours(moment, segment_end)
            moment = segment_end
            index += 1
        return total


def _life(instance: Instance, started: datetime | None, now: datetime) -> tuple[datetime, datetime] | None:
    start = started or instance.launched_at
    if start is None:
        return None
    end = now if instance.is_active else min(instance.updated_at, now)
    return (start, end) if end > start else None


def day_close(*, day: date, now: datetime | None = None) -> int:
    """Upsert every move's row for `day` (UTC); returns how many rows the day has."""
    now = now or timezone.now()
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = min(start + timedelta(days=1), now)
    if end <= start:
        return 0
    gone_before_the_day = Q(is_active=False) & Q(updated_at__lt=start)
    switches = list(
        Switch.objects.filter(status=SwitchStatus.SUCCEEDED, replacement__isnull=False, started_at__lt=end)
        .exclude(Q(replacement__is_active=False) & Q(replacement__updated_at__lt=start))
        .select_related("replacement", "instance", "experiment_log")
    )
    replicas = list(
        Instance.objects.filter(**{"instance_metadata__tags__spotopt:purpose": REPLICA_PURPOSE}).exclude(
            gone_before_the_day
        )
    )
    replacements = list(
        Instance.objects.filter(**{"instance_metadata__tags__spotopt:purpose__in": list(REPLACES_TAG)})
        .exclude(gone_before_the_day)
        .select_related("account")
    )
    baselines = _Baselines.load(replacements)
    # Every instance priced: what ran (replacements, replicas) and what would have run (a Spot baseline is
    # measured from its own pool's history over the same hours).
    priced = [s.replacement for s in switches] + [s.instance for s in switches] + replicas + replacements
    priced += [instance for instance, _ in baselines.by_instance.values()]
    pools = {(i.region, i.availability_zone, i.instance_type) for i in priced if i.lifecycle == Lifecycle.SPOT}
    prices = _Prices.load(pools, start, end)
    rows = [row for switch in switches if (row := _switch_row(switch, day, start, end, now, prices))]
    rows += [row for replica in replicas if (row := _replica_row(replica, day, start, end, now, prices))]
    rows += [
        row
        for replacement in replacements
        if (row := _replacement_row(replacement, baselines, start, end, now, prices))
    ]
    with transaction.atomic():
        for row in rows:
            SavingsDay.objects.update_or_create(
                instance=row.pop("instance"), kind=row.pop("kind"), day=day, defaults=row
            )
    return len(rows)


def _cost(instance: Instance, window, prices: _Prices, fallback_price) -> tuple[Decimal, str]:
    """What `instance` cost (or would have cost) over `window`, and the basis: a Spot instance by its pool's
    measured history (else `fallback_price`, the price recorded), an on-demand one at its list price."""
    hours = _hours(*window)
    if instance.lifecycle == Lifecycle.SPOT:
        measured = prices.cost((instance.region, instance.availability_zone, instance.instance_type), *window)
        if measured is not None:
            return measured, PriceBasis.MEASURED
        return Decimal(fallback_price or 0) * hours, PriceBasis.RECORDED
    return Decimal(fallback_price or instance.hourly_price or 0) * hours, PriceBasis.LIST


def _switch_row(switch: Switch, day, start, end, now, prices) -> dict | None:
    replacement = switch.replacement
    launched = _step_at(switch.steps, "launched") or switch.started_at
    life = _life(replacement, launched, now)
    window = _clip(*life, start, end) if life else None
    if window is None:
        return None
    hours = _hours(*window)
    old_price = Decimal(switch.old_hourly_price or switch.instance.hourly_price or 0)
    baseline, baseline_basis = _cost(switch.instance, window, prices, old_price)
    actual, basis = _cost(replacement, window, prices, switch.new_hourly_price)
    overlap = Decimal(0)
    old_left = _step_at(switch.steps, "terminated old") or switch.finished_at
    if launched and old_left and (both := _clip(launched, old_left, *window)):
        overlap = _cost(switch.instance, both, prices, old_price)[0]
    log = switch.experiment_log
    projected = Decimal(log.projected_hourly_savings or 0) * hours if log else Decimal(0)
    return _row(
        replacement,
        KIND_OF_DECISION.get(switch.decision, MoveKind.SWITCH),
        hours,
        (baseline, baseline_basis),
        (actual, basis),
        switch=switch,
        overlap=overlap,
        projected=projected,
    )


def _row(instance, kind, hours, baseline, actual, *, switch=None, overlap=Decimal(0), projected=Decimal(0)) -> dict:
    """A SavingsDay's fields; `baseline` and `actual` are (cost, price basis)."""
    return {
        "instance": instance,
        "kind": kind,
        "account_id": instance.account_id,
        "switch": switch,
        "hours": hours.quantize(Decimal("0.0001")),
        "baseline_cost": baseline[0].quantize(SIX),
        "actual_cost": actual[0].quantize(SIX),
        "overlap_cost": overlap.quantize(SIX),
        "projected_saving": projected.quantize(SIX),
        "baseline_basis": baseline[1],
        "actual_basis": actual[1],
    }


def _replica_row(replica: Instance, day, start, end, now, prices) -> dict | None:
    life = _life(replica, None, now)
    window = _clip(*life, start, end) if life else None
    if window is None:
        return None
    actual = _cost(replica, window, prices, replica.hourly_price)
    return _row(replica, MoveKind.REPLICA, _hours(*window), (Decimal(0), ""), actual)


def _replaced_id(replacement: Instance) -> str:
    tags = (replacement.instance_metadata or {}).get("tags") or {}
    return tags.get(REPLACES_TAG.get(tags.get("spotopt:purpose"), ""), "")


@dataclass
class _Baselines:
    """What would have run without spotopt in each replaced instance's place, and the price it was recorded
    at: (account, instance id) -> (instance, price). Two queries for all of a day's replacements."""

    by_instance: dict

    @classmethod
    def load(cls, replacements: list[Instance]) -> "_Baselines":
        wanted = {(r.account_id, _replaced_id(r)) for r in replacements if _replaced_id(r)}
        if not wanted:
            return cls({})
        condition = Q(pk__in=[])
        for account_id, instance_id in wanted:
            condition |= Q(account_id=account_id, instance_id=instance_id)
        replaced = {(i.account_id, i.instance_id): i for i in Instance.objects.filter(condition)}
        # A replaced instance that a switch had launched: its baseline is that switch's.
        switched = {
            s.replacement_id: s
            for s in Switch.objects.filter(
                status=SwitchStatus.SUCCEEDED, replacement__in=[i.pk for i in replaced.values()]
            ).select_related("instance")
        }
        by_instance = {}
        for key, instance in replaced.items():
            switch = switched.get(instance.pk)
            if switch is not None:
                by_instance[key] = (switch.instance, switch.old_hourly_price or switch.instance.hourly_price)
            else:
                by_instance[key] = (instance, instance.hourly_price)
        return cls(by_instance)

    def of(self, replacement: Instance) -> tuple[Instance, Decimal | None] | None:
        return self.by_instance.get((replacement.account_id, _replaced_id(replacement)))


def _replacement_row(replacement: Instance, baselines: _Baselines, start, end, now, prices) -> dict | None:
    baseline = baselines.of(replacement)
    life = _life(replacement, None, now)
    window = _clip(*life, start, end) if life else None
    if window is None or baseline is None:
        return None
    baseline_instance, recorded_price = baseline
    return _row(
        replacement,
        MoveKind.REPLACEMENT,
        _hours(*window),
        _cost(baseline_instance, window, prices, recorded_price),
        _cost(replacement, window, prices, replacement.hourly_price),
    )


def days_close(*, first: date, last: date, now: datetime | None = None) -> int:
    total, day = 0, first
    while day <= last:
        total += day_close(day=day, now=now)
        day += timedelta(days=1)
    return total


def yesterday_close(now: datetime | None = None) -> int:
    """The daily job: yesterday (complete) and today so far, both upserted."""
    now = now or timezone.now()
    today = now.date()
    return days_close(first=today - timedelta(days=1), last=today, now=now)
