"""``qhana bench``: one run of every measurement on a fresh stack, a table and a JSON file."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from qhana.bench.load import latency_poll, latency_sse, session
from qhana.bench.progress import Progress
from qhana.bench.raw import raw_ceiling
from qhana.bench.report import render_table, targets_met
from qhana.bench.scenarios import (
    QUICK,
    BenchConfig,
    backlog,
    completion,
    first_task,
    get_rates,
    split_stack,
    workers,
)
from qhana.bench.stack import BenchStack, start_stack

__all__ = ["BenchConfig", "QUICK", "run_bench"]

_PHASES = 9  # the ``progress.phase`` blocks of one run, besides the ``rounds``


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": round(load[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _p(latency: dict[str, float]) -> str:
    return f"p50 {latency['p50']} ms, p99 {latency['p99']} ms"


_ROUND_KEYS = (
    "load_cpu_ms_per_task",
    "completion_tasks_per_s",
    "completion_s",
    "completion_cpu_ms_per_task",
    "submit_per_s",
)


async def _ceiling_and_completion(
    stack: BenchStack, cfg: BenchConfig, results: dict[str, Any], progress: Progress
) -> None:
    """``cfg.rounds`` rounds of the raw ceiling, then the completion right after it.

    How fast this machine runs Python drifts by tens of percent within a minute (a shared
    core): each round's ratio compares two figures taken seconds apart, and the figures
    reported are the medians of the rounds (every round is in ``rounds``)."""
    rounds: list[dict[str, float]] = []
    for number in range(1, cfg.rounds + 1):
        title = f"raw ceiling, then {cfg.completion_tasks:,} tasks (round {number}/{cfg.rounds})"
        with progress.phase(title) as phase:
            ceiling = await raw_ceiling(stack.nats_url, cfg.raw_tasks, cfg.clients)
            done = await completion(stack, cfg)
            ratio = done["completion_tasks_per_s"] / ceiling
            rounds.append(
                {"raw_ceiling_tasks_per_s": round(ceiling, 1), **done, "completion_ratio": ratio}
            )
            phase.outcome = (
                f"{ceiling:,.0f} and {done['completion_tasks_per_s']:,.0f} tasks/s ({ratio:.3f}x)"
            )
    for key in ("raw_ceiling_tasks_per_s", *_ROUND_KEYS):
        results[key] = round(statistics.median(r[key] for r in rounds), 3)
    results["completion_ratio"] = round(statistics.median(r["completion_ratio"] for r in rounds), 3)
    results["completion_ratio_rounds"] = ", ".join(f"{r['completion_ratio']:.3f}" for r in rounds)
    for r in rounds:
        r["completion_ratio"] = round(r["completion_ratio"], 3)
    results["rounds"] = rounds


async def _measure(
    stack: BenchStack, cfg: BenchConfig, results: dict[str, Any], progress: Progress
) -> None:
    async with session(cfg.clients) as http:
        results["start_to_ready_s"] = round(stack.start_to_ready_s, 3)
        with progress.phase("first hello-world task") as phase:
            first_s, first_id = await first_task(stack, http)
            results["start_to_first_task_s"] = round(first_s, 3)
            phase.outcome = f"SUCCESS {first_s:.2f} s after start"
        with progress.phase("idle RSS") as phase:
            await asyncio.sleep(1.0)
            results["idle_rss_mib"] = round(stack.rss_mib(), 1)
            phase.outcome = f"{results['idle_rss_mib']} MiB"
        await _ceiling_and_completion(stack, cfg, results, progress)
        with progress.phase("submit alone, then drain") as phase:
            results.update(await backlog(stack, cfg))
            phase.outcome = (
                f"{results['submit_alone_per_s']:,.0f} POST/s, "
                f"{results['drain_tasks_per_s']:,.0f} tasks/s"
            )
        with progress.phase(f"latency of {cfg.latency_tasks} tasks via SSE") as phase:
            results["latency_sse_ms"] = (
                await latency_sse(http, stack.base, cfg.latency_tasks)
            ).as_dict()
            phase.outcome = _p(results["latency_sse_ms"])
        with progress.phase(f"latency of {cfg.latency_tasks} tasks via polling") as phase:
            poll = await latency_poll(http, stack.base, cfg.latency_tasks, cfg.poll_interval_s)
            results["latency_poll_ms"] = poll.as_dict()
            results["latency_poll_interval_ms"] = cfg.poll_interval_s * 1000
            phase.outcome = _p(results["latency_poll_ms"])
        with progress.phase("GET /plugins/ and GET /tasks/<id>/") as phase:
            results.update(await get_rates(stack, http, cfg, task_id=first_id))
            phase.outcome = (
                f"{results['plugins_get_per_s']:,.0f} and {results['task_get_per_s']:,.0f} req/s"
            )
        with progress.phase("worker processes: listed, 1 vs 2, SIGKILL") as phase:
            results.update(await workers(stack, http, cfg))
            phase.outcome = (
                f"listed {results['plugin_listed_s']} s, "
                f"{results['worker_scaling_ratio']}x, gone {results['runner_dead_s']} s"
            )
        results["rss_after_load_mib"] = round(stack.rss_mib(), 1)  # with a helper, if one runs
        results["recorder_helpers_started"] = stack.log_count("up.recorder_helper_started")


async def run_bench(
    cfg: BenchConfig, *, quick: bool, json_path: Path | None = None, keep: bool = False
) -> dict[str, Any]:
    """Start a fresh stack on a temporary data dir, measure, stop it, report."""
    data_dir = Path(tempfile.mkdtemp(prefix="qhana-bench-"))
    results: dict[str, Any] = {
        "quick": quick,
        "machine": _machine(),
        "config": dataclasses.asdict(cfg),
    }
    started = time.perf_counter()
    progress = Progress(total=_PHASES + cfg.rounds)
    with progress.phase("start qhana up") as phase:
        stack = await start_stack(data_dir / "stack")
        phase.outcome = f"ready in {stack.start_to_ready_s:.2f} s"
    try:
        await _measure(stack, cfg, results, progress)
    finally:
        await stack.stop()
    try:  # after the default stack stopped: the two never share the CPU
        with progress.phase("split stack (QHANA_UP_WORKER_PROCESSES=1)") as phase:
            async with session(cfg.clients) as http:
                results.update(await split_stack(data_dir / "split", http, cfg))
            phase.outcome = f"{results['split_completion_tasks_per_s']:,.0f} tasks/s"
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    results["bench_s"] = round(time.perf_counter() - started, 1)
    results["targets_met"] = targets_met(results)
    print(render_table(results))
    print(
        f"(bench took {results['bench_s']} s; {'--quick, ' if quick else ''}"
        f"{results['machine']['cpus']} CPUs, load {results['machine']['loadavg_1m_at_start']})"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
