"""SIGKILL the worker again and again under load: every task ends SUCCESS exactly once."""

from __future__ import annotations

import asyncio

import pytest
from support.faults import (
    FAULT_PLUGINS,
    LOAD,
    full_only,
    report,
    submit_many,
    tally,
    until_listed,
    until_recorder_idle,
    watch,
)
from support.stack import Stack, sql_url, worker_process

# a dead worker's plugins stay listed meanwhile (heartbeat 5 s x 3 missed)
WORKER_ENV = {
    "QHANA_ACK_WAIT_S": "1",
    "QHANA_MAX_DELIVER": "100",
    "QHANA_WORKER_CONCURRENCY": "8",
    "QHANA_HEARTBEAT_INTERVAL_S": "5",
}


async def _kill_run(stack: Stack, database_url: str | None, total: int, kills: int) -> None:
    url = sql_url(database_url, stack.data_dir)
    ids: list[int] = []
    async with watch(stack.nats_url, url) as watcher:

        async def _killer() -> None:
            for k in range(kills + 1):
                async with worker_process(
                    stack.nats_url, "faults", FAULT_PLUGINS, **WORKER_ENV
                ) as worker:
                    if k == 0:
                        await until_listed(stack.http, stack.base, LOAD)
                        started.set()
                    if k == kills:
                        await submitted
                        await watcher.until_finished(ids, timeout_s=30 + total * 0.2)
                        return
                    goal = (k + 1) * total // (kills + 2)
                    await watcher.until_count(LOAD, goal, running=True, timeout_s=30 + total * 0.1)
                    worker.kill()  # with tasks in flight
                    await worker.process.wait()

        started = asyncio.Event()
        killer = asyncio.create_task(_killer())
        await asyncio.wait(
            {killer, asyncio.ensure_future(started.wait())}, return_when="FIRST_COMPLETED"
        )
        submitted = asyncio.ensure_future(
            submit_many(stack.http, stack.base, LOAD, total, ids, seconds="0.3")
        )
        await killer
        await until_recorder_idle(stack.nats_url)
        result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
    report("worker SIGKILL", kills, total, result)
    assert len(ids) == total
    assert result.lost == 0, result
    assert result.succeeded == total, result
    assert result.clean, result
    assert result.retried >= 1, result  # the kills really hit running tasks
    for task_id in ids[:: max(1, total // 20)]:  # the HTTP view of a sample
        doc = await stack.task(task_id)
        assert doc["status"] == "SUCCESS" and doc["log"] == "working\ndone", doc
        assert [o["name"] for o in doc["outputs"]] == ["load.txt"], doc


async def test_worker_sigkill_short(stack: Stack, database_url: str | None) -> None:
    await _kill_run(stack, database_url, total=100, kills=3)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
async def test_worker_sigkill_full(stack: Stack, database_url: str | None) -> None:
    await _kill_run(stack, database_url, total=1000, kills=10)
