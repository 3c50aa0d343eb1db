"""The edge's cache of recent task events: SSE of a fresh task needs no JetStream round trip.

One ordered push consumer follows every task event (``QHANA_EVENTS``, deliver new). An
ordered consumer is gap-free and in stream order, so the cache sees exactly what JetStream
stored, once, with the stream sequences that the SSE ``id:`` lines carry.

Coverage, the correctness core. After the consumer exists, the cache reads the last
sequence L0 of ``QHANA_TASKS``. A task id is the stream sequence of the task's command, so
a task with id > L0 was submitted after the consumer existed, and every event of it (the
edge's ``accepted`` follows the command's ack; worker events follow the worker's fetch) is
stored after that too: the cache sees all of them. Tasks with id <= L0 are never served
from here. An entry is created by a task's ``accepted`` event (one per task: JetStream
dedupes it by message id) unless the id is tainted, or by any other event of an id above
every id ever tainted (a fast worker's ``started``, which carries a copy of ``accepted``,
is often stored before the edge's ``accepted``: the worker starts the moment the command is
stored, the edge publishes ``accepted`` once the command's ack is back). Any other event
of a task without an entry taints the id, and eviction or an unreadable event taints it
too. So an entry holds every event of its task from the first, and an evicted or dropped
entry is never re-created: not by ``accepted`` (stored on its own once per task) and not
by a later event (its id is at most the highest tainted one).
Everything else (a miss) is served from JetStream as before.

The cache is lazy: the first SSE request starts it (and is served from JetStream), it
stops itself after ``IDLE_S`` without SSE requests or listeners. Whenever it may have lost
track (reconnect, a gap in the sequences, a stalled consumer, an error) it clears itself;
its listeners then get ``HANDOVER`` and continue from JetStream after the last event they
wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Final

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext

from qhana.bus import subjects
from qhana.bus.acks import stream_seq
from qhana.bus.direct import deliver_directly
from qhana.logging import get_logger
from qhana.wire import TERMINAL_KINDS, EventKind

__all__ = ["HANDOVER", "EventBook", "EventCache", "Listener", "StoredEvent"]

log = get_logger("qhana.edge")

# Knobs, deliberately module constants rather than settings: they only trade edge memory
# against hit rate, and a miss is always served correctly from JetStream.
MAX_ENTRIES = 2048  # tasks kept (finished ones are evicted first)
MAX_BYTES = 16 * 1024 * 1024  # event payload bytes kept (inline outputs may be 64 KiB)
TAINTED_IDS = 4096  # task ids remembered as "not from the cache"
IDLE_S = 60.0  # stop following after this long without an SSE request or listener
CHECK_S = 1.0  # watchdog period: idleness, reconnects, a stalled consumer
RETRY_S = 5.0  # after a failed start, the next start is tried no sooner than this
# A client may ask for a task's events before the cache got its first event (the
# 303 and the push delivery race); for an id above every task seen so far the request waits
# this long for it (an unknown id pays it once before the usual 404 from JetStream).
FIRST_EVENT_WAIT_S = 0.002

StoredEvent = tuple[int, bytes]
"""Stream sequence in ``QHANA_EVENTS`` and the event's JSON."""

HANDOVER: Final[StoredEvent] = (0, b"")
"""Queued to a listener whose task the cache no longer follows: continue from JetStream."""

_ACCEPTED = EventKind.ACCEPTED.value
_ALL_TASK_EVENTS = subjects.event(0).rpartition(".")[0] + ".*"  # the stream's own subjects


@dataclass(slots=True, eq=False)
class _Entry:
    events: list[StoredEvent] = field(default_factory=list)
    listeners: set[asyncio.Queue[StoredEvent]] = field(default_factory=set)
    size: int = 0


