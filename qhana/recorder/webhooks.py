"""Webhook delivery: task events -> ``POST <webhookHref>?source=<task url>&event=<kind>``.

Consumes the jobs the recorder forwards to ``QHANA_WEBHOOKS`` (durable ``webhooks``): the
events that fire webhooks (spec §1.8) of tasks with subscriptions, each once SQL shows it
(``qhana/recorder/hook_jobs.py``), so a subscriber that GETs the task sees the new state.
Maps each event to the upstream event kinds, looks the subscriptions up in SQL and calls
them. Any failure (connection error, timeout, non-2xx answer) is retried with exponential
backoff up to a bounded number of attempts; a job is acked only when all its deliveries are
done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from qhana.bus import subjects
from qhana.bus.nak import hand_back
from qhana.bus.pull import Puller, pull_batch
from qhana.db.tables import webhooks
from qhana.logging import get_logger
from qhana.wire import (
    Cancelled,
    Failed,
    StepRequested,
    StepSubmitted,
    Succeeded,
    TaskEvent,
    parse_event,
)

__all__ = ["DeliveryPolicy", "WebhookDispatcher", "upstream_kinds"]

log = get_logger("qhana.webhooks")

Poster = Callable[[str, dict[str, str]], Awaitable[int]]
"""POSTs (no body) to a URL with query parameters; returns the HTTP status or raises."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 6
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 5.0

    def delay_s(self, attempt: int) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): backoff, doubling, capped."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


def upstream_kinds(event: TaskEvent) -> tuple[str, ...]:
    """The upstream webhook event kinds an event fires (spec §1.8)."""
    if isinstance(event, Succeeded | Failed | Cancelled):
        return ("status", "details")
    if isinstance(event, StepRequested):
        return ("steps", "details")
    if isinstance(event, StepSubmitted):
        return ("steps",)
    return ()


async def _subscriptions(conn: AsyncConnection, task_id: int, kinds: tuple[str, ...]) -> list[Any]:
    rows = await conn.execute(
        select(webhooks.c.href, webhooks.c.event, webhooks.c.source).where(
            webhooks.c.task_id == task_id,
            or_(webhooks.c.event.is_(None), webhooks.c.event.in_(kinds)),
        )
    )
    return list(rows)


class WebhookDispatcher:
    def __init__(
        self,
        nc: Client,
        engine: AsyncEngine,
        *,
        public_url: str | None = None,
        policy: DeliveryPolicy | None = None,
        poster: Poster | None = None,
    ) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._engine = engine
        self._public_url = public_url.rstrip("/") if public_url else None
        self._policy = policy or DeliveryPolicy()
        self._poster = poster
        self._stop = asyncio.Event()
        self.delivered = 0
        self.given_up = 0

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        puller = await Puller(self._nc, subjects.WEBHOOKS_STREAM, subjects.WEBHOOKS_DURABLE).start()
        log.info("webhooks.ready")
        timeout = aiohttp.ClientTimeout(total=self._policy.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            poster = self._poster or _session_poster(session)
            try:
                while not stop.is_set():
                    try:
                        msgs = await pull_batch(puller, 100, 0.5)
                    except Exception as exc:
                        log.warning("webhooks.fetch_failed", error=str(exc))
                        await asyncio.sleep(0.5)
                        continue
                    await self._handle_batch(msgs, poster)
            finally:
                for msg in await puller.close():  # delivered late: again at once, elsewhere
                    with contextlib.suppress(Exception):
                        await hand_back(msg)

    async def _handle_batch(self, msgs: list[Msg], poster: Poster) -> None:
        """Tasks in parallel; the jobs of one task in order."""
        by_task: dict[str, list[Msg]] = {}
        for msg in msgs:
            by_task.setdefault(msg.subject, []).append(msg)

        async def _in_order(group: list[Msg]) -> None:
            for msg in group:
                await self._handle(msg, poster)

        await asyncio.gather(*(_in_order(group) for group in by_task.values()))

    async def _handle(self, msg: Msg, poster: Poster) -> None:
        try:
            event = parse_event(msg.data)
        except ValidationError:
            await msg.ack()  # the recorder reports malformed events
            return
        kinds = upstream_kinds(event)
        if not kinds:
            await msg.ack()
            return
        try:
            async with self._engine.connect() as conn:
                rows = await _subscriptions(conn, event.task_id, kinds)
        except Exception as exc:
            log.warning("webhooks.db_failed", task_id=event.task_id, error=str(exc))
            await hand_back(msg, 1.0)
            return
        calls = [
            self._deliver(poster, row.href, row.source or self._source(event.task_id), kind)
            for row in rows
            for kind in kinds
            if row.event is None or row.event == kind
        ]
        if calls:
            ticker = asyncio.create_task(_keep_alive(msg))
            try:
                await asyncio.gather(*calls)
            except _Stopping:  # handed back: delivered again when a dispatcher runs next
                log.info("webhooks.handed_back", task_id=event.task_id)
                with contextlib.suppress(Exception):
                    await hand_back(msg)
                return
            finally:
                ticker.cancel()
        await msg.ack()

    def _source(self, task_id: int) -> str:
        return f"{self._public_url or ''}/tasks/{task_id}/"

    async def _deliver(self, poster: Poster, href: str, source: str, kind: str) -> None:
        params = {"source": source, "event": kind}
        bound = log.bind(href=href, event=kind, source=source)
        for attempt in range(1, self._policy.attempts + 1):
            try:
                status = await poster(href, params)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except Exception as exc:
                error = repr(exc)
            if error is None:
                self.delivered += 1
                bound.info("webhook.delivered", attempt=attempt)
                return
            if attempt < self._policy.attempts:
                delay_s = self._policy.delay_s(attempt)
                bound.info("webhook.retry", attempt=attempt, error=error, defer_s=delay_s)
                if await _stopped_within(self._stop, delay_s):
                    raise _Stopping
            else:
                bound.warning("webhook.given_up", attempts=attempt, error=error)
        self.given_up += 1


def _session_poster(session: aiohttp.ClientSession) -> Poster:
    async def _post(href: str, params: dict[str, str]) -> int:
        async with session.post(href, params=params) as resp:
            await resp.read()
            return resp.status

    return _post


class _Stopping(Exception):
    """The dispatcher stops while a delivery waits for its next attempt."""


async def _stopped_within(stop: asyncio.Event, delay_s: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), delay_s)
    except TimeoutError:
        return False
    return True


async def _keep_alive(msg: Msg, every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
