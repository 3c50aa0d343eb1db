"""The worker's ``started`` of a task's first command carries the task's ``accepted`` event,
the same event the edge publishes: the worker may store its events first (it starts a
command the moment it is pulled, the edge publishes ``accepted`` once the command's ack is
back), and every reader still sees ``accepted`` before anything the worker did."""

from __future__ import annotations

import asyncio

import nats
from support.stack import Stack

from qhana.edge.unrecorded import first_event
from qhana.wire import Accepted, Started, TaskEvent, parse_event, unfold

HELLO = "hello-world@v0-2-1"
MULTI = "hello-world-multi-step@v0-2-1"


async def _stored(stack: Stack, task_id: int) -> list[TaskEvent]:
    """The task's event messages as stored in QHANA_EVENTS, in order (not unfolded)."""
    nc = await nats.connect(stack.nats_url)
    try:
        events: list[TaskEvent] = []
        seq = 1
        while (raw := await first_event(nc.jetstream(), task_id, seq)) is not None:
            assert raw.seq is not None
            events.append(parse_event(raw.data or b""))
            seq = raw.seq + 1
        return events
    finally:
        await nc.close()


def _folded_accepted(events: list[TaskEvent]) -> list[Accepted]:
    return [
        part
        for event in events
        if not isinstance(event, Accepted)
        for part in unfold(event)
        if isinstance(part, Accepted)
    ]


async def test_the_first_commands_started_carries_the_edges_accepted(stack: Stack) -> None:
    task_id = await stack.submit(HELLO, inputStr="folded")
    await stack.finished(task_id)
    stored = await _stored(stack, task_id)
    edge = [e for e in stored if isinstance(e, Accepted)]
    folded = _folded_accepted(stored)
    assert len(edge) == 1 and folded == edge  # the same event, field for field
    assert edge[0].params == {"input_str": "folded"} and edge[0].plugin == HELLO

    kinds = [kind async for kind, _ in stack.events(task_id)]
    assert kinds[0] == "accepted" and kinds.count("accepted") == 1, kinds
    assert kinds[-1] == "succeeded", kinds


async def test_a_large_first_command_sends_its_started_at_once(stack: Stack) -> None:
    task_id = await stack.submit(HELLO, inputStr="x" * (70 * 1024))
    await stack.finished(task_id)
    stored = await _stored(stack, task_id)
    started = [e for e in stored if isinstance(e, Started)]  # not inside the ending event
    assert len(started) == 1 and started[0].accepted is not None
    assert started[0].accepted.params["input_str"] == "x" * (70 * 1024)


async def test_a_later_steps_started_carries_no_accepted(stack: Stack) -> None:
    task_id = await stack.submit(MULTI, inputStr="first")
    doc = await stack.until(task_id, lambda d: bool(d.get("steps")))
    async with stack.http.post(doc["steps"][-1]["href"], data={"inputStr": "second"}) as resp:
        assert resp.status in (200, 303), await resp.text()
    await stack.until(task_id, lambda d: d["status"] == "SUCCESS")
    stored = await _stored(stack, task_id)
    starts = [p for e in stored for p in unfold(e) if isinstance(p, Started)]
    assert [s.cmd_seq == task_id for s in starts] == [True, False]
    folded = _folded_accepted(stored)
    assert len(folded) == 1 and folded[0].cmd_seq == task_id
    assert await asyncio.wait_for(_kinds_once(stack, task_id), 30)


async def _kinds_once(stack: Stack, task_id: int) -> bool:
    kinds = [kind async for kind, _ in stack.events(task_id)]
    return kinds.count("accepted") == 1 and kinds[0] == "accepted"
