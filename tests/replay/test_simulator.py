"""The simulator's accounting on a tiny hand-computed trace (every figure), and the peers' policies on small
cases. No database: the peers choose from the candidates they are given."""

from datetime import UTC, datetime, timedelta

import pytest

from replay.policies import Market, autospotting_choice, karpenter_choice
from replay.simulator import ON_DEMAND, SPOT, Move, OnDemandPolicy, PeerPolicy, Policy, simulate
from replay.trace import InstanceType, MarketEvent, Tenant, Trace, TraceInstance

START = datetime(2026, 11, 1, tzinfo=UTC)
M5 = ("us-east-1", "us-east-1a", "m5.large")
M5A = ("us-east-1", "us-east-1a", "m5a.large")
HOUR = timedelta(hours=1)


def tiny_trace(*extra: MarketEvent) -> Trace:
    """One tenant, one m5.large (on-demand $0.10) for a day. m5.large Spot: $0.04, $0.06 from 12:00;
    m5a.large Spot: $0.05. m5.large's pool is interrupted at 18:00."""
    market = [
        MarketEvent("price", START - HOUR, M5, 0.04),
        MarketEvent("price", START - HOUR, M5A, 0.05),
        MarketEvent("price", START + 12 * HOUR, M5, 0.06),
        *extra,
        MarketEvent("interruption", START + 18 * HOUR, M5),
    ]
    return Trace(
        name="tiny",
        start=START,
        days=1,
        types=[
            InstanceType("us-east-1", "m5.large", 2, 8192, "x86_64", 0.10, placement_score=5),
            InstanceType("us-east-1", "m5a.large", 2, 8192, "x86_64", 0.09, placement_score=9),
        ],
        pools=[M5, M5A],
        tenants=[Tenant("t01", "300000000001")],
        instances=[TraceInstance("t01", "i-00000000000000001", "us-east-1", "us-east-1a", "m5.large")],
        market=sorted(market, key=lambda e: e.at),
    )


CANDIDATES = {("m5.large", "us-east-1a"): [M5, M5A]}
OVERLAP = 0.10 * 90 / 3600  # the first switch: the on-demand instance runs until its Spot replacement does


def test_autospottings_day_is_the_hand_computed_figures():
    figures = simulate(tiny_trace(), PeerPolicy("autospotting", CANDIDATES), replacement_seconds=90)
    # Cheapest at the start: m5.large Spot at $0.04 (12 h), then $0.06 (6 h); interrupted at 18:00 and
    # replaced in the cheapest pool then, m5a.large at $0.05 (6 h).
    cost = OVERLAP + 12 * 0.04 + 6 * 0.06 + 6 * 0.05
    assert figures.cost == pytest.approx(cost) == pytest.approx(1.1425)
    assert figures.on_demand_cost == pytest.approx(2.4)
    assert figures.savings_percent == pytest.approx(100 * (1 - 1.1425 / 2.4))
    assert figures.instance_hours == 24 and figures.interruptions == 1
    assert figures.interruptions_per_1000_hours == pytest.approx(1000 / 24)
    assert figures.downtime_seconds == 90  # the replacement runs 90 s after the warning
    assert figures.account_months == pytest.approx(1 / 30)
    assert figures.downtime_per_account_month == pytest.approx(90 * 30)
    assert (figures.switches, figures.replacements, figures.replicas, figures.promotions) == (1, 1, 0, 0)
    assert len(figures.cycle_seconds) == 24  # a decision cycle an hour


def test_karpenter_takes_the_deepest_pool_and_is_never_interrupted_here():
    figures = simulate(tiny_trace(), PeerPolicy("karpenter", CANDIDATES), replacement_seconds=90)
    # m5a.large has the best placement score (9 against 5): all day at $0.05.
    assert figures.cost == pytest.approx(OVERLAP + 24 * 0.05)
    assert (figures.interruptions, figures.downtime_seconds, figures.switches) == (0, 0, 1)


def test_on_demand_costs_the_list_price_and_is_never_interrupted():
    figures = simulate(tiny_trace(), OnDemandPolicy())
    assert figures.cost == pytest.approx(2.4) and figures.savings_percent == pytest.approx(0)
    assert (figures.interruptions, figures.downtime_seconds, figures.switches) == (0, 0, 0)


class ReplicaOnRebalance(Policy):
    """Moves to m5.large Spot at the start; on a rebalance recommendation launches a replica in m5a.large."""

    name = "replica"

    def cycle(self, engine, at):
        return [Move("i-00000000000000001", M5, SPOT)] if at == START else []

    def replica_pool(self, engine, instance, at):
        return M5A


def test_a_replica_takes_over_without_downtime_and_its_hours_are_paid():
    trace = tiny_trace(MarketEvent("rebalance", START + 17 * HOUR, M5))
    figures = simulate(trace, ReplicaOnRebalance(), replacement_seconds=90)
    # The replica stood by from 17:00 at $0.05 and took over at 18:00 (the instance then runs there).
    assert figures.cost == pytest.approx(OVERLAP + 12 * 0.04 + 6 * 0.06 + 1 * 0.05 + 6 * 0.05)
    assert (figures.interruptions, figures.downtime_seconds, figures.promotions, figures.replicas) == (1, 0, 1, 1)


