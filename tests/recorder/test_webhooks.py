"""Webhook delivery (spec §1.8): jobs forwarded by the recorder, retried on any failure."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from aiohttp import web
from conftest import StackFactory
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError
from support.consumers import consumer_idle
from support.http_app import served
from support.stack import Stack

from qhana.bus import subjects
from qhana.bus.streams import apply_streams
from qhana.db import create_engine
from qhana.recorder.hook_jobs import REPLAY_METADATA, prepare_webhooks
from qhana.recorder.rebuild import reset_projection
from qhana.recorder.webhooks import DeliveryPolicy, upstream_kinds
from qhana.wire import EventKind, TaskEvent

MULTI = "hello-world-multi-step@v0-2-1"


@dataclass
class Receiver:
    """Records every call; ``fail[path]`` = how many calls to answer 500 before 200."""

    base: str = ""
    fail: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, str, str, int]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        left = self.fail.get(path, 0)
        status = 500 if left != 0 else 200
        if left > 0:
            self.fail[path] = left - 1
        query = request.query
        async with self.changed:
            self.calls.append((path, query.get("event", ""), query.get("source", ""), status))
            self.changed.notify_all()
        return web.Response(status=status)

    def of(self, path: str) -> list[tuple[str, str, int]]:
        return [(event, source, status) for p, event, source, status in self.calls if p == path]

    async def wait(
        self, path: str, count: int = 1, kinds: set[str] | None = None, timeout_s: float = 30
    ) -> list[tuple[str, str, int]]:
        """Until ``path`` got ``count`` calls (and successful calls of all ``kinds``)."""

        def _done() -> bool:
            calls = self.of(path)
            ok = {event for event, _, status in calls if status == 200}
            return len(calls) >= count and (kinds or set()) <= ok

        async with asyncio.timeout(timeout_s), self.changed:
            await self.changed.wait_for(_done)
        return self.of(path)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    async with served(app) as base:
        rec.base = base
        yield rec


async def _subscribe(
    stack: Stack, task_id: int, href: str, event: str | None, command: str = "subscribe"
) -> None:
    body = {"command": command, "webhookHref": href, "event": event}
    async with stack.http.post(f"{stack.base}tasks/{task_id}/", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def _waiting_for_step(stack: Stack) -> int:
    task_id = await stack.submit(MULTI, inputStr="first input")
    await stack.until(task_id, lambda doc: "steps" in doc)
    # the step-requested event is dispatched before anyone subscribes
    await _dispatched(stack)
    return task_id


async def _dispatched(stack: Stack) -> None:
    """Every event SQL shows is forwarded and every job handled."""
    await consumer_idle(stack.nats_url, subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
    await consumer_idle(stack.nats_url, subjects.WEBHOOKS_STREAM, subjects.WEBHOOKS_DURABLE)


async def _jobs_ever(stack: Stack) -> int:
    """How many webhook jobs the recorder has forwarded (the jobs stream's last sequence)."""
    nc = await nats.connect(stack.nats_url)
    try:
        info = await nc.jetstream().stream_info(subjects.WEBHOOKS_STREAM)
        return int(info.state.last_seq)
    finally:
        await nc.close()


def test_backoff_doubles_and_is_capped() -> None:
    policy = DeliveryPolicy(attempts=5, backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_status_retried_on_500_until_accepted_and_bounded(
    stack_factory: StackFactory, receiver: Receiver
) -> None:
    stack = await stack_factory(webhook_backoff_s=0.05, webhook_attempts=3)
    task_id = await _waiting_for_step(stack)
    source = f"{stack.base}tasks/{task_id}/"
    receiver.fail = {"/flaky": 2, "/down": -1}  # -1: always 500
    await _subscribe(stack, task_id, receiver.base + "/flaky", "status")
    await _subscribe(stack, task_id, receiver.base + "/down", "details")
    await _subscribe(stack, task_id, receiver.base + "/all", None)
    await _subscribe(stack, task_id, receiver.base + "/gone", "status")
    await _subscribe(stack, task_id, receiver.base + "/gone", "status", command="unsubscribe")

    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
        assert resp.status == 200

    flaky = await receiver.wait("/flaky", 3)
    assert flaky == [("status", source, 500), ("status", source, 500), ("status", source, 200)]
    all_events = await receiver.wait("/all", kinds={"status", "details"})
    assert {("status", source, 200), ("details", source, 200)} <= set(all_events)
    await _dispatched(stack)
    assert receiver.of("/down") == [("details", source, 500)] * 3  # bounded: gave up after 3
    assert receiver.of("/gone") == []
    assert len(receiver.of("/flaky")) == 3


async def test_steps_events_of_a_multi_step_task(
    stack_factory: StackFactory, receiver: Receiver
) -> None:
    stack = await stack_factory(webhook_backoff_s=0.05)
    task_id = await _waiting_for_step(stack)
    await _subscribe(stack, task_id, receiver.base + "/steps", "steps")
    await _subscribe(stack, task_id, receiver.base + "/status", "status")
    doc = await stack.task(task_id)
    async with stack.http.post(doc["steps"][0]["href"], data={"inputStr": "second"}) as resp:
        assert resp.status == 200  # followed the 303 to the task
    [status] = await receiver.wait("/status", 1)
    assert status[0] == "status"
    final = await stack.task(task_id)
    assert final["status"] == "SUCCESS"  # the webhook fired after SQL showed the result
    await _dispatched(stack)
    assert [event for event, _, _ in receiver.of("/steps")] == ["steps"]


async def test_stop_interrupts_the_backoff(stack_factory: StackFactory, receiver: Receiver) -> None:
    stack = await stack_factory(webhook_backoff_s=60.0)
    task_id = await _waiting_for_step(stack)
    receiver.fail = {"/down": -1}
    await _subscribe(stack, task_id, receiver.base + "/down", "status")
    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
        assert resp.status == 200
    await receiver.wait("/down", 1)
    # the dispatcher hands the event back (nak) instead of sitting out the 60 s backoff
    await asyncio.wait_for(stack.close(), 15)
    assert len(receiver.of("/down")) == 1


def test_every_event_kind_is_mapped() -> None:
    """Only terminal and step events fire webhooks; a new kind must be decided on here."""
    classes = typing.get_args(typing.get_args(TaskEvent)[0])
    assert {c.model_fields["kind"].default for c in classes} == set(EventKind)
    firing = {
        c.model_fields["kind"].default for c in classes if upstream_kinds(c.model_construct())
    }
    assert firing == {
        EventKind.SUCCEEDED,
        EventKind.FAILED,
        EventKind.CANCELLED,
        EventKind.STEP_REQUESTED,
        EventKind.STEP_SUBMITTED,
    }


async def test_tasks_without_subscriptions_make_no_jobs(stack: Stack, receiver: Receiver) -> None:
    plain = await stack.submit("hello-world@v0-2-1", inputStr="input")
    await stack.finished(plain)
    await _dispatched(stack)
    assert await _jobs_ever(stack) == 0  # the webhook side never saw its 4 events

    watched = await _waiting_for_step(stack)
    await _subscribe(stack, watched, receiver.base + "/hook", "status")
    async with stack.http.post(f"{stack.base}tasks/{watched}/cancel") as resp:
        assert resp.status == 200
    await receiver.wait("/hook", kinds={"status"})
    await _dispatched(stack)
    assert await _jobs_ever(stack) == 1  # cancelled; its earlier step event had no subscriber


async def test_a_rebuild_fires_no_webhook_again(stack: Stack, receiver: Receiver) -> None:
    task_id = await _waiting_for_step(stack)
    await _subscribe(stack, task_id, receiver.base + "/hook", None)
    async with stack.http.post(f"{stack.base}tasks/{task_id}/cancel") as resp:
        assert resp.status == 200
    await receiver.wait("/hook", kinds={"status", "details"})
    await _dispatched(stack)
    calls, jobs = list(receiver.calls), await _jobs_ever(stack)
    before = await stack.task(task_id)

    engine = create_engine(stack.database_url)
    nc = await nats.connect(stack.nats_url)
    try:
        assert await reset_projection(nc.jetstream(), engine, replicas=1) > 0
        await _dispatched(stack)  # every event replayed into SQL
        assert await stack.task(task_id) == before
        assert await _jobs_ever(stack) == jobs
        assert receiver.calls == calls

        # the boundary survives `qhana streams apply`, which updates the consumer
        await apply_streams(nc.jetstream())
        info = await nc.jetstream().consumer_info(subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE)
        assert REPLAY_METADATA in (info.config.metadata or {})

        # a task finished after the rebuild fires again
        later = await _waiting_for_step(stack)
        await _subscribe(stack, later, receiver.base + "/later", "status")
        async with stack.http.post(f"{stack.base}tasks/{later}/cancel") as resp:
            assert resp.status == 200
        await receiver.wait("/later", kinds={"status"})
    finally:
        await nc.close()
        await engine.dispose()


async def test_the_consumer_of_earlier_versions_is_retired(stack: Stack) -> None:
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        old = ConsumerConfig(durable_name=subjects.WEBHOOKS_DURABLE)
        await js.add_consumer(subjects.EVENTS_STREAM, old)
        await prepare_webhooks(js, replicas=1)
        with pytest.raises(NotFoundError):
            await js.consumer_info(subjects.EVENTS_STREAM, subjects.WEBHOOKS_DURABLE)
        await js.consumer_info(subjects.WEBHOOKS_STREAM, subjects.WEBHOOKS_DURABLE)
    finally:
        await nc.close()
