"""``POST /tasks/<id>/cancel`` (not upstream): stops a running task; a pending one never runs."""

from __future__ import annotations

from conftest import FIXTURE_PLUGINS, StackFactory
from support.consumers import consumer_idle
from support.stack import Stack

from qhana.bus import subjects

WAIT = "wait-demo@v1-0-0"
HELLO = "hello-world@v0-2-1"
REASON = "Cancelled by request."


async def _cancel(stack: Stack, task_id: int, slash: str = "") -> dict[str, object]:
    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel{slash}") as resp:
        assert resp.status == 200, await resp.text()
        doc: dict[str, object] = await resp.json()
        return doc


async def test_cancel_running_and_pending(stack_factory: StackFactory) -> None:
    stack = await stack_factory(plugin_folders=str(FIXTURE_PLUGINS), worker_concurrency=1)
    running = await stack.submit(WAIT, seconds="30")
    await stack.wait_for(running, "log")  # the worker is inside the handler
    pending = await stack.submit(HELLO, inputStr="never input")  # the only slot is taken

    doc = await _cancel(stack, pending)
    assert doc["status"] == "FAILURE" and doc["log"] == REASON
    doc = await _cancel(stack, running, "/")
    assert doc["status"] == "FAILURE"

    await consumer_idle(
        stack.nats_url, subjects.TASKS_STREAM, subjects.queue_consumer("default")
    )  # the worker got to the pending task and settled it
    final = await stack.task(pending)
    assert final["status"] == "FAILURE"
    assert final["log"] == REASON and final["outputs"] == []  # it never ran
    kinds = [kind async for kind, _ in stack.events(pending)]
    assert "started" not in kinds and kinds[-1] == "cancelled"

    final = await stack.until(running, lambda d: "cancelled by request" in d["log"])
    assert final["status"] == "FAILURE" and final["log"].startswith("waiting\n" + REASON)
    async with stack.http.post(f"{stack.base}tasks/{running}/cancel") as resp:
        assert resp.status == 409


async def test_cancelled_multi_step_task_refuses_its_step(stack: Stack) -> None:
    multi = "hello-world-multi-step@v0-2-1"
    task_id = await stack.submit(multi, inputStr="first")
    doc = await stack.until(task_id, lambda d: "steps" in d)
    await _cancel(stack, task_id)
    async with stack.http.post(
        doc["steps"][0]["href"], data={"inputStr": "late"}, allow_redirects=False
    ) as resp:
        assert resp.status == 409
    assert (await stack.task(task_id))["status"] == "FAILURE"
