"""The replay: simulated time over a trace, the same fleet under each policy, and the figures that compare them.

The engine (`simulate`) owns the clock and the accounting; a policy only says where an instance goes. It
walks the trace's market lines and the decision cycles (every `cycle_minutes`) in time order:

- a price step changes what every Spot instance in the pool pays from then on;
- an interruption hits every Spot instance in the pool at that moment (the two-minute warning): one with a
  replica standing by takes the replica's place (no downtime); any other gets a replacement from the policy,
  which runs after `replacement_seconds`, counted as downtime from the warning as the SLA counts it
  (sla.services: from the warning until the replacement runs). Replicas in the pool are lost;
- a rebalance recommendation lets the policy launch a replica (spotopt's safety net does; the peers do not),
  which stands by for six hours (risk.safety.REPLICA_LIFETIME) at its pool's price;
- a decision cycle lets the policy move instances (switches): the old instance keeps running, and paying,
  until the new one runs (`replacement_seconds`), with no downtime.

Costs integrate each instance's price over its time in each pool (Spot: the pool's step function,
on-demand: the list price), plus replicas and swap overlaps. An interrupted instance is billed until the
warning (the two minutes after it are left out for every policy alike).

Policies: `OnDemandPolicy`, `PeerPolicy` (AutoSpotting and Karpenter, replay/policies.py) and
`SpotoptPolicy`, which drives the product's own code on the (scratch) database with the simulation's clock:
fleet.optimizer.optimizer_evaluate (candidates from fleet.catalog, features from mlgov.features, the
model through onnxruntime, the gatekeeper's poisoned pools, the decision) every cycle, every warning and
recommendation ingested into the hive through risk.services.risk_events_ingest, and replacements and
replicas chosen by risk.safety.replacement_pools, and fleet.execution's pacing (an instance a switch just
launched settles, `_resting`). Nothing is executed in AWS: the simulator moves the inventory row as a
switch would and records the switch.
"""

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from .policies import KARPENTER_UNAVAILABLE_FOR, Market, autospotting_choice, karpenter_choice
from .trace import Pool, Trace

SPOT, ON_DEMAND = "spot", "on-demand"
HOURS_PER_ACCOUNT_MONTH = 30 * 24


@dataclass
class Replica:
    pool: Pool
    since: datetime
    expires: datetime


@dataclass
class SimInstance:
    instance_id: str
    tenant: str
    region: str
    availability_zone: str
    instance_type: str
    lifecycle: str = ON_DEMAND
    since: datetime | None = None
    replica: Replica | None = None
    original_type: str = ""

    @property
    def pool(self) -> Pool:
        return (self.region, self.availability_zone, self.instance_type)


@dataclass(frozen=True)
class Move:
    instance_id: str
    pool: Pool
    lifecycle: str
    purpose: str = "optimizer-switch"  # what the launch would tag spotopt:purpose (fleet.launch)


@dataclass
class Figures:
    policy: str
    cost: float = 0.0
    on_demand_cost: float = 0.0
    instance_hours: float = 0.0
    account_months: float = 0.0
    interruptions: int = 0
    downtime_seconds: float = 0.0
    switches: int = 0
    replacements: int = 0
    replicas: int = 0
    promotions: int = 0
    cycle_seconds: list[float] = field(default_factory=list)

    @property
    def savings_percent(self) -> float:
        return 100.0 * (1 - self.cost / self.on_demand_cost) if self.on_demand_cost else 0.0

    @property
    def interruptions_per_1000_hours(self) -> float:
        return 1000.0 * self.interruptions / self.instance_hours if self.instance_hours else 0.0

    @property
    def downtime_per_account_month(self) -> float:
        return self.downtime_seconds / self.account_months if self.account_months else 0.0

    @property
    def decision_ms_per_cycle(self) -> float:
        return 1000.0 * sum(self.cycle_seconds) / len(self.cycle_seconds) if self.cycle_seconds else 0.0


