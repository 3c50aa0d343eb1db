"""A task that runs longer than its plugin's ``timeout_s`` is stopped and marked FAILURE."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.faults import FAULT_PLUGINS, until_listed
from support.stack import Stack, worker_process

SLEEPY = "sleepy@v1-0-0"
MESSAGE = "The task exceeded its plugin's timeout of 0.5 s and was stopped."


@pytest.fixture
def database_url() -> None:
    """SQLite lane only: this fault does not depend on the database (the suite's time budget);
    the SIGKILL, recorder and database-outage tests run on both lanes."""
    return None


async def test_task_over_its_timeout_is_failure(stack: Stack) -> None:
    async with worker_process(stack.nats_url, "faults", FAULT_PLUGINS):
        await until_listed(stack.http, stack.base, SLEEPY)
        task_id = await stack.submit(SLEEPY, seconds="30")
        doc = await stack.finished(task_id, timeout_s=20)
        assert doc["status"] == "FAILURE"
        assert doc["log"] == "sleeping\n" + MESSAGE
        assert doc["outputs"] == []
        short = await stack.submit(SLEEPY, seconds="0")
        assert (await stack.finished(short))["status"] == "SUCCESS"  # under the limit: fine


async def test_sync_handler_over_its_timeout_is_failure(stack: Stack) -> None:
    async with worker_process(stack.nats_url, "faults", FAULT_PLUGINS) as worker:
        await until_listed(stack.http, stack.base, "sleepy-sync@v1-0-0")
        started = time.perf_counter()
        task_id = await stack.submit("sleepy-sync@v1-0-0", seconds="3")
        doc = await stack.finished(task_id, timeout_s=20)
        assert time.perf_counter() - started < 3.0  # marked at the timeout, not at the end
        assert doc["status"] == "FAILURE" and doc["log"] == MESSAGE
        # the thread cannot be stopped; when it wakes up its output is refused
        async with asyncio.timeout(20):  # bounded poll of the worker's log lines
            while not any("task.late_event_dropped" in line for line in worker.output):
                await asyncio.sleep(0.1)
        assert (await stack.task(task_id))["outputs"] == []
