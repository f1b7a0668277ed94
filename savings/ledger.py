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
- A replica the safety net kept standing by: baseline nothing, actual its hours at its price (against us),
  until it took over (risk.EventReaction's promotion).
- A replacement the safety net launched for an interrupted instance (an emergency replacement, the one
  attached to an Auto Scaling group before the doomed member left, or a replica from when it took over):
  baseline what ran before spotopt in its place, followed back through every switch and replacement
  (_Origins), priced as above; actual the replacement's hours priced as above. An on-demand emergency
  fallback for a Spot instance costs more: against us.

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
from risk.models import EventReaction
from risk.safety import PROMOTED

from .choices import MoveKind, PriceBasis
from .models import SavingsDay

logger = logging.getLogger(__name__)

KIND_OF_DECISION = {
    Decision.SWITCH: MoveKind.SWITCH,
    Decision.FALLBACK_ONDEMAND: MoveKind.FALLBACK,
    Decision.RETURN_TO_SPOT: MoveKind.RETURN,
}
REPLICA_PURPOSE = "replica"
# risk.safety's launches for an interrupted instance (and a replica, once promoted), and the tag that names
# the instance each replaces.
REPLACES_TAG = {
    "emergency-replacement": "spotopt:replaces",
    "asg-replacement": "spotopt:replica-of",
    REPLICA_PURPOSE: "spotopt:replica-of",
}
REPLACEMENT_PURPOSES = ["emergency-replacement", "asg-replacement"]
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
    # A replica that took over a warned instance's work stood by until then and replaced it from then on.
    promoted = dict(
        EventReaction.objects.filter(
            action=PROMOTED, replacement_id__in=[r.instance_id for r in replicas if not r.is_replica]
        ).values_list("replacement_id", "acted_at")
    )
    replacements = list(
        Instance.objects.filter(**{"instance_metadata__tags__spotopt:purpose__in": REPLACEMENT_PURPOSES}).exclude(
            gone_before_the_day
        )
    )
    replacements += [r for r in replicas if r.instance_id in promoted]
    origins = _Origins.load([s.instance for s in switches] + replacements)
    # Every instance priced: what ran (replacements, replicas) and what would have run (a Spot baseline is
    # measured from its own pool's history over the same hours).
    priced = [s.replacement for s in switches] + replicas + replacements + origins.instances()
    pools = {(i.region, i.availability_zone, i.instance_type) for i in priced if i.lifecycle == Lifecycle.SPOT}
    prices = _Prices.load(pools, start, end)
    rows = [row for switch in switches if (row := _switch_row(switch, origins, start, end, now, prices))]
    rows += [
        row
        for replica in replicas
        if (row := _replica_row(replica, start, end, now, prices, until=promoted.get(replica.instance_id)))
    ]
    rows += [
        row
        for replacement in replacements
        if (
            row := _replacement_row(
                replacement, origins, start, end, now, prices, promoted.get(replacement.instance_id)
            )
        )
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


def _switch_row(switch: Switch, origins: "_Origins", start, end, now, prices) -> dict | None:
    replacement = switch.replacement
    launched = _step_at(switch.steps, "launched") or switch.started_at
    life = _life(replacement, launched, now)
    window = _clip(*life, start, end) if life else None
    if window is None:
        return None
    hours = _hours(*window)
    old_price = Decimal(switch.old_hourly_price or switch.instance.hourly_price or 0)
    origin, recorded_price = origins.of(switch.instance)
    if origin.pk == switch.instance_id:  # the old instance was the customer's own: its price at the decision
        recorded_price = old_price
    baseline, baseline_basis = _cost(origin, window, prices, recorded_price)
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


def _replica_row(replica: Instance, start, end, now, prices, until=None) -> dict | None:
    """A replica standing by (until it took over, `until`): all against us."""
    life = _life(replica, None, now)
    if life and until is not None:
        life = (life[0], min(life[1], until))
    window = _clip(*life, start, end) if life else None
    if window is None:
        return None
    actual = _cost(replica, window, prices, replica.hourly_price)
    return _row(replica, MoveKind.REPLICA, _hours(*window), (Decimal(0), ""), actual)


def _replaced_id(replacement: Instance) -> str:
    tags = (replacement.instance_metadata or {}).get("tags") or {}
    return tags.get(REPLACES_TAG.get(tags.get("spotopt:purpose"), ""), "")


# How far back a baseline is followed: a switch's replacement interrupted, replaced, switched again...
MAX_CHAIN = 6


@dataclass
class _Origins:
    """What would have run without spotopt in each given instance's place: walking back through what spotopt
    did (a switch's replacement to the switch's old instance, a replacement after an interruption to the
    instance it replaced) to the first instance, with the price recorded for it (the switch's old price at
    the decision, else the instance's own): instance pk -> (origin instance, price). At most two queries a
    step, MAX_CHAIN steps, for all of a day's instances."""

    by_pk: dict

    @classmethod
    def load(cls, instances: list[Instance]) -> "_Origins":
        by_pk = {i.pk: (i, i.hourly_price) for i in instances}
        walking = {i.pk: i for i in instances}  # where each walk is now
        for _ in range(MAX_CHAIN):
            if not walking:
                break
            here = {i.pk for i in walking.values()}
            switched = {
                s.replacement_id: s
                for s in Switch.objects.filter(status=SwitchStatus.SUCCEEDED, replacement__in=here).select_related(
                    "instance"
                )
            }
            tagged = {(i.account_id, _replaced_id(i)) for i in walking.values() if i.pk not in switched}
            tagged.discard((None, ""))
            condition = Q(pk__in=[])
            for account_id, instance_id in tagged:
                if instance_id:
                    condition |= Q(account_id=account_id, instance_id=instance_id)
            replaced = {(i.account_id, i.instance_id): i for i in Instance.objects.filter(condition)}
            following = {}
            for start, instance in walking.items():
                switch = switched.get(instance.pk)
                before = replaced.get((instance.account_id, _replaced_id(instance))) if switch is None else None
                if switch is not None:
                    by_pk[start] = (switch.instance, switch.old_hourly_price or switch.instance.hourly_price)
                    following[start] = switch.instance
                elif before is not None and before.pk != instance.pk:
                    by_pk[start] = (before, before.hourly_price)
                    following[start] = before
            walking = following
        return cls(by_pk)

    def instances(self) -> list[Instance]:
        return [origin for origin, _ in self.by_pk.values()]

    def of(self, instance: Instance) -> tuple[Instance, Decimal | None]:
        return self.by_pk[instance.pk]


def _replacement_row(replacement: Instance, origins: _Origins, start, end, now, prices, since=None) -> dict | None:
    """A replacement after an interruption, from its launch (a promoted replica: from its promotion, `since`)."""
    origin, recorded_price = origins.of(replacement)
    life = _life(replacement, since, now)
    window = _clip(*life, start, end) if life else None
    if window is None or origin.pk == replacement.pk:  # what it replaced is not in the inventory
        return None
    return _row(
        replacement,
        MoveKind.REPLACEMENT,
        _hours(*window),
        _cost(origin, window, prices, recorded_price),
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