class EventBook:
    """The bookkeeping, without NATS: which tasks are covered, their events, their listeners."""

    def __init__(
        self,
        first_id: int,
        *,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BYTES,
        tainted_ids: int = TAINTED_IDS,
    ) -> None:
        self.first_id = first_id  # tasks with an id above it are covered
        self.highest_id = first_id  # highest task id with an entry so far
        self.size = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._max_tainted_ids = tainted_ids
        self._entries: dict[int, _Entry] = {}  # in creation order
        self._finished: dict[int, None] = {}  # in finishing order
        self._tainted: dict[int, None] = {}  # oldest first
        self._max_tainted = 0  # highest id ever tainted (unlike the set, never forgotten)

    def __len__(self) -> int:
        return len(self._entries)

    def may_come(self, task_id: int) -> bool:
        """Covered, but its first event may not have been delivered yet."""
        return task_id > self.highest_id and task_id not in self._tainted

    def __contains__(self, task_id: int) -> bool:
        return task_id in self._entries

    def add(self, task_id: int, seq: int, kind: str | None, data: bytes) -> None:
        """One stored event, in stream order (``kind`` None: unreadable, the task is dropped)."""
        if task_id <= self.first_id:
            return
        entry = self._entries.get(task_id)
        if entry is None or kind is None:
            if kind is not None and (
                task_id > self._max_tainted or (kind == _ACCEPTED and task_id not in self._tainted)
            ):
                entry = self._entries[task_id] = _Entry()
                self.highest_id = max(self.highest_id, task_id)
            else:
                self.taint(task_id)
                return
        entry.events.append((seq, data))
        entry.size += len(data)
        self.size += len(data)
        for queue in entry.listeners:
            queue.put_nowait((seq, data))
        if kind in TERMINAL_KINDS:
            self._finished.setdefault(task_id, None)
        self._evict()

    def taint(self, task_id: int) -> None:
        """Never serve this task from here (drops its entry; its listeners are handed over)."""
        entry = self._entries.pop(task_id, None)
        if entry is not None:
            self._finished.pop(task_id, None)
            self.size -= entry.size
            for queue in entry.listeners:
                queue.put_nowait(HANDOVER)
        self._tainted[task_id] = None
        self._max_tainted = max(self._max_tainted, task_id)
        if len(self._tainted) > self._max_tainted_ids:
            del self._tainted[next(iter(self._tainted))]

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries or self.size > self._max_bytes:
            victim = next(iter(self._finished), None)
            self.taint(next(iter(self._entries)) if victim is None else victim)

    def listen(self, task_id: int) -> asyncio.Queue[StoredEvent] | None:
        """A queue with every event of the task so far, then the live ones (None: a miss)."""
        entry = self._entries.get(task_id)
        if entry is None:
            return None
        queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
        for event in entry.events:  # no await between the copy and registering: no gap
            queue.put_nowait(event)
        entry.listeners.add(queue)
        return queue

    def unlisten(self, task_id: int, queue: asyncio.Queue[StoredEvent]) -> None:
        entry = self._entries.get(task_id)
        if entry is not None:
            entry.listeners.discard(queue)

    def clear(self) -> None:
        """Forget everything; every listener is handed over to JetStream."""
        for task_id in list(self._entries):
            self.taint(task_id)
        self._tainted.clear()


