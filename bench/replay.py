"""Prove the policy: replay a month of Spot prices and interruptions through spotopt's own decision code and
the peers' policies, on the same traces with the same fleet, and print who won on each figure.

    .venv/bin/python bench/replay.py [--scenario NAME ...| --trace FILE] [--tenants 20] [--days 30]
        [--seed 7] [--cycle-minutes 60] [--replacement-seconds 90] [--write-traces DIR]
    (DATABASE_URL=postgres://… runs it on a scratch database of that server; default a throwaway SQLite)

What it does, per scenario (default: storms, independent and calm; replay/generator.py states their
assumptions) or per recorded trace (`manage.py replay_record`):
1. Generates the trace from the seed (or reads the file: replay/trace.py documents the format).
2. Empties the scratch database and seeds the trace's world through the product's models and services
   (replay/scenario.py): the catalog, the price history before the start, one PROD account per tenant with
   its instances on-demand, the shipped baseline model activated through model governance.
3. Replays the trace under on-demand, AutoSpotting, Karpenter (replay/policies.py, one function each) and
   spotopt (fleet.optimizer.optimizer_evaluate every cycle with the model through onnxruntime, the hive fed
   by risk.services.risk_events_ingest, replacements and replicas from risk.safety.replacement_pools), the
   simulation's clock standing in for django.utils.timezone.now (replay/simulator.py).
4. Prints per policy: cost relative to on-demand (savings %), interruptions per 1,000 instance-hours,
   downtime seconds per account-month (as the SLA counts it: from the warning until the replacement runs),
   switches executed, replacements, replicas, and the decision time per cycle; then the winner of each
   figure among the Spot policies (on-demand is never interrupted: it is the baseline, not a contender).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from common import django_environment, scratch_database

SCENARIOS = ("storms", "independent", "calm")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scenario", action="append", choices=SCENARIOS, help="a synthetic scenario (repeatable)")
    source.add_argument("--trace", type=Path, help="a trace file (JSON lines) instead of the synthetic scenarios")
    parser.add_argument("--tenants", type=int, default=20, help="tenants of a synthetic trace (default 20)")
    parser.add_argument("--days", type=int, default=30, help="days of a synthetic trace (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="the synthetic traces' seed (default 7)")
    parser.add_argument("--cycle-minutes", type=int, default=60, help="decision cycle (default 60 minutes)")
    parser.add_argument(
        "--replacement-seconds", type=float, default=90, help="time until a replacement runs (default 90)"
    )
    parser.add_argument("--write-traces", type=Path, help="also write each synthetic trace to this folder")
    return parser.parse_args()


FIGURES = (
    # (label, attribute, format, best is the highest?)
    ("savings %", "savings_percent", "{:.1f}", True),
    ("interruptions/1000 h", "interruptions_per_1000_hours", "{:.2f}", False),
    ("downtime s/account-month", "downtime_per_account_month", "{:.0f}", False),
    ("switches", "switches", "{:d}", False),
    ("decision ms/cycle", "decision_ms_per_cycle", "{:.2f}", False),
)
EXTRA = (("replacements", "replacements"), ("replicas", "replicas"), ("promoted", "promotions"))


def report(trace, results, seconds: float) -> None:
    interruptions = sum(1 for e in trace.market if e.kind == "interruption" and trace.start < e.at < trace.end)
    print(
        f"\n== {trace.name}: {len(trace.tenants)} tenants, {len(trace.instances)} instances, {trace.days} days, "
        f"{len(trace.pools)} pools, {interruptions} pool interruptions in the trace ({seconds:.0f} s)"
    )
    labels = [label for label, *_ in FIGURES] + [label for label, _ in EXTRA]
    widths = [max(len(label), 8) for label in labels]
    print(f"{'policy':<14}" + "".join(f"{label:>{w + 2}}" for label, w in zip(labels, widths, strict=True)))
    for figures in results:
        cells = [fmt.format(getattr(figures, attr)) for _, attr, fmt, _ in FIGURES]
        cells += [str(getattr(figures, attr)) for _, attr in EXTRA]
        print(f"{figures.policy:<14}" + "".join(f"{c:>{w + 2}}" for c, w in zip(cells, widths, strict=True)))
    contenders = [f for f in results if f.policy != "on-demand"]
    winners = []
    for label, attr, _, highest in FIGURES:
        values = [getattr(f, attr) for f in contenders]
        best = max(values) if highest else min(values)
        names = [f.policy for f in contenders if abs(getattr(f, attr) - best) <= 1e-9]
        winners.append(f"{label}: {' and '.join(names)}")
    print("won: " + "; ".join(winners))


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="spotopt-replay-"))
    given_url = bool(os.environ.get("DATABASE_URL"))  # as common.moto_and_scratch_database decides
    django_environment(tmp, LOG_LEVEL="ERROR")
    import django

    django.setup()
    from django.core.management import call_command

    from replay.generator import generate
    from replay.scenario import scenario_run
    from replay.trace import TraceError, read_trace, write_trace

    if args.trace:
        try:
            recorded = read_trace(args.trace)
        except (OSError, TraceError) as exc:
            print(f"replay: cannot read the trace: {exc}", file=sys.stderr)
            return 2
        traces = [lambda: recorded]
    else:
        names = args.scenario or list(SCENARIOS)
        traces = [
            (lambda name=name: generate(name, tenants=args.tenants, days=args.days, seed=args.seed)) for name in names
        ]
    with scratch_database(tmp, given_url) as name:
        print(f"replay on {name}: cycle {args.cycle_minutes} min, replacement {args.replacement_seconds:.0f} s")
        for make in traces:
            trace = make()
            if args.write_traces:
                args.write_traces.mkdir(parents=True, exist_ok=True)
                write_trace(trace, args.write_traces / f"{trace.name}.jsonl")
            call_command("flush", interactive=False, verbosity=0)
            started = time.perf_counter()
            results = scenario_run(
                trace,
                cycle_minutes=args.cycle_minutes,
                replacement_seconds=args.replacement_seconds,
                progress=lambda message: print(message, file=sys.stderr),
            )
            report(trace, results, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
