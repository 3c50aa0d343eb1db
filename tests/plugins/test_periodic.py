"""Periodic plugin jobs: once per period across workers, claimed in the KV bucket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from support.stack import start_stack

from qhana.bus import start_nats_server, subjects
from qhana.sdk import Periodic, PeriodicContext, Plugin, PluginInput, PluginType, TaskContext
from qhana.settings import Settings
from qhana.worker.periodic import PeriodicRunner, open_periodic_bucket


class _In(PluginInput):
    pass


async def _noop(ctx: TaskContext, params: _In) -> None:
    return None


def _plugin(*jobs: Periodic) -> Plugin:
    return Plugin(
        name="janitor",
        version="v1.0.0",
        title="janitor",
        description="cleans up",
        type=PluginType.PROCESSING,
        input_model=_In,
        handler=_noop,
        periodic=jobs,
    )


@pytest.fixture
async def two_clients(tmp_path: Path) -> AsyncIterator[tuple[Client, Client]]:
    async with start_nats_server(tmp_path / "nats") as server:
        first, second = await nats.connect(server.url), await nats.connect(server.url)
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_two_workers_run_each_period_once(two_clients: tuple[Client, Client]) -> None:
    runs: list[tuple[int, str]] = []

    async def record(ctx: PeriodicContext) -> None:
        runs.append((ctx.period, ctx.runner_id))

    clock = _Clock()
    plugin = _plugin(Periodic("cleanup", 60.0, record))
    pool = ThreadPoolExecutor(2)
    runners = [
        PeriodicRunner(
            kv=await open_periodic_bucket(nc.jetstream()),
            plugins=[plugin],
            runner_id=f"worker-{i}",
            pool=pool,
            clock=clock,
        )
        for i, nc in enumerate(two_clients)
    ]
    first_period = int(clock.now // 60)
    for step in range(12):
        clock.now = 1_000_000.0 + step * 60 + 1
        delays = await asyncio.gather(*(r.tick() for r in runners))  # both race for the period
        assert all(0 < d <= 1.0 for d in delays)
        await asyncio.gather(*(r.tick() for r in runners))  # a second wake-up: nothing new
        await asyncio.gather(*(r.join() for r in runners))
    pool.shutdown()
    assert sorted(p for p, _ in runs) == list(range(first_period, first_period + 12))
    kv = await open_periodic_bucket(two_clients[0].jetstream())
    claim = json.loads((await kv.get("janitor_v1-0-0.cleanup")).value or b"{}")
    assert claim["period"] == first_period + 11
    assert claim["runner_id"] in {"worker-0", "worker-1"}


async def test_failing_job_runs_again_next_period(two_clients: tuple[Client, Client]) -> None:
    calls: list[int] = []

    def flaky(ctx: PeriodicContext) -> None:  # a sync job: runs in the pool
        calls.append(ctx.period)
        if len(calls) == 1:
            raise RuntimeError("first run breaks")

    clock = _Clock()
    pool = ThreadPoolExecutor(1)
    runner = PeriodicRunner(
        kv=await open_periodic_bucket(two_clients[0].jetstream()),
        plugins=[_plugin(Periodic("flaky", 10.0, flaky))],
        runner_id="w",
        pool=pool,
        clock=clock,
    )
    for step in range(2):
        clock.now = 1_000_000.0 + step * 10
        await runner.tick()
        await runner.join()
    pool.shutdown()
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    assert runner.runs == 1  # the failed run is not counted as done


PERIODIC_PLUGIN = """
from pathlib import Path

from qhana.sdk import Periodic, Plugin, PluginInput, PluginType

OUT = Path({out!r})


class In(PluginInput):
    pass


async def run(ctx, params):
    return None


def sweep(ctx):
    (OUT / str(ctx.period)).write_text(ctx.runner_id)


plugin = Plugin(
    name="sweeper", version="v1.0.0", title="sweeper", description="periodic",
    type=PluginType.PROCESSING, input_model=In, handler=run,
    periodic=(Periodic("sweep", 0.3, sweep),),
)
"""


async def test_worker_runs_periodic_jobs(tmp_path: Path) -> None:
    folder, out = tmp_path / "plugins", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    (folder / "sweeper.py").write_text(PERIODIC_PLUGIN.format(out=str(out)))
    settings = Settings.model_validate({"heartbeat_interval_s": 0.2, "plugin_folders": str(folder)})
    stack = await start_stack(tmp_path / "data", settings)
    nc = await nats.connect(stack.nats_url)
    try:
        kv = await nc.jetstream().key_value(subjects.PERIODIC_BUCKET)
        watcher = await kv.watch("sweeper_v1-0-0.sweep")
        periods: list[int] = []
        async with asyncio.timeout(30):
            while len(periods) < 3:
                entry = await watcher.updates(timeout=30)
                if entry is not None and entry.value:
                    periods.append(json.loads(entry.value)["period"])
        await watcher.stop()
    finally:
        await nc.close()
        await stack.close()
    assert periods == sorted(set(periods))  # each claim is a newer period
    assert (out / str(periods[0])).read_text() == settings.runner_id