@dataclass(slots=True, eq=False)
class Listener:
    """An SSE stream served from the cache; ``close()`` (or ``with``) unregisters it."""

    task_id: int
    queue: asyncio.Queue[StoredEvent]
    _cache: EventCache
    _closed: bool = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cache._unlisten(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _parsed(msg: Msg) -> tuple[int, str | None] | None:
    """Task id and kind of a stored event (None: not a task event at all)."""
    token = msg.subject.rsplit(".", 1)[-1]
    if not token.isdigit():
        return None
    try:
        kind = orjson.loads(msg.data)["kind"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        kind = None
    return int(token), kind if isinstance(kind, str) else None


class EventCache:
    """Recent task events of this edge, followed only while SSE clients are around."""

    def __init__(
        self,
        nc: Client,
        *,
        enabled: bool = True,
        idle_s: float = IDLE_S,
        check_s: float = CHECK_S,
    ) -> None:
        self._nc = nc
        self._enabled = enabled  # False: every request is a miss, nothing is followed
        self._idle_s = idle_s
        self._check_s = check_s
        self.book: EventBook | None = None  # None: not serving (off or starting)
        self.hits = 0
        self.misses = 0
        self._listeners = 0
        self._last_request = 0.0
        self._generation = 0  # bumped by every start and stop: late messages are dropped
        self._pending: list[Msg] | None = None  # messages delivered before L0 was known
        self._last_seq = 0  # stream sequence of the last event delivered (0: none yet)
        self._floor = 0  # every event above this sequence must be delivered to us
        self._sub: JetStreamContext.PushSubscription | None = None
        self._starting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._retry_at = float("-inf")
        self._reconnects = 0
        self._background: set[asyncio.Task[None]] = set()
        self._waiters: dict[int, asyncio.Future[None]] = {}  # task id -> its entry exists

    @property
    def active(self) -> bool:
        return self.book is not None

    @property
    def following(self) -> bool:
        """Started or starting (an ordered consumer exists or is being created)."""
        return self.book is not None or self._starting is not None

    async def listen(self, task_id: int) -> Listener | None:
        """Serve this task's SSE from the cache (None: from JetStream). Starts the cache."""
        if not self._enabled:
            self.misses += 1
            return None
        loop = asyncio.get_running_loop()
        self._last_request = loop.time()
        book = self.book
        if book is None:
            if self._starting is None and loop.time() >= self._retry_at:
                self._starting = loop.create_task(self._start())
            self.misses += 1
            return None
        queue = book.listen(task_id)
        if queue is None and book.may_come(task_id):
            await self._first_event(task_id)
            book = self.book
            queue = book.listen(task_id) if book is not None else None
        if queue is None:
            self.misses += 1
            return None
        self.hits += 1
        self._listeners += 1
        return Listener(task_id, queue, self)

    async def _first_event(self, task_id: int) -> None:
        """Wait (``FIRST_EVENT_WAIT_S`` at most) until the task has an entry."""
        waiter = self._waiters.get(task_id)
        if waiter is None:
            waiter = self._waiters[task_id] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), FIRST_EVENT_WAIT_S)
        except TimeoutError:
            pass
        finally:
            if self._waiters.get(task_id) is waiter:  # (a 404 probe leaves nothing behind)
                del self._waiters[task_id]

    def _wake(self, task_id: int | None = None) -> None:
        """Wake the requests waiting for this task (None: all of them)."""
        ids = list(self._waiters) if task_id is None else [task_id]
        for waiting in ids:
            waiter = self._waiters.pop(waiting, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _unlisten(self, listener: Listener) -> None:
        self._listeners -= 1
        self._last_request = asyncio.get_running_loop().time()
        if self.book is not None:
            self.book.unlisten(listener.task_id, listener.queue)

    async def _start(self) -> None:
        self._generation += 1
        generation = self._generation
        self._pending = []
        self._reconnects = self._nc.stats["reconnects"]  # any later reconnect stops us
        js = self._nc.jetstream()

        def _deliver(msg: Msg) -> None:
            if generation == self._generation:
                self._on_msg(msg)

        async def _on_msg(msg: Msg) -> None:  # used only where deliver_directly cannot
            _deliver(msg)

        sub: JetStreamContext.PushSubscription | None = None
        try:
            sub = await js.subscribe(
                _ALL_TASK_EVENTS,
                stream=subjects.EVENTS_STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
                cb=_on_msg,
            )
            deliver_directly(sub, _deliver)
            # read only now that the consumer exists: tasks above L0 are covered
            tasks, events = await asyncio.gather(
                js.stream_info(subjects.TASKS_STREAM), js.stream_info(subjects.EVENTS_STREAM)
            )
        except BaseException as exc:
            if sub is not None:
                self._background_unsubscribe(sub)
            if not isinstance(exc, Exception):
                raise  # cancelled by close()
            self._retry_at = asyncio.get_running_loop().time() + RETRY_S
            if generation == self._generation:
                self._stop("start failed: " + (str(exc) or type(exc).__name__))
            return
        finally:
            self._starting = None
        if generation != self._generation:  # stopped meanwhile
            self._background_unsubscribe(sub)
            return
        book = EventBook(tasks.state.last_seq)
        self._sub = sub
        pending, self._pending = self._pending or [], None
        self._floor = events.state.last_seq  # the watchdog checks that all later ones come
        self.book = book
        for msg in pending:
            self._on_msg(msg)
        self._watchdog = asyncio.get_running_loop().create_task(self._watch(generation))
        log.info("edge.event_cache_on", first_task_id=book.first_id)

    def _on_msg(self, msg: Msg) -> None:
        seq = stream_seq(msg)
        if self._pending is not None:
            self._pending.append(msg)
            return
        book = self.book
        if book is None:
            return
        # QHANA_EVENTS holds task events only: consecutive deliveries are consecutive
        # sequences, unless a message was lost (e.g. dropped as a slow consumer)
        if self._last_seq and seq != self._last_seq + 1:
            self._stop("gap in the event stream")
            return
        self._last_seq = seq
        parsed = _parsed(msg)
        if parsed is not None:
            book.add(parsed[0], seq, parsed[1], msg.data)
            if self._waiters and parsed[0] in book:
                self._wake(parsed[0])

    async def _watch(self, generation: int) -> None:
        js = self._nc.jetstream()
        loop = asyncio.get_running_loop()
        expected = 0  # the stream's last sequence one check ago: must have reached us by now
        while generation == self._generation:
            await asyncio.sleep(self._check_s)
            if generation != self._generation:
                return
            if self._nc.stats["reconnects"] != self._reconnects:
                self._stop("NATS reconnected")  # (once it is back: listeners go on from there)
                return
            if not self._nc.is_connected:
                expected = 0  # nothing can come now; a reconnect stops us anyway
                continue
            if not self._listeners and loop.time() - self._last_request > self._idle_s:
                self._stop("idle")
                return
            if max(self._last_seq, self._floor) < expected:
                self._stop("the ordered consumer stalled")
                return
            try:
                expected = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
            except Exception as exc:
                if generation == self._generation:
                    self._stop("stream info failed: " + (str(exc) or type(exc).__name__))
                return

    def stop(self, reason: str = "requested") -> None:
        """Stop following now (the next SSE request starts it again)."""
        self._stop(reason)

    def _stop(self, reason: str) -> None:
        """Stop following and forget everything; listeners continue from JetStream."""
        self._generation += 1
        book, self.book = self.book, None
        self._pending = None
        self._last_seq = self._floor = 0
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
        sub, self._sub = self._sub, None
        if sub is not None:
            self._background_unsubscribe(sub)
        self._wake()
        if book is not None:
            log.info("edge.event_cache_off", reason=reason, hits=self.hits, misses=self.misses)
            book.clear()
        elif reason != "closed":
            log.warning("edge.event_cache_off", reason=reason)

    def _background_unsubscribe(self, sub: JetStreamContext.PushSubscription) -> None:
        async def _unsubscribe() -> None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

        task = asyncio.get_running_loop().create_task(_unsubscribe())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        starting = self._starting
        if starting is not None:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        self._stop("closed")
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
