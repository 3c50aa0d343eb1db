"""The measurements of ``qhana bench``, each against a running :class:`BenchStack`."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
import orjson
from nats.aio.client import Client

from qhana.bench.load import get_rate, submit_many, submit_one, until
from qhana.bench.stack import BenchStack, WorkerProc, start_stack, start_worker

__all__ = [
    "BenchConfig",
    "backlog",
    "completion",
    "split_stack",
    "first_task",
    "get_rates",
    "workers",
]

BURN = "bench-cpu-burn@v1-0-0"


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """Sizes of every phase. ``QUICK`` is small enough for a test (< 60 s)."""

    raw_tasks: int = 5000
    completion_tasks: int = 5000
    rounds: int = 3  # of the raw ceiling and the completion, one right after the other
    clients: int = 16
    latency_tasks: int = 200
    poll_interval_s: float = 0.005
    get_requests: int = 20_000
    get_max_s: float = 4.0
    scaling_tasks: int = 40
    burn_rounds: int = 1_000_000
    completion_timeout_s: float = 240.0


QUICK = BenchConfig(
    raw_tasks=1000,
    completion_tasks=500,
    rounds=1,
    latency_tasks=25,
    get_requests=2000,
    get_max_s=1.0,
    scaling_tasks=12,
    burn_rounds=500_000,
    completion_timeout_s=40.0,
)


async def first_task(stack: BenchStack, http: aiohttp.ClientSession) -> tuple[float, int]:
    """Seconds from spawning ``qhana up`` until the first hello-world task is SUCCESS (SSE)."""
    task_id = await submit_one(http, stack.base, "hello-world@v0-2-1", {"inputStr": "first"})
    async with http.get(f"{stack.base}tasks/{task_id}/events") as resp:
        async for raw in resp.content:
            if raw.startswith(b"event: succeeded"):
                break
    return time.perf_counter() - stack.started_at, task_id


async def _all_success(stack: BenchStack, min_id: int, count: int, timeout_s: float) -> None:
    async def _done() -> bool:
        got = await asyncio.to_thread(stack.count_status, "SUCCESS", min_id)
        return got >= count

    await until(_done, timeout_s, interval_s=0.02)


async def completion(stack: BenchStack, cfg: BenchConfig) -> dict[str, float]:
    """``completion_tasks`` hello-world POSTs by ``clients`` clients, until all SUCCESS in SQL."""
    started, cpu_before, load_before = time.perf_counter(), stack.cpu_s(), time.process_time()
    submitted = await submit_many(stack.base, cfg.completion_tasks, cfg.clients)
    await _all_success(
        stack, min(submitted.task_ids), cfg.completion_tasks, cfg.completion_timeout_s
    )
    elapsed = time.perf_counter() - started
    return {
        "completion_tasks_per_s": round(cfg.completion_tasks / elapsed, 1),
        "completion_s": round(elapsed, 3),
        # CPU of the whole stack (qhana up + nats-server) per task: less noisy than rates
        "completion_cpu_ms_per_task": round(
            (stack.cpu_s() - cpu_before) * 1000 / cfg.completion_tasks, 3
        ),
        "submit_per_s": round(submitted.per_s, 1),
        # this process (the load generator and the SQL polls) per task: what it takes from
        # the stack on a small machine
        "load_cpu_ms_per_task": round(
            (time.process_time() - load_before) * 1000 / cfg.completion_tasks, 3
        ),
    }


_API = "$JS.API.CONSUMER.{verb}.QHANA_TASKS"


async def _api(nc: Client, subject: str, body: dict[str, Any] | None = None) -> Any:
    answer = orjson.loads((await nc.request(subject, orjson.dumps(body or {}))).data)
    if "error" in answer:
        raise RuntimeError(f"{subject}: {answer['error']}")
    return answer


async def _queues(nc: Client) -> list[str]:
    """The stack's task-queue consumers (one per queue)."""
    return list((await _api(nc, _API.format(verb="NAMES"))).get("consumers") or [])


async def _pause(nc: Client, consumers: list[str], paused: bool) -> None:
    """Pause (or resume) consumers of ``QHANA_TASKS`` (nats-server >= 2.11)."""
    body = {"pause_until": "2999-01-01T00:00:00Z"} if paused else {}
    for name in consumers:
        await _api(nc, f"{_API.format(verb='PAUSE')}.{name}", body)