class Engine:
    """The state of one policy's run: the fleet, the market as of the clock, and the running figures."""

    def __init__(self, trace: Trace, policy, *, cycle_minutes: int, replacement_seconds: float):
        self.trace, self.policy = trace, policy
        self.cycle = timedelta(minutes=cycle_minutes)
        self.replacement_seconds = replacement_seconds
        self.now = trace.start
        self.market = Market(
            on_demand=trace.on_demand(), scores={(t.region, t.instance_type): t.placement_score for t in trace.types}
        )
        for event in trace.market:  # the history before the start sets the prices the run starts with
            if event.at > trace.start:
                break
            if event.kind == "price":
                self.market.spot[event.pool] = event.price
        self.fleet = {
            i.instance_id: SimInstance(
                i.instance_id, i.tenant, i.region, i.availability_zone, i.instance_type, original_type=i.instance_type
            )
            for i in trace.instances
        }
        for instance in self.fleet.values():
            instance.since = trace.start
        self.spot_in: dict[Pool, set[str]] = defaultdict(set)  # pool -> Spot instances in it
        self.replicas_in: dict[Pool, set[str]] = defaultdict(set)  # pool -> instances whose replica is in it
        self.figures = Figures(policy.name)

    # --- Prices and accounting ---

    def hourly(self, pool: Pool, lifecycle: str) -> float:
        if lifecycle == SPOT:
            return self.market.spot[pool]
        return self.market.on_demand[(pool[0], pool[2])]

    def _bill(self, pool: Pool, lifecycle: str, start: datetime, end: datetime) -> None:
        if end > start:
            self.figures.cost += self.hourly(pool, lifecycle) * (end - start).total_seconds() / 3600

    def _settle(self, instance: SimInstance, until: datetime) -> None:
        self._bill(instance.pool, instance.lifecycle, instance.since, until)
        instance.since = until

    def _settle_replica(self, instance: SimInstance, until: datetime) -> None:
        replica = instance.replica
        if replica is None:
            return
        end = min(until, replica.expires)
        self._bill(replica.pool, SPOT, replica.since, end)
        replica.since = end
        if end >= replica.expires:  # retired after six hours without an interruption (a false alarm)
            self._drop_replica(instance)

    def _drop_replica(self, instance: SimInstance) -> None:
        self.replicas_in[instance.replica.pool].discard(instance.instance_id)
        instance.replica = None

    def move(self, instance: SimInstance, pool: Pool, lifecycle: str, at: datetime, purpose: str) -> None:
        self._settle(instance, at)
        if instance.replica is not None:  # it stood by the old instance, which is gone (risk.safety retires it)
            self._settle_replica(instance, at)
            if instance.replica is not None:
                self._drop_replica(instance)
        if instance.lifecycle == SPOT:
            self.spot_in[instance.pool].discard(instance.instance_id)
        instance.region, instance.availability_zone, instance.instance_type = pool
        instance.lifecycle = lifecycle
        if lifecycle == SPOT:
            self.spot_in[pool].add(instance.instance_id)
        self.policy.moved(self, instance, purpose)

    # --- The trace's events ---

    def _price(self, pool: Pool, price: float, at: datetime) -> None:
        for instance_id in list(self.spot_in[pool]):
            self._settle(self.fleet[instance_id], at)
        for instance_id in list(self.replicas_in[pool]):
            self._settle_replica(self.fleet[instance_id], at)
        self.market.spot[pool] = price
        self.policy.price_step(self, pool, price, at)

    def _interruption(self, pool: Pool, at: datetime) -> None:
        for instance_id in list(self.replicas_in[pool]):  # a replica in the pool is reclaimed too
            instance = self.fleet[instance_id]
            self._settle_replica(instance, at)
            if instance.replica is not None:
                self._drop_replica(instance)
        victims = [self.fleet[i] for i in sorted(self.spot_in[pool])]
        if not victims:
            return
        self.policy.warned(self, victims, at)
        for instance in victims:
            self.figures.interruptions += 1
            self._settle(instance, at)
            if instance.replica is not None:
                self._settle_replica(instance, at)
            if instance.replica is not None:
                replica_pool = instance.replica.pool
                self._drop_replica(instance)
                self.move(instance, replica_pool, SPOT, at, "replica")
                self.figures.promotions += 1
                continue
            target, lifecycle = self.policy.replacement(self, instance, at)
            self.move(instance, target, lifecycle, at, "emergency-replacement")
            self.figures.replacements += 1
            self.figures.downtime_seconds += self.replacement_seconds

    def _rebalance(self, pool: Pool, at: datetime) -> None:
        told = [self.fleet[i] for i in sorted(self.spot_in[pool])]
        if not told:
            return
        self.policy.recommended(self, told, at)
        for instance in told:
            if instance.replica is not None:
                self._settle_replica(instance, at)
            if instance.replica is not None:
                continue
            target = self.policy.replica_pool(self, instance, at)
            if target is not None:
                instance.replica = Replica(target, at, at + self.policy.replica_lifetime)
                self.replicas_in[target].add(instance.instance_id)
                self.figures.replicas += 1

    def _decide(self, at: datetime) -> None:
        self.policy.prepare(self, at)
        started = time.perf_counter()
        moves = self.policy.cycle(self, at)
        self.figures.cycle_seconds.append(time.perf_counter() - started)
        overlap = self.replacement_seconds / 3600
        for move in moves:
            instance = self.fleet[move.instance_id]
            if (move.pool, move.lifecycle) == (instance.pool, instance.lifecycle):
                continue
            # The old instance runs (and is paid) until its replacement runs: the swap's overlap.
            self.figures.cost += self.hourly(instance.pool, instance.lifecycle) * overlap
            self.move(instance, move.pool, move.lifecycle, at, move.purpose)
            self.figures.switches += 1

    def _moments(self) -> Iterator[tuple[datetime, int, object]]:
        """The trace's market lines after the start and the decision cycles, in time order (at one moment:
        prices first, then interruptions and rebalances, then the cycle)."""
        order = {"price": 0, "interruption": 1, "rebalance": 2}
        events = [(e.at, order[e.kind], e) for e in self.trace.market if self.trace.start < e.at < self.trace.end]
        tick = self.trace.start
        while tick < self.trace.end:
            events.append((tick, 3, None))
            tick += self.cycle
        events.sort(key=lambda item: (item[0], item[1]))
        yield from events

    def run(self) -> Figures:
        self.policy.setup(self)
        for at, _, event in self._moments():
            self.now = at
            self.policy.clock(at)
            if event is None:
                self._decide(at)
            elif event.kind == "price":
                self._price(event.pool, event.price, at)
            elif event.kind == "interruption":
                self._interruption(event.pool, at)
            else:
                self._rebalance(event.pool, at)
        end = self.trace.end
        for instance in self.fleet.values():
            self._settle(instance, end)
            self._settle_replica(instance, end)
        hours = (end - self.trace.start).total_seconds() / 3600
        figures = self.figures
        figures.instance_hours = hours * len(self.fleet)
        figures.on_demand_cost = sum(
            self.market.on_demand[(i.region, i.instance_type)] * hours for i in self.trace.instances
        )
        figures.account_months = len(self.trace.tenants) * hours / HOURS_PER_ACCOUNT_MONTH
        return figures


