"""A submit does not wait for SQL: until the recorder has projected a task, the edge answers
for it from its ``accepted`` event (qhana/edge/unrecorded.py).

The recorder's durable consumer is paused (a real JetStream consumer pause), so SQL stays
behind for as long as the test needs; reads, SSE, webhook subscriptions and cancel must all
work on the unrecorded task, and the recorder must later project it without duplicates.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from conftest import FIXTURE_PLUGINS, StackFactory
from nats.aio.client import Client
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from support.stack import Stack

from qhana.bus import subjects
from qhana.bus.publish import publish_command, publish_event
from qhana.db import create_engine
from qhana.db.projector import apply_event
from qhana.db.tables import metadata, task_log, tasks
from qhana.db.task_views import TaskView, load_task
from qhana.edge.unrecorded import find_unrecorded, pending_view
from qhana.wire import Accepted, Started, TaskCommand, accepted_event, parse_event

HELLO = "hello-world@v0-2-1"
WAIT = "wait-demo@v1-0-0"


async def _pause_recorder(nc: Client, seconds: float) -> None:
    until = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    subject = f"$JS.API.CONSUMER.PAUSE.{subjects.EVENTS_STREAM}.{subjects.RECORDER_DURABLE}"
    reply = json.loads(
        (await nc.request(subject, json.dumps({"pause_until": until}).encode())).data
    )
    assert "error" not in reply, reply


async def _resume_recorder(nc: Client) -> None:
    subject = f"$JS.API.CONSUMER.PAUSE.{subjects.EVENTS_STREAM}.{subjects.RECORDER_DURABLE}"
    reply = json.loads((await nc.request(subject, b"{}")).data)
    assert "error" not in reply and not reply.get("paused"), reply


@pytest.fixture
async def paused(stack_factory: StackFactory) -> AsyncIterator[tuple[Stack, Client]]:
    stack = await stack_factory(plugin_folders=str(FIXTURE_PLUGINS))
    nc = await nats.connect(stack.nats_url)
    await _pause_recorder(nc, 60)
    try:
        yield stack, nc
    finally:
        await nc.close()


async def _sql_count(stack: Stack, table: object, task_id: int) -> int:
    engine = create_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            column = tasks.c.id if table is tasks else task_log.c.task_id
            return int(await conn.scalar(select(func.count()).where(column == task_id)) or 0)
    finally:
        await engine.dispose()


async def _sql_task(stack: Stack, task_id: int) -> TaskView | None:
    """The task as SQL shows it (None: no row)."""
    engine = create_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(load_task, task_id)
    finally:
        await engine.dispose()


async def test_reads_of_an_unrecorded_task_come_from_its_accepted_event(
    paused: tuple[Stack, Client],
) -> None:
    stack, nc = paused
    task_id = await stack.submit(HELLO, inputStr="unrecorded input")
    assert await _sql_count(stack, tasks, task_id) == 0  # nothing projected it

    doc = await stack.task(task_id)
    assert doc["status"] == "PENDING" and doc["log"] == "" and doc["outputs"] == []
    # SSE reads JetStream only: the whole run, although SQL knows nothing of the task
    kinds = [kind async for kind, _ in stack.events(task_id)]
    # (the worker's started carries accepted: first, and once, whichever is stored first)
    assert kinds[0] == "accepted" and kinds.count("accepted") == 1, kinds
    assert kinds[-1] == "succeeded", kinds
    for path in ("tasks/999999/", "tasks/999999/events"):
        async with stack.http.get(stack.base + path) as resp:
            assert resp.status == 404

    await _resume_recorder(nc)
    doc = await stack.finished(task_id)
    assert doc["status"] == "SUCCESS"
    assert doc["outputs"] and await _sql_count(stack, tasks, task_id) == 1


async def test_subscribe_and_cancel_project_the_accepted_event_first(
    paused: tuple[Stack, Client],
) -> None:
    stack, nc = paused
    task_id = await stack.submit(WAIT, seconds="30")
    body = {"command": "subscribe", "webhookHref": "http://127.0.0.1:9/hook", "event": "status"}
    async with stack.http.post(f"{stack.base}tasks/{task_id}/", json=body) as resp:
        assert resp.status == 200, await resp.text()
    assert await _sql_count(stack, tasks, task_id) == 1  # the subscription needs the row

    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
        assert resp.status == 200, await resp.text()
        doc = await resp.json()
    assert doc["status"] == "FAILURE" and doc["log"] == "Cancelled by request."

    await _resume_recorder(nc)  # the recorder re-applies accepted and cancelled: no doubles
    doc = await stack.until(task_id, lambda d: d["status"] == "FAILURE")
    assert doc["log"] == "Cancelled by request."
    assert await _sql_count(stack, task_log, task_id) == 1


async def test_pending_view_equals_the_projection_of_the_accepted_event() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    event = Accepted(
        task_id=7,
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        cmd_seq=7,
        event_id="7.accepted",
        plugin="p@v1",
        plugin_name="p",
        plugin_version="v1",
        params={"a": "b"},
    )
    async with engine.begin() as conn:
        await conn.run_sync(apply_event, event, 3)
        projected = await conn.run_sync(load_task, 7)
    await engine.dispose()
    assert projected is not None
    view = pending_view(event)
    assert projected.created_at is not None and view.created_at is not None
    assert projected.created_at.replace(tzinfo=UTC) == view.created_at
    assert dataclasses.replace(projected, created_at=view.created_at) == view


def _accepted(task_id: int, params: dict[str, str]) -> Accepted:
    """A hello-world task's ``accepted``, as the edge publishes it."""
    return Accepted(
        task_id=task_id,
        at=datetime.now(UTC),
        cmd_seq=task_id,
        event_id=f"{task_id}.accepted",
        plugin=HELLO,
        plugin_name="hello-world",
        plugin_version="v0.2.1",
        params=params,
    )


