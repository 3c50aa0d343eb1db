"""Cancels that race the worker fetching the task: every one is honoured (skipped or stopped)."""

from __future__ import annotations

from conftest import FIXTURE_PLUGINS, StackFactory
from support.consumers import consumer_idle

from qhana.bus import subjects

WAIT = "wait-demo@v1-0-0"
REASON = "Cancelled by request."


async def test_cancels_racing_the_fetch_are_all_honoured(stack_factory: StackFactory) -> None:
    """Two slots, twelve 30 s tasks, cancelled alternately from the back (pending: must be
    skipped) and the front (running: frees a slot, so the worker fetches the next command
    while cancels go on). A cancel the worker missed would run for 30 s."""
    stack = await stack_factory(plugin_folders=str(FIXTURE_PLUGINS), worker_concurrency=2)
    tasks = [await stack.submit(WAIT, seconds="30") for _ in range(12)]
    order = [t for pair in zip(tasks[::-1][:6], tasks[:6], strict=True) for t in pair]
    for task_id in order:
        async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
            assert resp.status == 200, await resp.text()
    await consumer_idle(
        stack.nats_url,
        subjects.TASKS_STREAM,
        subjects.queue_consumer("default"),
        timeout_s=20,
    )  # nothing ran its 30 s
    for task_id in tasks:
        doc = await stack.until(task_id, lambda d: d["status"] == "FAILURE")
        kinds = [kind async for kind, _ in stack.events(task_id)]
        assert "succeeded" not in kinds and doc["outputs"] == [], (task_id, kinds)
        if "started" in kinds:  # fetched before the cancel: stopped inside the handler
            await stack.until(task_id, lambda d: "cancelled by request" in d["log"])
        else:
            assert doc["log"] == REASON
