"""spotopt in the replay is the product's own code: the simulator calls the functions the production cycle
and the safety net call (no copy of the decision logic), on the database, with the simulation's clock; one
tenant's interruption poisons the pool for the other tenant too."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

import fleet.optimizer
import risk.safety
import risk.services
from fleet.models import Instance
from replay.scenario import peer_candidates, scenario_run, scenario_seed
from replay.simulator import SpotoptPolicy, simulate, simulation_clock
from replay.trace import InstanceType, MarketEvent, Tenant, Trace, TraceInstance
from risk.models import GlobalRiskEvent, SpotPoolRisk

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 1, tzinfo=UTC)
ZONE = "us-east-1a"
TYPES = {"m5.large": 0.096, "m5a.large": 0.086, "m6i.large": 0.096, "m6a.large": 0.0864}
CHEAPEST = ("us-east-1", ZONE, "m5a.large")


def two_tenant_trace() -> Trace:
    """Two tenants with an m5.large each in us-east-1a; four general-purpose pools there, m5a.large the
    cheapest by far; m5a.large's pool is interrupted at 03:00."""
    pools = [("us-east-1", ZONE, name) for name in TYPES]
    market = []
    for hours_before in range(7 * 24, 0, -12):
        for pool in pools:
            share = 0.30 if pool == CHEAPEST else 0.40
            market.append(MarketEvent("price", START - timedelta(hours=hours_before), pool, TYPES[pool[2]] * share))
    market.append(MarketEvent("interruption", START + timedelta(hours=3), CHEAPEST))
    return Trace(
        name="two-tenants",
        start=START,
        days=1,
        types=[InstanceType("us-east-1", name, 2, 8192, "x86_64", price, 8) for name, price in TYPES.items()],
        pools=pools,
        tenants=[Tenant("t01", "300000000001"), Tenant("t02", "300000000002")],
        instances=[
            TraceInstance("t01", "i-00000000000000001", "us-east-1", ZONE, "m5.large"),
            TraceInstance("t02", "i-00000000000000002", "us-east-1", ZONE, "m5.large"),
        ],
        market=market,
    )


@pytest.fixture
def calls(monkeypatch):
    """Count the production functions the replay goes through, each still doing its real work."""
    counted = {}

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            counted[name] = counted.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for module, name in [
        (fleet.optimizer, "optimizer_evaluate"),
        (fleet.optimizer, "compatible_spot_pools_for"),
        (fleet.optimizer, "poisoned_pools"),
        (fleet.optimizer, "model_score"),
        (risk.safety, "replacement_pools"),
        (risk.services, "risk_events_ingest"),
    ]:
        spy(module, name)
    return counted


def test_spotopt_is_replayed_through_the_products_own_functions_and_its_hive(calls, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    trace = two_tenant_trace()
    with simulation_clock(trace.start) as clock:
        seeded = scenario_seed(trace)
        figures = simulate(trace, SpotoptPolicy(seeded, clock), cycle_minutes=60, replacement_seconds=90)
        assert timezone.now() == clock.now  # the services read the simulation's clock
    assert timezone.now() > START + timedelta(days=30)  # and the real one is back

    # Every cycle went through the optimizer's evaluation: catalog, gatekeeper, the model through onnxruntime.
    assert calls["optimizer_evaluate"] == 24 == len(figures.cycle_seconds)
    assert calls["compatible_spot_pools_for"] == 24 and calls["poisoned_pools"] >= 24
    assert calls["model_score"] == 24
    # At the start both tenants went to the cheapest safe pool; at 03:00 it was reclaimed under both.
    assert figures.switches >= 2 and figures.interruptions == 2
    assert calls["risk_events_ingest"] == 2 and calls["replacement_pools"] == 2
    # One tenant's warning poisoned it (for both); the other's, at the same moment, extended the poison.
    assert sorted(GlobalRiskEvent.objects.values_list("outcome", flat=True)) == ["extended", "poisoned"]
    assert SpotPoolRisk.objects.get(instance_type="m5a.large", availability_zone=ZONE).is_poisoned
    # No one went back into the poisoned pool for the rest of the day.
    rows = Instance.objects.filter(pk__in=seeded.instance_pks)
    assert all(row.instance_type != "m5a.large" for row in rows)
    assert figures.downtime_seconds == 2 * 90 and figures.replacements == 2
    assert 0 < figures.cost < figures.on_demand_cost


def test_the_replay_uses_the_safety_nets_replica_lifetime_and_the_catalogs_pools(settings, tmp_path):
    assert SpotoptPolicy(None, None).replica_lifetime == risk.safety.REPLICA_LIFETIME
    settings.MEDIA_ROOT = tmp_path / "media"
    trace = two_tenant_trace()
    with simulation_clock(trace.start):
        seeded = scenario_seed(trace)
        candidates = peer_candidates(trace, seeded)
    # The product's catalog: the instance's own Spot pool first, then the compatible types of its zone.
    assert candidates[("m5.large", ZONE)][0] == ("us-east-1", ZONE, "m5.large")
    assert set(candidates[("m5.large", ZONE)]) == set(trace.pools)


def test_a_scenario_is_replayed_under_every_policy(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    from replay.generator import generate

    results = scenario_run(generate("storms", tenants=2, days=2, seed=3), cycle_minutes=120)
    assert [f.policy for f in results] == ["on-demand", "autospotting", "karpenter", "spotopt"]
    on_demand = results[0]
    assert on_demand.cost == pytest.approx(on_demand.on_demand_cost) and on_demand.interruptions == 0
    assert all(f.instance_hours == on_demand.instance_hours for f in results)  # the same fleet for each
    assert all(f.cost < on_demand.cost for f in results[1:])