def simulate(trace: Trace, policy, *, cycle_minutes: int = 60, replacement_seconds: float = 90) -> Figures:
    return Engine(trace, policy, cycle_minutes=cycle_minutes, replacement_seconds=replacement_seconds).run()


# --- Policies -------------------------------------------------------------------------------------------


class Policy:
    """What every policy answers; the defaults are "do nothing"."""

    name = "policy"
    replica_lifetime = timedelta(hours=6)  # spotopt's is risk.safety.REPLICA_LIFETIME

    def setup(self, engine: Engine) -> None:
        pass

    def clock(self, at: datetime) -> None:
        pass

    def prepare(self, engine: Engine, at: datetime) -> None:
        pass

    def cycle(self, engine: Engine, at: datetime) -> list[Move]:
        return []

    def price_step(self, engine: Engine, pool: Pool, price: float, at: datetime) -> None:
        pass

    def warned(self, engine: Engine, victims: list[SimInstance], at: datetime) -> None:
        pass

    def recommended(self, engine: Engine, told: list[SimInstance], at: datetime) -> None:
        pass

    def replacement(self, engine: Engine, instance: SimInstance, at: datetime) -> tuple[Pool, str]:
        return instance.pool, ON_DEMAND

    def replica_pool(self, engine: Engine, instance: SimInstance, at: datetime) -> Pool | None:
        return None

    def moved(self, engine: Engine, instance: SimInstance, purpose: str) -> None:
        pass


class OnDemandPolicy(Policy):
    name = "on-demand"


class PeerPolicy(Policy):
    """AutoSpotting or Karpenter: its choice from replay/policies.py at launch time: every cycle moves each
    instance still on-demand (all of them at the start; one whose replacement found no pool later), and an
    interruption launches a replacement. Candidates are the
    product catalog's compatible pools (`candidates`: (instance type, zone) -> pools, own pool first)."""

    def __init__(self, name: str, candidates: dict[tuple[str, str], list[Pool]]):
        self.name = name
        self.candidates = candidates
        self.unavailable_until: dict[Pool, datetime] = {}

    def _choose(self, engine: Engine, instance: SimInstance, at: datetime) -> Pool | None:
        pools = self.candidates.get((instance.original_type, instance.availability_zone), [])
        if self.name == "karpenter":
            return karpenter_choice(pools, engine.market, unavailable_until=self.unavailable_until, now=at)
        return autospotting_choice(pools, engine.market)

    def cycle(self, engine: Engine, at: datetime) -> list[Move]:
        moves = []
        for instance in engine.fleet.values():
            if instance.lifecycle != ON_DEMAND:
                continue
            pool = self._choose(engine, instance, at)
            if pool is not None:
                moves.append(Move(instance.instance_id, pool, SPOT))
        return moves

    def warned(self, engine: Engine, victims: list[SimInstance], at: datetime) -> None:
        if self.name == "karpenter":  # its unavailable-offerings cache; AutoSpotting remembers nothing
            for instance in victims:
                self.unavailable_until[instance.pool] = at + KARPENTER_UNAVAILABLE_FOR

    def replacement(self, engine: Engine, instance: SimInstance, at: datetime) -> tuple[Pool, str]:
        pool = self._choose(engine, instance, at)
        return (pool, SPOT) if pool is not None else (instance.pool, ON_DEMAND)


