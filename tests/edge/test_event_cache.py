"""The edge's cache of recent task events (qhana/edge/event_cache.py).

The bookkeeping (coverage, taint, eviction, listeners) is tested without NATS; the cache
itself against a real stack, through an edge app of the test's own (so its cache can be
inspected): a covered task is served from the cache with the bytes JetStream gives, and
everything the cache does not cover (tainted, submitted before it started, evicted, or a
cache that lost track) still streams every event exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import nats
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from nats.aio.client import Client
from nats.aio.msg import Msg
from support.faults import FAULT_PLUGINS, LOAD, until_listed
from support.roles import run_roles
from support.stack import Stack

from qhana.bus.publish import publish_event
from qhana.edge.app import create_app
from qhana.edge.event_cache import HANDOVER, EventBook, EventCache, StoredEvent
from qhana.edge.keys import EVENT_CACHE, NATS
from qhana.settings import Settings
from qhana.wire import Accepted, LogLine, Progress, Started, Succeeded, TaskEvent

HELLO = "hello-world@v0-2-1"
Client_ = TestClient[web.Request, web.Application]
TIMEOUT_S = 10.0
_fake_ids = count(10**9)  # fabricated tasks: far above every real task id


@pytest.fixture
def database_url() -> None:
    return None  # SQL plays no part in SSE


def _drain(queue: asyncio.Queue[StoredEvent]) -> list[StoredEvent]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


# --- the bookkeeping, without NATS ---------------------------------------------------


def test_only_tasks_above_the_first_id_with_an_accepted_event_get_an_entry() -> None:
    book = EventBook(10)
    book.add(10, 1, "accepted", b"a10")  # submitted before the cache followed: never
    book.add(11, 2, "accepted", b"a11")
    book.add(11, 3, "started", b"s11")
    book.add(10, 4, "started", b"s10")
    assert 10 not in book and 11 in book
    queue = book.listen(11)
    assert queue is not None and _drain(queue) == [(2, b"a11"), (3, b"s11")]
    assert book.listen(10) is None and book.listen(12) is None
    assert book.highest_id == 11 and book.may_come(12) and not book.may_come(11)


def test_a_first_event_other_than_accepted_opens_an_entry_only_above_every_tainted_id() -> None:
    book = EventBook(0)
    book.add(5, 1, "started", b"s")  # a fast worker's started, stored before accepted
    book.add(5, 2, "accepted", b"a")
    book.add(5, 3, "succeeded", b"x")
    listener = book.listen(5)
    assert listener is not None and _drain(listener) == [(1, b"s"), (2, b"a"), (3, b"x")]
    book.add(6, 4, "accepted", b"a")
    book.add(6, 5, None, b"not json")  # unreadable: dropped, never served from here
    book.add(6, 6, "accepted", b"a")
    book.add(6, 7, "progress", b"p")
    assert 6 not in book and not book.may_come(6)
    # at or below a tainted id, only ``accepted`` opens an entry (it comes once per task)
    book.add(4, 8, "started", b"s")
    book.add(4, 9, "accepted", b"a")
    assert 4 not in book
    book.add(3, 10, "accepted", b"a")
    assert 3 in book
    book.add(7, 11, "started", b"s")  # above every tainted id again
    assert 7 in book


def test_eviction_takes_finished_tasks_first_then_the_oldest_and_never_recreates() -> None:
    book = EventBook(0, max_entries=3, max_bytes=1000)
    for task_id in (1, 2, 3):
        book.add(task_id, task_id, "accepted", b"a")
    book.add(2, 10, "succeeded", b"x")
    book.add(4, 11, "accepted", b"a")  # over the count: 2 (finished) goes, not 1
    assert [t for t in (1, 2, 3, 4) if t in book] == [1, 3, 4]
    listener = book.listen(1)
    assert listener is not None
    book.add(5, 12, "accepted", b"a")  # nothing finished: the oldest (1) goes
    assert 1 not in book and _drain(listener)[-1] is HANDOVER
    book.add(1, 13, "accepted", b"a")  # an evicted task never comes back
    book.add(1, 14, "progress", b"p")
    assert 1 not in book
    book.add(6, 15, "accepted", b"x" * 1001)  # over the byte bound on its own
    assert 6 not in book and book.size == sum(len(b"a") for t in (3, 4, 5) if t in book)
    assert len(book) <= 3


def test_a_listener_gets_the_stored_events_then_the_live_ones_once() -> None:
    book = EventBook(0)
    book.add(1, 1, "accepted", b"a")
    book.add(1, 2, "started", b"s")
    queue = book.listen(1)
    assert queue is not None
    book.add(1, 3, "log", b"l")
    book.add(2, 4, "accepted", b"other task")
    book.add(1, 5, "succeeded", b"x")
    assert _drain(queue) == [(1, b"a"), (2, b"s"), (3, b"l"), (5, b"x")]
    book.unlisten(1, queue)
    book.add(1, 6, "log", b"late")
    assert queue.empty()
    again = book.listen(1)
    assert again is not None
    book.clear()  # the cache lost track: every listener continues from JetStream
    assert _drain(again)[-1] is HANDOVER and len(book) == 0 and book.size == 0


def _delivered(task_id: int, seq: int, kind: str) -> Msg:
    """A message as the cache's ordered consumer delivers it (stream sequence in the reply)."""
    reply = f"$JS.ACK.QHANA_EVENTS.cache.1.{seq}.{seq}.0.0"
    data = b'{"kind":"%s"}' % kind.encode()
    return Msg(Client(), subject=f"qhana.events.task.{task_id}", reply=reply, data=data)