async def test_a_worker_event_stored_before_accepted_does_not_hide_the_task(
    paused: tuple[Stack, Client],
) -> None:
    """The worker may pull a command and store ``started`` before the edge's ``accepted``."""
    stack, nc = paused
    js = nc.jetstream()
    accepted = _accepted(777, {"inputStr": "x"})
    started = Started(
        task_id=777, at=accepted.at, cmd_seq=777, attempt=1, event_id="777.777.1.0", runner_id="r"
    )
    for event in (started, accepted):
        await publish_event(js, event)
    async with stack.http.get(f"{stack.base}tasks/777/") as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == "PENDING"
    only_started = started.model_copy(update={"task_id": 778, "event_id": "778.778.1.0"})
    await publish_event(js, only_started)  # the accepted event never came: still a task
    async with stack.http.get(f"{stack.base}tasks/778/") as resp:
        assert resp.status == 200, await resp.text()


async def test_the_accepted_in_a_started_stands_in_for_a_lost_one(
    paused: tuple[Stack, Client],
) -> None:
    """The edge died between the command and its ``accepted``: the copy the worker folded
    into ``started`` still gives the task its plugin and parameters."""
    stack, nc = paused
    accepted = _accepted(779, {"input_str": "from the fold"})
    started = Started(
        task_id=779,
        at=accepted.at,
        cmd_seq=779,
        attempt=1,
        event_id="779.779.1.1",
        runner_id="r",
        accepted=accepted,
    )
    await publish_event(nc.jetstream(), started)
    found = await find_unrecorded(nc.jetstream(), 779)
    assert found is not None and found[0] == accepted  # reads see the task as accepted
    body = {"command": "subscribe", "webhookHref": "http://127.0.0.1:9/hook", "event": "status"}
    async with stack.http.post(f"{stack.base}tasks/779/", json=body) as resp:
        assert resp.status == 200, await resp.text()  # projects the task first
    task = await _sql_task(stack, 779)
    assert task is not None and task.plugin == HELLO
    assert task.params == {"input_str": "from the fold"}


def _first_command(params: dict[str, str]) -> TaskCommand:
    return TaskCommand(
        command_id=uuid.uuid4().hex, plugin=HELLO, params=params, submitted_at=datetime.now(UTC)
    )


async def test_a_command_whose_accepted_is_not_stored_yet_is_a_task(
    paused: tuple[Stack, Client],
) -> None:
    """The edge does not wait for its ``accepted`` to be stored: a read that comes first
    builds it from the command, which waits in QHANA_TASKS (no worker serves this queue)."""
    stack, nc = paused
    command = _first_command({"inputStr": "only the command"})
    task_id = await publish_command(nc, "nobody-serves-this", command)
    expected = accepted_event(command, task_id, "hello-world", "v0.2.1")

    async def _names(identifier: str) -> tuple[str, str] | None:
        return ("hello-world", "v0.2.1") if identifier == HELLO else None

    assert await find_unrecorded(nc.jetstream(), task_id, _names) == (expected, 0)
    forgot = await find_unrecorded(nc.jetstream(), task_id)  # the catalogue forgot the plugin
    assert forgot is not None and forgot[0].model_dump(exclude={"plugin_version"}) == (
        expected.model_dump(exclude={"plugin_version"})
    )
    async with stack.http.get(f"{stack.base}tasks/{task_id}/") as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["status"] == "PENDING"

    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
        assert resp.status == 200, await resp.text()  # projects the built accepted first
    task = await _sql_task(stack, task_id)
    assert task is not None and task.status == "FAILURE"
    assert (task.plugin, task.params) == (HELLO, {"inputStr": "only the command"})


async def test_a_later_steps_command_is_not_a_task(paused: tuple[Stack, Client]) -> None:
    _, nc = paused
    step = _first_command({}).model_copy(update={"task_id": 1, "step_id": "next"})
    seq = await publish_command(nc, "nobody-serves-this", step)
    assert await find_unrecorded(nc.jetstream(), seq) is None


async def test_the_edge_stores_accepted_although_it_does_not_wait(
    paused: tuple[Stack, Client],
) -> None:
    """Its own ``accepted``, not only the copy a worker folds into ``started``."""
    stack, nc = paused
    task_id = await stack.submit(HELLO, inputStr="stored")
    sub = await nc.jetstream().subscribe(subjects.event(task_id), ordered_consumer=True)
    try:
        kinds: list[str] = []
        while "accepted" not in kinds:
            msg = await sub.next_msg(timeout=10)
            kinds.append(parse_event(msg.data).kind)
    finally:
        await sub.unsubscribe()