def test_a_false_alarms_replica_is_retired_after_six_hours():
    trace = tiny_trace(MarketEvent("rebalance", START + 2 * HOUR, M5))
    figures = simulate(trace, ReplicaOnRebalance(), replacement_seconds=90)
    # 02:00-08:00 standing by at $0.05, then retired; the 18:00 interruption finds no replica.
    assert figures.cost == pytest.approx(OVERLAP + 12 * 0.04 + 6 * 0.06 + 6 * 0.05 + 6 * 0.10)
    assert (figures.promotions, figures.replacements, figures.downtime_seconds) == (0, 1, 90)


def test_a_policy_without_a_pool_falls_back_to_on_demand_in_the_same_pool():
    figures = simulate(tiny_trace(), PeerPolicy("autospotting", {("m5.large", "us-east-1a"): [M5]}))
    # Only m5.large's pool: the replacement at 18:00 goes back to it (AutoSpotting remembers nothing).
    assert figures.cost == pytest.approx(OVERLAP + 12 * 0.04 + 12 * 0.06)


# --- The peers' rules --------------------------------------------------------------------------------------

A, B, C = (("us-east-1", f"us-east-1{z}", "m5.large") for z in "abc")


def test_autospotting_picks_the_cheapest_priced_pool():
    market = Market(spot={A: 0.05, B: 0.03}, on_demand={("us-east-1", "m5.large"): 0.096})
    assert autospotting_choice([A, B, C], market) == B  # C has no price: not a choice
    assert autospotting_choice([C], market) is None


def test_karpenter_prefers_capacity_then_price_and_forgets_an_interrupted_pool_after_three_minutes():
    scores = {("us-east-1", "m5.large"): 5, ("us-east-1", "m5a.large"): 9, ("us-east-1", "c5.large"): 8}
    deep, deeper, shallow = ("us-east-1", "us-east-1a", "c5.large"), ("us-east-1", "us-east-1a", "m5a.large"), A
    market = Market(spot={shallow: 0.01, deep: 0.04, deeper: 0.05}, scores=scores)
    now = START
    # Scores 9 and 8 are the deepest tier (within one point); the cheaper of them wins, not the cheapest pool.
    assert karpenter_choice([shallow, deep, deeper], market, unavailable_until={}, now=now) == deep
    unavailable = {deep: now + timedelta(minutes=3)}
    assert karpenter_choice([shallow, deep, deeper], market, unavailable_until=unavailable, now=now) == deeper
    later = now + timedelta(minutes=3)
    assert karpenter_choice([shallow, deep, deeper], market, unavailable_until=unavailable, now=later) == deep
    assert karpenter_choice([], market, unavailable_until={}, now=now) is None


def test_karpenters_replacement_avoids_the_pool_just_interrupted():
    trace = tiny_trace()
    equal = [InstanceType("us-east-1", t.instance_type, 2, 8192, "x86_64", t.on_demand, 9) for t in trace.types]
    trace.types = equal
    figures = simulate(trace, PeerPolicy("karpenter", CANDIDATES))
    # Equal scores: the cheapest, m5.large at $0.04; at 18:00 it is unavailable, so m5a.large at $0.05.
    assert figures.cost == pytest.approx(OVERLAP + 12 * 0.04 + 6 * 0.06 + 6 * 0.05)
    assert figures.interruptions == 1


def test_an_instance_already_where_the_policy_wants_it_is_not_switched():
    class Stay(Policy):
        name = "stay"

        def cycle(self, engine, at):
            return [Move("i-00000000000000001", M5, ON_DEMAND)]

    assert simulate(tiny_trace(), Stay()).switches == 0


def test_a_switch_leaves_the_replica_of_the_old_instance_behind():
    class ReplicaThenOnDemand(ReplicaOnRebalance):
        def cycle(self, engine, at):
            if at == START + 11 * HOUR:
                return [Move("i-00000000000000001", M5, ON_DEMAND)]
            return super().cycle(engine, at)

    trace = tiny_trace(MarketEvent("rebalance", START + 10 * HOUR, M5))
    figures = simulate(trace, ReplicaThenOnDemand(), replacement_seconds=90)
    # Spot 00:00-11:00, the replica 10:00-11:00 (retired with the instance it stood by), on-demand from 11:00
    # (the swap's 90 s at the Spot price): the 18:00 interruption finds nothing of ours in the pool.
    spot_overlap = 0.04 * 90 / 3600
    assert figures.cost == pytest.approx(OVERLAP + 11 * 0.04 + 1 * 0.05 + spot_overlap + 13 * 0.10)
    assert (figures.interruptions, figures.promotions, figures.replicas, figures.switches) == (0, 0, 1, 2)
