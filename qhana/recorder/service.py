"""``qhana recorder``: project task events into SQL, in batches, acking only after commit."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import connect, subjects
from qhana.bus.acks import pending, stream_seq
from qhana.bus.nak import hand_back
from qhana.bus.publish import publish_event
from qhana.bus.pull import Puller, pull_batch
from qhana.db.engine import run_write
from qhana.db.projector import apply_events
from qhana.logging import get_logger
from qhana.metrics import Metrics
from qhana.recorder.hook_jobs import HookForwarder, Job, prepare_webhooks, select_jobs
from qhana.recorder.metrics import FinishedRow, count_finished, finished_rows
from qhana.recorder.webhooks import DeliveryPolicy, WebhookDispatcher
from qhana.settings import Settings
from qhana.wire import Failed, TaskCommand, TaskEvent, parse_event

__all__ = ["FinishedSink", "Helper", "Recorder", "run_recorder"]

log = get_logger("qhana.recorder")

# Under load, waiting a moment after the first event of a batch lets it grow: fewer, larger
# transactions (qhana bench: ~20 % more tasks/s). A lone task's batch (a few events) does
# not wait, so a poll after a single task sees it as fast as before; nor does a batch whose
# first event says a backlog fills it anyway (its num_pending).
BUSY_BATCH = 8
LINGER_S = 0.01

FinishedSink = Callable[[list[FinishedRow]], Awaitable[None]]
"""Where a recorder reports the tasks a batch finished (besides, or instead of, metrics)."""


class Helper(Protocol):
    """Another process that records for this recorder while it lags (``qhana up``)."""

    @property
    def serving(self) -> bool:
        """The helper projects: this recorder pauses."""
        ...

    def note_backlog(self, waiting: int) -> None:
        """Events that were waiting as a batch of this recorder began."""
        ...

    async def wait_over(self, stop: asyncio.Event) -> None:
        """Until the helper stopped serving (or ``stop``)."""
        ...


MAX_DELIVERIES = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + subjects.TASKS_STREAM + ".*"


class Recorder:
    def __init__(
        self,
        nc: Client,
        engine: AsyncEngine,
        *,
        batch: int = 500,
        metrics: Metrics | None = None,
        hooks: HookForwarder | None = None,
        helper: Helper | None = None,
        on_finished: FinishedSink | None = None,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._engine = engine
        self._batch = batch
        self.applied = 0
        self._metrics = metrics
        self._hooks = hooks
        self._helper = helper
        self._on_finished = on_finished

    async def run(
        self,
        stop: asyncio.Event,
        *,
        ready: asyncio.Event | None = None,
        idle_exit_s: float | None = None,
    ) -> None:
        """Project until ``stop`` (or, with ``idle_exit_s``, until that long without events)."""
        puller = await Puller(self._nc, subjects.EVENTS_STREAM, subjects.RECORDER_DURABLE).start()
        advisories = await self._nc.subscribe(MAX_DELIVERIES, cb=self._on_max_deliveries)
        if ready is not None:
            ready.set()
        loop = asyncio.get_running_loop()
        last_event = loop.time()
        backoff_s = 0.1
        busy = False
        try:
            while not stop.is_set():
                if self._helper is not None and self._helper.serving:
                    await self._helper.wait_over(stop)  # its pulls are answered meanwhile
                    continue
                try:
                    msgs = await self._next_batch(puller, linger=busy)
                except Exception as exc:
                    log.warning("recorder.fetch_failed", error=str(exc))
                    await asyncio.sleep(backoff_s)
                    continue
                busy = len(msgs) >= BUSY_BATCH
                if not msgs:
                    if idle_exit_s is not None and loop.time() - last_event >= idle_exit_s:
                        log.info("recorder.idle_exit", idle_s=idle_exit_s)
                        break
                    continue
                last_event = loop.time()
                if self._helper is not None:  # events waiting as the batch began
                    self._helper.note_backlog(pending(msgs[0]) + 1)
                if await self._project(msgs):
                    backoff_s = 0.1
                else:
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, 5.0)
            await self._project_stragglers(puller)
        finally:
            await advisories.unsubscribe()
            await puller.close()

    async def _next_batch(self, puller: Puller, *, linger: bool) -> list[Msg]:
        if not linger:
            return await pull_batch(puller, self._batch, 0.5)
        msgs = await pull_batch(puller, 1, 0.5)
        if msgs:
            if pending(msgs[0]) < self._batch - 1:  # a backlog fills the batch at once
                await asyncio.sleep(LINGER_S)
            await puller.probe(self._batch - 1, msgs.append)
        return msgs

    async def _project(self, msgs: list[Msg]) -> bool:
        """Apply a batch in one transaction, forward its webhook jobs, then ack. False on
        trouble (the batch is sent back, to be applied again: idempotent)."""
        batch: list[tuple[TaskEvent, int, bytes]] = []
        for msg in msgs:
            try:
                batch.append((parse_event(msg.data), stream_seq(msg), msg.data))
            except ValidationError as exc:
                log.error("recorder.bad_event", subject=msg.subject, error=str(exc))
        events = [(event, seq) for event, seq, _ in batch]
        hooks = self._hooks is not None
        counts = self._metrics is not None or self._on_finished is not None
        try:
            if len(msgs) < BUSY_BATCH:
                # a few events (one task's, at a low rate): on SQLite one hop to a thread
                # with a plain sqlite3 connection, ~1/3 of the CPU of aiosqlite's hop per
                # cursor call (~0.26 against ~0.87 ms for one event), 3 times per task
                jobs, finished = await run_write(
                    self._engine, _project_batch, events, batch, hooks, counts
                )
            else:
                # on the loop's own thread (aiosqlite hops only for the statements): a
                # thread would hold the GIL for the whole batch and slow the HTTP edge
                async with self._engine.begin() as conn:
                    jobs, finished = await conn.run_sync(
                        _project_batch, events, batch, hooks, counts
                    )
        except Exception as exc:
            log.warning("recorder.db_failed", error=str(exc), batch=len(msgs))
            await _nak_all(msgs)
            return False
        if jobs:
            assert self._hooks is not None
            try:
                await self._hooks.forward(jobs)
            except Exception as exc:
                log.warning("recorder.webhook_jobs_failed", error=str(exc), jobs=len(jobs))
                await _nak_all(msgs)
                return False
        for msg in msgs:
            with contextlib.suppress(Exception):
                await msg.ack()
        self.applied += len(events)
        if self._metrics is not None:
            count_finished(self._metrics, finished)
        if self._on_finished is not None and finished:
            with contextlib.suppress(Exception):
                await self._on_finished(finished)
        await self._notify(events)
        return True

    async def _project_stragglers(self, puller: Puller) -> None:
        """On stop: project events a pull delivered after its client-side wait (a server
        that answered late), so the next recorder does not wait ``ack_wait`` for them."""
        stragglers = await puller.close()
        if stragglers:
            await self._project(stragglers)

    async def _notify(self, events: list[tuple[TaskEvent, int]]) -> None:
        """Tell listeners (SSE, tests, tools) that SQL now reflects these events."""
        newest: dict[int, int] = {}
        for event, seq in events:
            newest[event.task_id] = max(seq, newest.get(event.task_id, 0))
        for task_id, seq in newest.items():
            with contextlib.suppress(Exception):
                await self._nc.publish(subjects.recorded(task_id), str(seq).encode())

    async def _on_max_deliveries(self, msg: Msg) -> None:
        """A poison command: record the task as FAILURE and remove the command."""
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            raw = await self._js.get_msg(subjects.TASKS_STREAM, seq)
            cmd = TaskCommand.model_validate_json(raw.data or b"{}")
        except Exception as exc:
            log.warning("recorder.advisory_unreadable", error=str(exc))
            return
        deliveries = advisory.get("deliveries", "?")
        task_id = cmd.task_id or seq
        reason = (
            f"The task was delivered {deliveries} times without finishing "
            "(the worker crashed or no worker offers the plugin); giving up."
        )
        event = Failed(
            task_id=task_id,
            at=datetime.now(UTC),
            cmd_seq=seq,
            attempt=int(deliveries) if str(deliveries).isdigit() else 0,
            event_id=f"{task_id}.{seq}.max-deliveries",
            reason=reason,
            log=reason,
        )
        await publish_event(self._js, event)
        with contextlib.suppress(Exception):
            await self._js.delete_msg(subjects.TASKS_STREAM, seq)
        log.warning("task.poison", task_id=task_id, plugin=cmd.plugin, deliveries=deliveries)


def _project_batch(
    conn: Connection,
    events: list[tuple[TaskEvent, int]],
    batch: list[tuple[TaskEvent, int, bytes]],
    hooks: bool,
    counts: bool,
) -> tuple[list[Job], list[FinishedRow]]:
    """Project ``events`` (``batch`` without the raw bytes) inside the caller's transaction;
    the webhook jobs of ``batch`` and (``counts``) the rows of the tasks it finished."""
    apply_events(conn, events)
    jobs = select_jobs(conn, batch) if hooks else []
    return jobs, finished_rows(conn, events) if counts else []


async def _nak_all(msgs: list[Msg]) -> None:
    """Send a batch back: redelivered first, in order, once the caller's backoff is over."""
    for msg in msgs:
        with contextlib.suppress(Exception):
            await hand_back(msg)


