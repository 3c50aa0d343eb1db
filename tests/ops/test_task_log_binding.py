"""Every log line a worker writes about a task carries task_id, plugin and attempt."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs
from support.stack import Stack

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"


@pytest.mark.parametrize("database_url", [None])  # logging does not depend on the SQL lane
async def test_task_lines_are_bound_to_task_plugin_attempt(stack: Stack) -> None:
    with capture_logs() as logs:
        hello = await stack.submit(HELLO, inputStr="input")
        multi = await stack.submit(MULTI, inputStr="input")
        assert (await stack.finished(hello))["status"] == "SUCCESS"
        await stack.until(multi, lambda doc: "steps" in doc)
    task_lines = [e for e in logs if str(e.get("event", "")).startswith("task.")]
    kinds = {e["event"] for e in task_lines}
    assert {"task.started", "task.finished"} <= kinds, kinds
    for entry in task_lines:
        assert {"task_id", "plugin", "attempt"} <= entry.keys(), entry
        assert entry["task_id"] in (hello, multi), entry
        assert entry["plugin"] in (HELLO, MULTI), entry
        assert entry["attempt"] >= 1, entry
