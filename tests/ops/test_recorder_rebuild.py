"""``qhana recorder --rebuild``: SQL is emptied and rebuilt, identical, from QHANA_EVENTS."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import nats
from sqlalchemy import func, select
from support.stack import Stack

from qhana.db import create_engine
from qhana.db.tables import tasks
from qhana.recorder.rebuild import reset_projection

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"
FAILING = "failing-demo@v0-1-0"


async def _doc_or_none(stack: Stack, task_id: int) -> dict[str, Any] | None:
    async with stack.http.get(f"{stack.base}tasks/{task_id}/") as resp:
        if resp.status == 404:
            return None
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        return doc


async def test_rebuild_replays_the_same_task_documents(stack: Stack) -> None:
    ok = await stack.submit(HELLO, inputStr="input")
    multi = await stack.submit(MULTI, inputStr="input")
    failed = await stack.submit(FAILING, message="boom")
    await stack.finished(ok)
    await stack.finished(failed)
    await stack.until(multi, lambda doc: "steps" in doc)
    before = {task_id: await stack.task(task_id) for task_id in (ok, multi, failed)}
    assert before[failed]["status"] == "FAILURE"

    engine = create_engine(stack.database_url)
    nc = await nats.connect(stack.nats_url)
    woke = asyncio.Event()

    async def _wake(_: object) -> None:
        woke.set()

    try:
        await nc.subscribe("qhana.recorded.task.*", cb=_wake)
        replay = await reset_projection(nc.jetstream(), engine, replicas=1)
        assert replay > 0
        async with asyncio.timeout(30):
            while [await _doc_or_none(stack, t) for t in before] != list(before.values()):
                woke.clear()
                with contextlib.suppress(TimeoutError):  # a guard, the recorder wakes us
                    await asyncio.wait_for(woke.wait(), 2)
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(tasks)) == 3
    finally:
        await nc.close()
        await engine.dispose()
