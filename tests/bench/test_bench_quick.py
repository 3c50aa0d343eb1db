"""`qhana bench --quick` runs end to end and writes every key (sanity only, no timed asserts)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = (
    "raw_ceiling_tasks_per_s",
    "completion_tasks_per_s",
    "submit_per_s",
    "plugins_get_per_s",
    "task_get_per_s",
    "start_to_ready_s",
    "start_to_first_task_s",
    "idle_rss_mib",
    "plugin_listed_s",
    "runner_dead_s",
    "worker_scaling_ratio",
    "machine_scaling_ratio",
    "completion_cpu_ms_per_task",
    "submit_alone_per_s",
    "drain_tasks_per_s",
    "task_get_cpu_ms",
    "split_completion_tasks_per_s",
    "split_idle_rss_mib",
    "split_start_to_first_task_s",
)
LATENCIES = ("latency_sse_ms", "latency_poll_ms")


def _sane(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


_PHASE = re.compile(r"^\[\s*(\d+)/(\d+)\] .+ \.\.\. .*\(\d+\.\d s\)$")


def _assert_progress(stderr: str) -> None:
    """Every phase printed one finished line on stderr, numbered 1..total in order."""
    numbers = [m.groups() for line in stderr.splitlines() if (m := _PHASE.match(line))]
    assert numbers, stderr
    total = int(numbers[0][1])
    assert [(int(n), int(t)) for n, t in numbers] == [(i, total) for i in range(1, total + 1)]


@pytest.mark.timeout(150)
def test_bench_quick_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "qhana", "bench", "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=140,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raw JetStream ceiling" in proc.stdout
    _assert_progress(proc.stderr)
    results = json.loads(out.read_text())
    assert results["quick"] is True
    for key in KEYS:
        assert _sane(results[key]), (key, results[key])
    for key in LATENCIES:
        p = results[key]
        assert _sane(p["p50"]) and p["p50"] <= p["p90"] <= p["p99"], (key, p)
    assert 0 < results["completion_ratio"] < 10
    rounds = results["rounds"]  # --quick: one round, whose figures are the reported ones
    assert len(rounds) == results["config"]["rounds"] == 1
    assert rounds[0]["completion_ratio"] == results["completion_ratio"]
    assert rounds[0]["raw_ceiling_tasks_per_s"] == results["raw_ceiling_tasks_per_s"]
    assert set(results["targets_met"]) >= {"completion_tasks_per_s", "idle_rss_mib"}
