"""``qhana bench``: one run of every measurement on a fresh stack, a table and a JSON file."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from qhana.bench.load import latency_poll, latency_sse, session
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


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_at_start": round(load[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


async def _measure(stack: BenchStack, cfg: BenchConfig, results: dict[str, Any]) -> None:
    async with session(cfg.clients) as http:
        results["start_to_ready_s"] = round(stack.start_to_ready_s, 3)
        first_s, first_id = await first_task(stack, http)
        results["start_to_first_task_s"] = round(first_s, 3)
        await asyncio.sleep(1.0)
        results["idle_rss_mib"] = round(stack.rss_mib(), 1)
        ceiling = await raw_ceiling(stack.nats_url, cfg.raw_tasks, cfg.clients)
        results["raw_ceiling_tasks_per_s"] = round(ceiling, 1)
        results.update(await completion(stack, http, cfg))
        results["completion_ratio"] = round(results["completion_tasks_per_s"] / ceiling, 3)
        results.update(await backlog(stack, http, cfg))
        results["latency_sse_ms"] = (
            await latency_sse(http, stack.base, cfg.latency_tasks)
        ).as_dict()
        poll = await latency_poll(http, stack.base, cfg.latency_tasks, cfg.poll_interval_s)
        results["latency_poll_ms"] = poll.as_dict()
        results["latency_poll_interval_ms"] = cfg.poll_interval_s * 1000
        results.update(await get_rates(stack, http, cfg, task_id=first_id))
        results.update(await workers(stack, http, cfg))
        results["rss_after_load_mib"] = round(stack.rss_mib(), 1)


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
    stack = await start_stack(data_dir / "stack")
    try:
        await _measure(stack, cfg, results)
    finally:
        await stack.stop()
    try:  # after the default stack stopped: the two never share the CPU
        async with session(cfg.clients) as http:
            results.update(await split_stack(data_dir / "split", http, cfg))
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
