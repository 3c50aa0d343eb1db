"""Webhook delivery (spec §1.8) from the task event stream, with retries on any failure."""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web
from conftest import StackFactory
from support.consumers import consumer_idle
from support.stack import Stack

from qhana.bus import subjects
from qhana.recorder.webhooks import SILENT_KINDS, DeliveryPolicy, raw_kind, upstream_kinds
from qhana.wire import EventKind, Started, TaskEvent

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
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rec.base = f"http://127.0.0.1:{port}"
    try:
        yield rec
    finally:
        await runner.cleanup()


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
    await consumer_idle(stack.nats_url, subjects.EVENTS_STREAM, subjects.WEBHOOKS_DURABLE)
    return task_id


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
    await consumer_idle(stack.nats_url, subjects.EVENTS_STREAM, subjects.WEBHOOKS_DURABLE)
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
    await consumer_idle(stack.nats_url, subjects.EVENTS_STREAM, subjects.WEBHOOKS_DURABLE)
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


def test_silent_kinds_are_exactly_those_that_fire_no_webhook() -> None:
    classes = typing.get_args(typing.get_args(TaskEvent)[0])
    assert {c.model_fields["kind"].default for c in classes} == set(EventKind)
    for cls in classes:
        silent = upstream_kinds(cls.model_construct()) == ()
        assert (cls.model_fields["kind"].default.value in SILENT_KINDS) is silent, cls


def test_the_kind_prefilter_reads_serialised_events() -> None:
    event = Started(
        task_id=1, at=datetime.now(UTC), cmd_seq=1, attempt=1, event_id="1.started", runner_id="r"
    )
    assert raw_kind(event.model_dump_json().encode()) == "started"
    assert raw_kind(b'{"no": "kind"}') is None
