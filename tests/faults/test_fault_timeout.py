"""A task that runs longer than its plugin's ``timeout_s`` is stopped and marked FAILURE."""

from __future__ import annotations

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