async def _delivered(nc: Client, consumers: list[str]) -> int:
    infos = [await _api(nc, f"{_API.format(verb='INFO')}.{name}") for name in consumers]
    return sum(int(info["delivered"]["consumer_seq"]) for info in infos)


async def backlog(stack: BenchStack, cfg: BenchConfig) -> dict[str, float]:
    """The two halves of ``completion`` apart. With the workers' consumers paused, the edge
    alone takes ``completion_tasks`` POSTs (no worker competes for the CPU: the edge's own
    capacity, as when workers run on other machines); resumed, the workers and the recorder
    drain that backlog (no HTTP competes; upstream's figure is a backlog drain too)."""
    nc = await nats.connect(stack.nats_url, name="qhana-bench")
    try:
        queues = await _queues(nc)
        await _pause(nc, queues, paused=True)
        try:
            cpu_before = stack.cpu_s()
            submitted = await submit_many(stack.base, cfg.completion_tasks, cfg.clients)
            submit_cpu_s = stack.cpu_s() - cpu_before
            delivered = await _delivered(nc, queues)
        finally:
            await _pause(nc, queues, paused=False)
        cpu_before = stack.cpu_s()

        async def _draining() -> bool:
            return await _delivered(nc, queues) > delivered

        # timed from the first delivery: a pull the worker had open while its consumer was
        # paused is only answered at its expiry (up to 1 s): the pause's artefact
        await until(_draining, cfg.completion_timeout_s, interval_s=0.002)
    finally:
        await nc.close()
    started = time.perf_counter()
    await _all_success(
        stack, min(submitted.task_ids), cfg.completion_tasks, cfg.completion_timeout_s
    )
    elapsed = time.perf_counter() - started
    return {
        "submit_alone_per_s": round(submitted.per_s, 1),
        "submit_alone_cpu_ms": round(submit_cpu_s * 1000 / cfg.completion_tasks, 3),
        "drain_tasks_per_s": round(cfg.completion_tasks / elapsed, 1),
        "drain_cpu_ms_per_task": round(
            (stack.cpu_s() - cpu_before) * 1000 / cfg.completion_tasks, 3
        ),
    }


async def get_rates(
    stack: BenchStack, http: aiohttp.ClientSession, cfg: BenchConfig, task_id: int
) -> dict[str, float]:
    plugins, plugins_cpu_ms = await _rate_and_cpu(stack, http, f"{stack.base}plugins/", cfg)
    tasks, tasks_cpu_ms = await _rate_and_cpu(stack, http, f"{stack.base}tasks/{task_id}/", cfg)
    return {
        "plugins_get_per_s": round(plugins, 1),
        "plugins_get_cpu_ms": round(plugins_cpu_ms, 3),
        "task_get_per_s": round(tasks, 1),
        "task_get_cpu_ms": round(tasks_cpu_ms, 3),
    }


async def _rate_and_cpu(
    stack: BenchStack, http: aiohttp.ClientSession, url: str, cfg: BenchConfig
) -> tuple[float, float]:
    """Requests/s, and the stack's CPU milliseconds per request (less noisy than the rate)."""
    cpu_before, started = stack.cpu_s(), time.perf_counter()
    rate = await get_rate(http, url, cfg.clients, cfg.get_requests, cfg.get_max_s)
    served = rate * (time.perf_counter() - started)
    return rate, (stack.cpu_s() - cpu_before) * 1000 / max(served, 1)


async def _listed(http: aiohttp.ClientSession, base: str, identifier: str) -> bool:
    async with http.get(f"{base}plugins/") as resp:
        doc: dict[str, Any] = await resp.json()
    return any(p.get("identifier") == identifier for p in doc.get("plugins", []))


async def _worker_ready(log_path: Path, timeout_s: float = 30) -> float:
    """Wait for the worker's ``worker.ready`` log line; returns when it was seen."""

    async def _ready() -> bool:
        return log_path.is_file() and b'"worker.ready"' in log_path.read_bytes()

    await until(_ready, timeout_s, interval_s=0.01)
    return time.perf_counter()


async def _burn_rate(stack: BenchStack, cfg: BenchConfig) -> tuple[float, float]:
    """Tasks/s over the workers' busy span (first start to last finish: the scaling
    figure), and over the wall clock from the first POST until all were seen SUCCESS
    (adds the submit and the 20 ms poll, the same for 1 and 2 workers)."""
    form = {"rounds": str(cfg.burn_rounds)}
    started = time.perf_counter()
    submitted = await submit_many(stack.base, cfg.scaling_tasks, 4, BURN, form)
    await _all_success(stack, min(submitted.task_ids), cfg.scaling_tasks, 120)
    wall_s = time.perf_counter() - started
    span_s = await asyncio.to_thread(stack.busy_span_s, min(submitted.task_ids))
    return cfg.scaling_tasks / span_s, cfg.scaling_tasks / wall_s