async def test_a_gap_in_the_stream_sequences_clears_the_cache() -> None:
    """A lost message (e.g. dropped as a slow consumer) must not leave a task incomplete."""
    cache = EventCache(Client())  # never connected: the messages are handed in directly
    cache.book = EventBook(0)
    for seq, kind in ((10, "accepted"), (11, "started")):
        cache._on_msg(_delivered(5, seq, kind))
    listener = await cache.listen(5)
    assert listener is not None
    cache._on_msg(_delivered(5, 13, "log"))  # 12 never came
    assert not cache.active and _drain(listener.queue)[-1] is HANDOVER


# --- the cache against a real stack ---------------------------------------------------


async def _until(predicate: Callable[[], bool], timeout_s: float = TIMEOUT_S) -> None:
    """Await a condition of the cache (set by its own tasks), checked every few ms."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def _edge(stack: Stack) -> AsyncIterator[tuple[Client_, EventCache]]:
    """An edge app of the test's own on the stack's NATS and SQL (its cache inspectable)."""
    settings = Settings.model_validate(
        {"nats_url": stack.nats_url, "database_url": stack.database_url}
    )
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        yield client, app[EVENT_CACHE]


async def _sse(client: Client_, task_id: int) -> bytes:
    async with client.get(f"/tasks/{task_id}/events") as resp:
        assert resp.status == 200, await resp.text()
        return await asyncio.wait_for(resp.read(), TIMEOUT_S)


def _kinds(body: bytes) -> list[str]:
    return re.findall(r"^event: (\S+)$", body.decode(), re.MULTILINE)


def _ids(body: bytes) -> list[int]:
    return [int(i) for i in re.findall(r"^id: (\d+)$", body.decode(), re.MULTILINE)]


async def _started(client: Client_, cache: EventCache) -> None:
    """The first SSE request (a miss, served from JetStream) starts the cache."""
    async with client.get("/tasks/999999999/events") as resp:
        assert resp.status == 404
    await _until(lambda: cache.active)


@pytest.fixture
async def nc(stack: Stack) -> AsyncIterator[Client]:
    client = await nats.connect(stack.nats_url)
    yield client
    await client.close()


class _Fake:
    """Events of a fabricated task, published like the edge and the workers do."""

    def __init__(self, nc: Client) -> None:
        self.js = nc.jetstream()
        self.task_id = next(_fake_ids)
        self._n = 0

    async def publish(self, make: type[TaskEvent], **fields: object) -> None:
        self._n += 1
        common = {"task_id": self.task_id, "at": datetime.now(UTC), "cmd_seq": self.task_id}
        event_id = f"{self.task_id}.{make.__name__}.{self._n}"
        await publish_event(
            self.js, make.model_validate({**common, "event_id": event_id, **fields})
        )

    def accepted_event(self) -> Accepted:
        """The task's ``accepted``, as the edge builds it (and the worker folds it)."""
        return Accepted(
            task_id=self.task_id,
            at=datetime.now(UTC),
            cmd_seq=self.task_id,
            event_id=f"{self.task_id}.accepted",
            plugin=HELLO,
            plugin_name="hello-world",
            plugin_version="v0.2.1",
            params={},
        )

    async def accepted(self) -> None:
        await publish_event(self.js, self.accepted_event())


