"""Synthetic replay traces, from a seed, under assumptions stated here and written into each trace's header.

The market: one region (us-east-1), three zones, nine two-vCPU types of three classes (general m5/m5a/m6i/
m6a, memory r5/r5a, compute c5/c5a/c6i) at their on-demand list prices: 27 Spot pools. A fleet of
`tenants` PROD tenants, each with 6 to 12 instances (half m5.large, 30 % c5.large, 20 % r5.large) in a
random zone, all on-demand at the start. A pool's Spot price starts at 28-55 % of on-demand and walks every
`step_hours` by a Gaussian step of `volatility` (clamped to 12-95 % of on-demand); a week of history comes
before the start.

Each pool has a hidden hazard: the expected number of pool-wide interruptions a day (every Spot instance
in the pool gets the two-minute warning). 60 % of interruptions come 10-45 minutes after a rebalance
recommendation to the pool; false-alarm rebalances come at 0.02 a day per pool. The scenarios:

- "storms": hazards of 0.01 (60 % of pools), 0.05 (30 %) and 0.25 (10 %) a day; the risky pools run 10 %
  cheaper (the trap a cheapest-pool policy walks into) and their types' placement scores are lower.
  Every five days a storm strikes a pool (chosen by hazard), then within 0.5-6 hours the same type in the
  other zones (each with probability 0.7) and within 1-12 hours the same class in the same zone (0.4);
  every pool struck keeps an eight-fold hazard (plus 0.3 a day) for ten days. Memory pays here: the hive
  remembers a struck pool for 15 days.
- "independent": every pool has the same hazard, 0.06 a day, as a Poisson process with no storms and no
  aftershocks; placement scores and prices say nothing about it. An interruption tells nothing about the
  next one, so remembering pools can only cost (the hive should give no advantage).
- "calm": hazards of 0.01 a day, no storms, and a restless market (steps every 3 hours of 6 %): the
  cheapest pool keeps changing; what counts is following the price.
"""

import random
from datetime import UTC, datetime, timedelta

from .trace import InstanceType, MarketEvent, Tenant, Trace, TraceInstance

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# (type, vCPUs, memory MiB, on-demand USD an hour in us-east-1)
TYPES = (
    ("m5.large", 2, 8192, 0.096),
    ("m5a.large", 2, 8192, 0.086),
    ("m6i.large", 2, 8192, 0.096),
    ("m6a.large", 2, 8192, 0.0864),
    ("r5.large", 2, 16384, 0.126),
    ("r5a.large", 2, 16384, 0.113),
    ("c5.large", 2, 4096, 0.085),
    ("c5a.large", 2, 4096, 0.077),
    ("c6i.large", 2, 4096, 0.085),
)
FLEET_MIX = (("m5.large", 0.5), ("c5.large", 0.3), ("r5.large", 0.2))
HISTORY_DAYS = 7
REBALANCE_AHEAD_SHARE = 0.6
FALSE_REBALANCES_PER_DAY = 0.02

SCENARIOS = {
    "storms": {
        "hazards": [(0.01, 0.6), (0.05, 0.3), (0.25, 0.1)],
        "risky_discount": 0.10,
        "storm_every_days": 5,
        "aftershock_factor": 8,
        "aftershock_extra_per_day": 0.3,
        "aftershock_days": 10,
        "step_hours": 6,
        "volatility": 0.03,
        "informative_scores": True,
    },
    "independent": {
        "hazards": [(0.06, 1.0)],
        "risky_discount": 0.0,
        "storm_every_days": None,
        "step_hours": 6,
        "volatility": 0.03,
        "informative_scores": False,
    },
    "calm": {
        "hazards": [(0.01, 1.0)],
        "risky_discount": 0.0,
        "storm_every_days": None,
        "step_hours": 3,
        "volatility": 0.06,
        "informative_scores": True,
    },
}
DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)


def _class(instance_type: str) -> str:
    return instance_type[0]  # m, r or c: the class a storm spreads through


def _poisson_times(rng: random.Random, rate_per_day: float, start: datetime, end: datetime) -> list[datetime]:
    times, moment = [], start
    if rate_per_day <= 0:
        return times
    while True:
        moment += timedelta(days=rng.expovariate(rate_per_day))
        if moment >= end:
            return times
        times.append(moment)


def _weighted(rng: random.Random, choices: list[tuple[float, float]]) -> float:
    pick, total = rng.random(), 0.0
    for value, share in choices:
        total += share
        if pick <= total:
            return value
    return choices[-1][0]