@contextmanager
def simulation_clock(start: datetime) -> Iterator["SimClock"]:
    """django.utils.timezone.now answers the simulation's time while inside (every service, auto_now field
    and default reads it there), and only moves when the simulation moves it."""
    from django.utils import timezone

    clock = SimClock(start)
    real_now = timezone.now
    timezone.now = clock
    try:
        yield clock
    finally:
        timezone.now = real_now


class SimClock:
    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class SpotoptPolicy(Policy):
    """spotopt, by its own code on the database `replay.scenario.scenario_seed` prepared (the catalog, the
    model, the tenants' accounts and their instances)."""

    name = "spotopt"

    def __init__(self, seeded, clock: SimClock):
        from risk.safety import REPLICA_LIFETIME

        self.replica_lifetime = REPLICA_LIFETIME
        self.seeded, self.clock_ = seeded, clock
        self.decisions: dict[str, str] = {}  # instance id -> the decision of the move being made
        self.pending_steps: list = []
        self.changed_pools: dict[Pool, float] = {}
        self.event_number = 0

    def clock(self, at: datetime) -> None:
        self.clock_.now = at

    def setup(self, engine: Engine) -> None:
        from fleet.models import Instance

        self.rows = {row.instance_id: row for row in Instance.objects.filter(pk__in=self.seeded.instance_pks)}

    def price_step(self, engine: Engine, pool: Pool, price: float, at: datetime) -> None:
        from fleet.choices import MarketSource
        from fleet.models import SpotPriceStep

        self.pending_steps.append(
            SpotPriceStep(
                region=pool[0],
                availability_zone=pool[1],
                instance_type=pool[2],
                price=Decimal(f"{price:.6f}"),
                observed_at=at,
                source=MarketSource.SYNTHETIC,
            )
        )
        self.changed_pools[pool] = price

    def _sync_market(self) -> None:
        """What discovery and the hourly market refresh would have written by now: the price steps, and each
        Spot instance's hourly price (the optimizer compares candidates with it)."""
        from fleet.choices import Lifecycle, PriceSource
        from fleet.models import Instance, SpotPriceStep

        if self.pending_steps:
            SpotPriceStep.objects.bulk_create(self.pending_steps, batch_size=2000)
            self.pending_steps = []
        for (region, zone, instance_type), price in self.changed_pools.items():
            Instance.objects.filter(
                pk__in=self.seeded.instance_pks,
                lifecycle=Lifecycle.SPOT,
                region=region,
                availability_zone=zone,
                instance_type=instance_type,
            ).update(hourly_price=Decimal(f"{price:.6f}"), price_source=PriceSource.SPOT_MARKET)
        self.changed_pools = {}

    def prepare(self, engine: Engine, at: datetime) -> None:
        self._sync_market()

    def cycle(self, engine: Engine, at: datetime) -> list[Move]:
        from fleet.execution import EXECUTED_DECISIONS, _resting
        from fleet.models import Instance
        from fleet.optimizer import FALLBACK_PURPOSE, optimizer_evaluate
        from mlgov.choices import Decision

        instances = list(Instance.objects.filter(pk__in=self.seeded.instance_pks).select_related("account"))
        logs = optimizer_evaluate(instances=instances, now=at, write=False)
        # fleet.execution._plan's pacing: an instance a switch just launched settles first.
        resting = _resting([log.instance for log in logs if log.decision in EXECUTED_DECISIONS], now=at)
        moves = []
        for log in logs:
            if log.decision not in EXECUTED_DECISIONS or log.instance.pk in resting:
                continue
            instance = log.instance
            self.decisions[instance.instance_id] = log.decision
            pool = (
                instance.region,
                log.selected_availability_zone or instance.availability_zone,
                log.selected_instance_type or instance.instance_type,
            )
            if log.decision == Decision.FALLBACK_ONDEMAND:
                moves.append(Move(instance.instance_id, pool, ON_DEMAND, FALLBACK_PURPOSE))
            else:
                moves.append(Move(instance.instance_id, pool, SPOT))
        return moves

    def _ingest(self, instances: list[SimInstance], at: datetime, detail_type: str, detail: dict) -> None:
        from risk.choices import IngestChannel
        from risk.services import REACT_NEVER, risk_events_ingest

        for instance in instances:
            row = self.rows[instance.instance_id]
            self.event_number += 1
            body = {
                "version": "0",
                "id": str(uuid.UUID(int=self.event_number)),
                "detail-type": detail_type,
                "source": "aws.ec2",
                "account": row.account.account_id,
                "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": instance.region,
                "resources": [f"arn:aws:ec2:{instance.region}:{row.account.account_id}:instance/{row.instance_id}"],
                "detail": {"instance-id": row.instance_id, **detail},
            }
            risk_events_ingest(
                body=body, channel=IngestChannel.SQS, account=row.account, received_at=at, react=REACT_NEVER
            )

    def warned(self, engine: Engine, victims: list[SimInstance], at: datetime) -> None:
        self._sync_market()
        self._ingest(victims, at, "EC2 Spot Instance Interruption Warning", {"instance-action": "terminate"})

    def recommended(self, engine: Engine, told: list[SimInstance], at: datetime) -> None:
        self._sync_market()
        self._ingest(told, at, "EC2 Instance Rebalance Recommendation", {})

    def _safe_pools(self, engine: Engine, instance: SimInstance) -> list[Pool]:
        from risk.safety import replacement_pools

        # A recorded trace may lack prices for some of the catalog's pools: the replay cannot price those.
        pools = replacement_pools(instance=self.rows[instance.instance_id])
        return [tuple(pool) for pool in pools if tuple(pool) in engine.market.spot]

    def replacement(self, engine: Engine, instance: SimInstance, at: datetime) -> tuple[Pool, str]:
        # risk.safety._emergency_replacement: the best safe Spot pool, else on-demand of its type and zone.
        pools = self._safe_pools(engine, instance)
        return (pools[0], SPOT) if pools else (instance.pool, ON_DEMAND)

    def replica_pool(self, engine: Engine, instance: SimInstance, at: datetime) -> Pool | None:
        # risk.safety._on_rebalance: a replica in the best safe Spot pool, none without one.
        pools = self._safe_pools(engine, instance)
        return pools[0] if pools else None

    def moved(self, engine: Engine, instance: SimInstance, purpose: str) -> None:
        """The inventory row follows the move, as discovery would record the replacement (tagged with its
        purpose as fleet.launch tags it: an optimizer fallback may return to Spot later)."""
        from fleet.choices import Lifecycle, PipelineMode, PriceSource, SwitchStatus
        from fleet.models import Instance, Switch
        from fleet.optimizer import PURPOSE_TAG

        row = self.rows[instance.instance_id]
        row.region, row.availability_zone, row.instance_type = instance.pool
        spot = instance.lifecycle == SPOT
        row.lifecycle = Lifecycle.SPOT if spot else Lifecycle.ON_DEMAND
        row.hourly_price = Decimal(f"{engine.hourly(instance.pool, instance.lifecycle):.6f}")
        row.price_source = PriceSource.SPOT_MARKET if spot else PriceSource.ON_DEMAND_LIST
        metadata = dict(row.instance_metadata or {})
        metadata["tags"] = {**(metadata.get("tags") or {}), PURPOSE_TAG: purpose}
        row.instance_metadata = metadata
        Instance.objects.filter(pk=row.pk).update(
            region=row.region,
            availability_zone=row.availability_zone,
            instance_type=row.instance_type,
            lifecycle=row.lifecycle,
            hourly_price=row.hourly_price,
            price_source=row.price_source,
            instance_metadata=metadata,
        )
        decision = self.decisions.pop(instance.instance_id, None)
        if decision is not None:  # the optimizer's move, recorded as its switch (the pacing above reads it)
            Switch.objects.create(
                account=row.account,
                instance=row,
                replacement=row,
                decision=decision,
                pipeline_mode=PipelineMode.LINEAR,
                target_instance_type=row.instance_type,
                target_availability_zone=row.availability_zone,
                target_lifecycle=row.lifecycle,
                status=SwitchStatus.SUCCEEDED,
                started_at=engine.now,
                finished_at=engine.now,
            )