async def run_recorder(
    settings: Settings,
    engine: AsyncEngine,
    stop: asyncio.Event,
    *,
    nc: Client | None = None,
    metrics: Metrics | None = None,
    helper: Helper | None = None,
    on_finished: FinishedSink | None = None,
    ready: asyncio.Event | None = None,
    idle_exit_s: float | None = None,
) -> None:
    """The recorder and its webhook dispatcher until ``stop`` (``idle_exit_s``: or until
    that long without an event, as ``qhana up``'s helper recorder does)."""
    own = nc is None
    client = nc or await connect(settings.nats, "qhana-recorder", stop=stop)
    try:
        js = client.jetstream()
        await prepare_webhooks(js, replicas=settings.nats.replicas)
        log.info("recorder.ready")
        policy = DeliveryPolicy(
            attempts=settings.webhook_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
        )
        hooks = WebhookDispatcher(client, engine, public_url=settings.public_url, policy=policy)
        hooks_task = asyncio.create_task(hooks.run(stop))
        recorder = Recorder(
            client,
            engine,
            metrics=metrics,
            hooks=HookForwarder(js),
            helper=helper,
            on_finished=on_finished,
        )
        try:
            await recorder.run(stop, ready=ready, idle_exit_s=idle_exit_s)
            stop.set()  # idle: the webhook dispatcher ends its deliveries too
        finally:
            if not stop.is_set():
                hooks_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hooks_task
    finally:
        if own:
            await client.drain()
