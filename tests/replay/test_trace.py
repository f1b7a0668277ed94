"""The trace format round-trips and refuses what is not a trace; the generator is deterministic and says
its assumptions."""

import json
from datetime import timedelta

import pytest

from replay.generator import SCENARIOS, generate
from replay.trace import TraceError, read_trace, write_trace


def test_a_generated_trace_round_trips_through_its_file(tmp_path):
    trace = generate("storms", tenants=3, days=4, seed=11)
    path = tmp_path / "storms.jsonl"
    assert write_trace(trace, path) == len(path.read_text().splitlines())
    again = read_trace(path)
    assert (again.name, again.start, again.days, again.seed) == ("storms", trace.start, 4, 11)
    assert again.types == trace.types and again.pools == trace.pools
    assert again.tenants == trace.tenants and again.instances == trace.instances
    assert again.market == trace.market
    assert json.loads(path.read_text().splitlines()[0])["assumptions"]["scenario"] == "storms"


def test_the_generator_is_deterministic_and_its_scenarios_differ():
    assert generate("calm", tenants=2, days=3, seed=5).market == generate("calm", tenants=2, days=3, seed=5).market
    assert generate("calm", tenants=2, days=3, seed=5).market != generate("calm", tenants=2, days=3, seed=6).market
    assert len(SCENARIOS) >= 3
    independent = generate("independent", tenants=2, days=30, seed=7)
    # Every pool has the same hidden hazard: an interruption says nothing about the pool's next one.
    assert set(independent.assumptions["hidden_hazard_per_pool_per_day"].values()) == {0.06}
    storms = generate("storms", tenants=2, days=30, seed=7)
    assert len(set(storms.assumptions["hidden_hazard_per_pool_per_day"].values())) > 1
    # A week of price history before the start, every pool priced at the start.
    first = min(e.at for e in storms.market)
    assert first <= storms.start - timedelta(days=6)
    priced = {e.pool for e in storms.market if e.kind == "price" and e.at <= storms.start}
    assert priced == set(storms.pools)
    with pytest.raises(ValueError, match="unknown scenario"):
        generate("nope")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"kind": "pool"}'], "first line must be a version 1 header"),
        (['{"kind": "header", "version": 1, "start": "2026-11-01T00:00:00", "days": 1}'], "no time zone"),
        (['{"kind": "header", "version": 1, "start": "2026-11-01T00:00:00+00:00", "days": 1}', "{"], "not JSON"),
        (
            [
                '{"kind": "header", "version": 1, "start": "2026-11-01T00:00:00+00:00", "days": 1}',
                '{"kind": "pool", "region": "us-east-1", "availability_zone": "a", "instance_type": "m5.large"}',
            ],
            "no type line",
        ),
        (
            [
                '{"kind": "header", "version": 1, "start": "2026-11-01T00:00:00+00:00", "days": 1}',
                '{"kind": "what"}',
            ],
            "unknown kind",
        ),
    ],
)
def test_a_broken_trace_is_refused_with_the_line_that_breaks_it(tmp_path, lines, message):
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=message):
        read_trace(path)


def test_market_lines_out_of_time_order_are_refused(tmp_path):
    trace = generate("calm", tenants=1, days=1, seed=1)
    trace.market = list(reversed(trace.market))
    path = tmp_path / "reversed.jsonl"
    write_trace(trace, path)
    with pytest.raises(TraceError, match="time order"):
        read_trace(path)