_BURN_CODE = "t=0\nfor i in range(2_000_000):\n    t=(t+i*i)%1000003\n"


async def _burn_processes(count: int) -> float:
    """Seconds for ``count`` plain Python processes burning the same CPU at once."""
    started = time.perf_counter()
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-S", "-c", _BURN_CODE)
        for _ in range(count)
    ]
    await asyncio.gather(*(proc.wait() for proc in procs))
    return time.perf_counter() - started


async def machine_scaling() -> float:
    """The machine's own 1 -> 2 process speed-up on pure Python (no qhana): the ceiling of
    ``worker_scaling_ratio`` in this run (a shared or throttled second core shows here)."""
    one = await _burn_processes(1) + await _burn_processes(1)
    two = await _burn_processes(2)
    return one / two


async def workers(
    stack: BenchStack, http: aiohttp.ClientSession, cfg: BenchConfig
) -> dict[str, float]:
    """Listing after start, 1 vs 2 worker processes, and unavailability after SIGKILL.

    The scaling rounds run 1, 2, then 1 worker again and compare the 2-worker round with
    the mean of the two 1-worker rounds around it: a machine whose speed drifts during
    the phase (a second core that comes and goes) shifts both sides alike."""
    started: list[WorkerProc] = []
    try:
        first = await start_worker(stack.nats_url, "bench-w1", stack.data_dir / "w1.log")
        started.append(first)
        ready = asyncio.create_task(_worker_ready(stack.data_dir / "w1.log"))
        await until(lambda: _listed(http, stack.base, BURN), 30, interval_s=0.01)
        listed_at = time.perf_counter()
        ready_at = await ready
        machine = await machine_scaling()
        one_before = await _burn_rate(stack, cfg)
        second = await start_worker(stack.nats_url, "bench-w2", stack.data_dir / "w2.log")
        started.append(second)
        await _worker_ready(stack.data_dir / "w2.log")
        two, two_wall = await _burn_rate(stack, cfg)
        await second.stop()  # SIGTERM: it withdraws, the first worker runs alone again
        one_after = await _burn_rate(stack, cfg)
        one = (one_before[0] + one_after[0]) / 2
        one_wall = (one_before[1] + one_after[1]) / 2
        first.kill()  # the worker left serving the plugin
        killed = time.perf_counter()

        async def _gone() -> bool:
            return not await _listed(http, stack.base, BURN)

        await until(_gone, 30, interval_s=0.02)
        dead_s = time.perf_counter() - killed
    finally:
        for proc in started:
            await proc.stop()
    return {
        "plugin_listed_s": round(listed_at - first.started_at, 3),
        "worker_ready_s": round(ready_at - first.started_at, 3),
        "plugin_listed_after_ready_s": round(max(0.0, listed_at - ready_at), 3),
        "runner_dead_s": round(dead_s, 3),
        "burn_1_worker_tasks_per_s": round(one, 2),
        "burn_1_worker_drift": round(one_after[0] / one_before[0], 3),
        "burn_2_workers_tasks_per_s": round(two, 2),
        "worker_scaling_ratio": round(two / one, 3),
        "worker_scaling_ratio_wall": round(two_wall / one_wall, 3),
        "machine_scaling_ratio": round(machine, 3),
    }


async def split_stack(
    data_dir: Path, http: aiohttp.ClientSession, cfg: BenchConfig
) -> dict[str, float]:
    """The same stack with its worker in a child process (``QHANA_UP_WORKER_PROCESSES=1``):
    what the one-process default trades for its memory and start-up figures."""
    stack = await start_stack(data_dir, env={"QHANA_UP_WORKER_PROCESSES": "1"})
    try:
        first_s, _ = await first_task(stack, http)
        await asyncio.sleep(1.0)
        rss = stack.rss_mib()
        done = await completion(stack, cfg)
    finally:
        await stack.stop()
    return {
        "split_start_to_first_task_s": round(first_s, 3),
        "split_idle_rss_mib": round(rss, 1),
        "split_completion_tasks_per_s": done["completion_tasks_per_s"],
        "split_completion_cpu_ms_per_task": done["completion_cpu_ms_per_task"],
        "split_submit_per_s": done["submit_per_s"],
    }