async def _from_cache(client: Client_, cache: EventCache, task_id: int) -> bytes:
    """The task's SSE body, served from the cache; JetStream gives the same bytes."""
    await _until(lambda: cache.book is not None and task_id in cache.book)
    hits = cache.hits
    body = await _sse(client, task_id)
    assert cache.hits == hits + 1
    cache.stop()
    assert await _sse(client, task_id) == body  # what JetStream gives
    return body


async def test_a_task_submitted_while_the_cache_follows_is_served_from_it(
    stack: Stack,
) -> None:
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        assert cache.book is not None
        task_id = await stack.submit(HELLO, inputStr="from the cache")
        assert task_id > cache.book.first_id
        await _until(lambda: cache.book is not None and task_id in cache.book)
        hits = cache.hits
        cached = await _sse(client, task_id)
        assert cache.hits == hits + 1
        # first and once: the worker's started carries a copy of the edge's accepted
        kinds = _kinds(cached)
        assert kinds[0] == "accepted" and kinds.count("accepted") == 1, kinds
        assert kinds[-1] == "succeeded", kinds

        cache.stop()  # the next request is served from JetStream (and starts it again)
        misses = cache.misses
        from_jetstream = await _sse(client, task_id)
        assert cache.misses == misses + 1
        assert cached == from_jetstream  # byte for byte


async def test_a_task_submitted_before_the_cache_started_comes_from_jetstream(
    stack: Stack,
) -> None:
    early = await stack.submit(HELLO, inputStr="before")
    await stack.finished(early)
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        assert cache.book is not None and early <= cache.book.first_id
        hits = cache.hits
        body = await _sse(client, early)
        assert cache.hits == hits  # a miss: its events were stored before the cache followed
        assert "accepted" in _kinds(body) and _kinds(body)[-1] == "succeeded"


async def test_a_worker_event_stored_before_accepted_is_served_from_the_cache_too(
    stack: Stack, nc: Client
) -> None:
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        fake = _Fake(nc)
        await fake.publish(Started, attempt=1, runner_id="r")
        await fake.accepted()
        await fake.publish(Succeeded, attempt=1)
        body = await _from_cache(client, cache, fake.task_id)
        assert _kinds(body) == ["started", "accepted", "succeeded"]


async def test_a_folded_accepted_stored_first_is_written_once_and_first(
    stack: Stack, nc: Client
) -> None:
    """The worker's folded event is stored before the edge's accepted: SSE (from the cache
    and from JetStream alike) writes accepted from the fold and skips the edge's copy."""
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        fake = _Fake(nc)
        accepted = fake.accepted_event()
        started = Started(
            task_id=fake.task_id,
            at=accepted.at,
            cmd_seq=fake.task_id,
            attempt=1,
            event_id=f"{fake.task_id}.started",
            runner_id="r",
            accepted=accepted,
        )
        await fake.publish(Succeeded, attempt=1, started=started)
        await publish_event(fake.js, accepted)
        body = await _from_cache(client, cache, fake.task_id)
        assert _kinds(body) == ["accepted", "started", "succeeded"]


async def test_live_events_during_replay_arrive_once_and_in_order(stack: Stack, nc: Client) -> None:
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        fake = _Fake(nc)
        await fake.accepted()
        await _until(lambda: cache.book is not None and fake.task_id in cache.book)

        async def _burst() -> None:
            await fake.publish(Started, attempt=1, runner_id="r")
            for i in range(30):
                await fake.publish(Progress, attempt=1, value=float(i))
                await fake.publish(LogLine, attempt=1, text=f"line {i}")
            await fake.publish(Succeeded, attempt=1)

        hits = cache.hits
        body, _ = await asyncio.gather(_sse(client, fake.task_id), _burst())
        assert cache.hits == hits + 1
        assert _kinds(body) == ["accepted", "started", *["progress", "log"] * 30, "succeeded"]
        ids = _ids(body)
        assert ids == sorted(set(ids))
        cache.stop()
        assert await _sse(client, fake.task_id) == body  # what JetStream gives


