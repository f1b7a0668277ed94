"""bench/replay.py runs end to end on a small scenario and says who won each figure."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def test_the_replay_benchmark_prints_every_policys_figures_and_the_winners(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "bench/replay.py", "--scenario", "calm", "--tenants", "1", "--days", "1",
         "--write-traces", str(tmp_path)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("== calm: 1 tenants") for line in lines)
    for policy in ("on-demand", "autospotting", "karpenter", "spotopt"):
        assert any(line.startswith(policy) for line in lines), policy
    (won,) = [line for line in lines if line.startswith("won: ")]
    for figure in ("savings %", "interruptions/1000 h", "downtime s/account-month", "switches", "decision ms"):
        assert figure in won
    assert (tmp_path / "calm.jsonl").exists()


def test_an_unreadable_trace_is_refused_with_the_reason(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"kind": "pool"}\n')
    done = subprocess.run(
        [sys.executable, "bench/replay.py", "--trace", str(broken)],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "the first line must be a version 1 header" in done.stderr
