"""SIGTERM drains: a worker stopped with tasks in flight finishes them (no redelivery, nothing
half-written) and exits 0; the next worker takes the rest."""

from __future__ import annotations

import asyncio
import signal

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

# a redelivery would take 120 s: a drain that works never needs one
ENV = {
    "QHANA_ACK_WAIT_S": "120",
    "QHANA_WORKER_CONCURRENCY": "8",
    "QHANA_HEARTBEAT_INTERVAL_S": "5",
}


@pytest.fixture
def database_url() -> None:
    """SQLite lane only: this fault does not depend on the database (the suite's time budget);
    the SIGKILL, recorder and database-outage tests run on both lanes."""
    return None


async def _drain_run(stack: Stack, database_url: str | None, total: int, stops: int) -> None:
    ids: list[int] = []
    exit_codes: list[int] = []
    async with watch(stack.nats_url, sql_url(database_url, stack.data_dir)) as watcher:
        for round_ in range(stops + 1):
            async with worker_process(stack.nats_url, "faults", FAULT_PLUGINS, **ENV) as worker:
                if round_ == 0:
                    await until_listed(stack.http, stack.base, LOAD)
                    await submit_many(stack.http, stack.base, LOAD, total, ids, seconds="0.5")
                if round_ == stops:
                    # well inside ack_wait: nothing waited for a redelivery
                    await watcher.until_finished(ids, timeout_s=45)
                    break
                goal = (round_ + 1) * total // (stops + 2)
                await watcher.until_count(LOAD, goal, running=True, timeout_s=60)
                worker.process.send_signal(signal.SIGTERM)
                exit_codes.append(await asyncio.wait_for(worker.process.wait(), 30))
        await until_recorder_idle(stack.nats_url)
        result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
    report("worker SIGTERM (drain)", stops, total, result)
    assert exit_codes == [0] * stops
    assert result.succeeded == total and result.clean, result
    # a command handed back unstarted on stop counts a delivery, but none ran twice:
    assert result.stray_attempt_rows == 0


async def test_worker_sigterm_drains_short(stack: Stack, database_url: str | None) -> None:
    await _drain_run(stack, database_url, total=30, stops=1)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
async def test_worker_sigterm_drains_full(stack: Stack, database_url: str | None) -> None:
    await _drain_run(stack, database_url, total=400, stops=10)