async def test_a_listener_of_a_cache_that_lost_track_continues_from_jetstream(
    stack: Stack, nc: Client
) -> None:
    async with _edge(stack) as (client, cache):
        await _started(client, cache)
        fake = _Fake(nc)
        await fake.accepted()
        await fake.publish(Started, attempt=1, runner_id="r")
        await _until(lambda: cache.book is not None and fake.task_id in cache.book)
        async with client.get(f"/tasks/{fake.task_id}/events") as resp:
            assert resp.status == 200 and cache.hits == 1
            lines = [await resp.content.readline() for _ in range(8)]  # two events
            assert _kinds(b"".join(lines)) == ["accepted", "started"]
            client.app[NATS].stats["reconnects"] += 1  # as after a reconnect: cleared
            await _until(lambda: not cache.active)
            await fake.publish(LogLine, attempt=1, text="after the handover")
            await fake.publish(Succeeded, attempt=1)
            rest = await asyncio.wait_for(resp.read(), TIMEOUT_S)
        body = b"".join(lines) + rest
        assert _kinds(body) == ["accepted", "started", "log", "succeeded"]
        assert await _sse(client, fake.task_id) == body  # what JetStream gives


async def test_the_cache_stops_when_idle_and_starts_again_on_demand(
    stack: Stack, nc: Client
) -> None:
    cache = EventCache(nc, idle_s=0.2, check_s=0.02)
    try:
        assert await cache.listen(1) is None and cache.misses == 1  # starts it
        await _until(lambda: cache.active)
        fake = _Fake(nc)
        await fake.accepted()
        await _until(lambda: cache.book is not None and fake.task_id in cache.book)
        listener = await cache.listen(fake.task_id)
        assert listener is not None and cache.hits == 1
        with listener:
            await fake.publish(Started, attempt=1, runner_id="r")
            assert (await asyncio.wait_for(listener.queue.get(), TIMEOUT_S))[1]  # accepted
            assert (await asyncio.wait_for(listener.queue.get(), TIMEOUT_S))[1]  # started
            assert cache.active
        await _until(lambda: not cache.following)
        assert cache.book is None  # nothing kept while idle
        assert await cache.listen(fake.task_id) is None  # the old entry is gone
        await _until(lambda: cache.active)
    finally:
        await cache.close()
    assert not cache.following


async def test_an_open_stream_from_the_cache_survives_a_nats_restart(tmp_path: Path) -> None:
    """The cache cannot know what it missed while NATS was away: it clears itself once NATS
    is back, and the open stream goes on from JetStream after the last event it sent."""
    settings = {"plugin_folders": str(FAULT_PLUGINS), "queue": "faults", "ack_wait_s": 2.0}
    async with run_roles(tmp_path, None, **settings) as roles:
        await until_listed(roles.http, roles.base, LOAD)
        assert roles._edge is not None
        cache = roles._edge.app[EVENT_CACHE]
        async with roles.http.get(f"{roles.base}tasks/999999999/events") as resp:
            assert resp.status == 404
        await _until(lambda: cache.active)
        async with roles.http.post(
            f"{roles.base}plugins/{LOAD}/process/", data={"seconds": "3"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303, await resp.text()
            task_id = int(resp.headers["Location"].split("/")[2])
        await _until(lambda: cache.book is not None and task_id in cache.book)
        async with roles.http.get(f"{roles.base}tasks/{task_id}/events") as resp:
            assert resp.status == 200 and cache.hits == 1
            first = b"".join([await resp.content.readline() for _ in range(4)])
            assert _kinds(first) == ["accepted"]
            await roles.stop_nats()
            await roles.start_nats()
            rest = await asyncio.wait_for(resp.read(), 60)
        body = first + rest
        assert _kinds(body)[-1] == "succeeded", body
        assert _ids(body) == sorted(set(_ids(body)))  # nothing twice
        async with roles.http.get(f"{roles.base}tasks/{task_id}/events") as resp:
            assert await asyncio.wait_for(resp.read(), TIMEOUT_S) == body


async def test_a_disabled_cache_never_follows() -> None:
    """QHANA_SSE_EVENT_CACHE=false: every SSE request is served from JetStream and the edge
    never starts following the event stream (no CPU per event of unwatched tasks)."""
    cache = EventCache(Client(), enabled=False)  # never connected: starting would fail loudly
    assert await cache.listen(7) is None
    assert not cache.following and not cache.active
    assert (cache.hits, cache.misses) == (0, 1)