def generate(scenario: str, *, tenants: int = 20, days: int = 30, seed: int = 7, start: datetime = DEFAULT_START):
    """A trace of `scenario` (see the module's docstring); the same arguments give the same trace."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    knobs = SCENARIOS[scenario]
    rng = random.Random(f"{scenario}:{seed}")  # noqa: S311 (a synthetic market, not a secret)
    end = start + timedelta(days=days)
    pools = [(REGION, zone, name) for name, *_ in TYPES for zone in ZONES]
    hazard = {pool: _weighted(rng, knobs["hazards"]) for pool in pools}
    top = max(value for value, _ in knobs["hazards"])

    # Interruptions: each pool's own Poisson process, storms and their aftershocks.
    interruptions = {pool: _poisson_times(rng, hazard[pool], start, end) for pool in pools}
    if knobs["storm_every_days"]:
        for _ in range(max(1, days // knobs["storm_every_days"])):
            struck_at = start + timedelta(days=rng.uniform(0, days - 1))
            origin = rng.choices(pools, weights=[hazard[p] for p in pools])[0]
            struck = {origin: struck_at}
            for pool in pools:
                if pool == origin:
                    continue
                if pool[2] == origin[2] and rng.random() < 0.7:
                    struck[pool] = struck_at + timedelta(hours=rng.uniform(0.5, 6))
                elif pool[1] == origin[1] and _class(pool[2]) == _class(origin[2]) and rng.random() < 0.4:
                    struck[pool] = struck_at + timedelta(hours=rng.uniform(1, 12))
            for pool, at in struck.items():
                if at >= end:
                    continue
                interruptions[pool].append(at)
                rate = hazard[pool] * knobs["aftershock_factor"] + knobs["aftershock_extra_per_day"]
                after_end = min(end, at + timedelta(days=knobs["aftershock_days"]))
                interruptions[pool] += _poisson_times(rng, rate, at, after_end)

    market: list[MarketEvent] = []
    for pool, times in interruptions.items():
        for at in sorted(set(times)):
            market.append(MarketEvent("interruption", at, pool))
            if rng.random() < REBALANCE_AHEAD_SHARE:
                market.append(MarketEvent("rebalance", at - timedelta(minutes=rng.uniform(10, 45)), pool))
        for at in _poisson_times(rng, FALSE_REBALANCES_PER_DAY, start, end):
            market.append(MarketEvent("rebalance", at, pool))

    # Prices: a walk per pool from a week before the start.
    on_demand = {name: price for name, _, _, price in TYPES}
    step = timedelta(hours=knobs["step_hours"])
    for pool in pools:
        od = on_demand[pool[2]]
        share = rng.uniform(0.28, 0.55) - (knobs["risky_discount"] if hazard[pool] >= top and top > 0.05 else 0)
        price, moment = od * share, start - timedelta(days=HISTORY_DAYS)
        while moment < end:
            market.append(MarketEvent("price", moment, pool, round(price, 6)))
            price = min(od * 0.95, max(od * 0.12, price * (1 + rng.gauss(0, knobs["volatility"]))))
            moment += step
    market.sort(key=lambda e: (e.at, e.kind != "price", e.pool))

    types = []
    for name, vcpus, memory, price in TYPES:
        if knobs["informative_scores"]:
            mean = sum(hazard[(REGION, zone, name)] for zone in ZONES) / len(ZONES)
            score = round(min(10, max(1, 9 - 30 * mean + rng.gauss(0, 0.7))))
        else:
            score = rng.randint(1, 10)
        types.append(InstanceType(REGION, name, vcpus, memory, "x86_64", price, score))

    trace_tenants, instances = [], []
    for number in range(1, tenants + 1):
        tenant = Tenant(f"t{number:02d}", f"{300000000000 + number}")
        trace_tenants.append(tenant)
        for index in range(rng.randint(6, 12)):
            name = rng.choices([n for n, _ in FLEET_MIX], weights=[w for _, w in FLEET_MIX])[0]
            instances.append(
                TraceInstance(tenant.tenant, f"i-{number:04x}{index:013x}", REGION, rng.choice(ZONES), name)
            )
    return Trace(
        name=scenario,
        start=start,
        days=days,
        seed=seed,
        assumptions={
            "scenario": scenario,
            **knobs,
            "hidden_hazard_per_pool_per_day": {":".join(p): round(h, 4) for p, h in sorted(hazard.items())},
            "expected_interruptions": round(sum(len(v) for v in interruptions.values()), 1),
            "rebalance_ahead_share": REBALANCE_AHEAD_SHARE,
            "false_rebalances_per_pool_per_day": FALSE_REBALANCES_PER_DAY,
            "note": "see replay/generator.py",
        },
        types=types,
        pools=pools,
        tenants=trace_tenants,
        instances=instances,
        market=market,
    )
