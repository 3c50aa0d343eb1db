"""``qhana registry``: the plugin catalogue in SQL, fed by announce/withdraw/heartbeat events.

Also applies the preloads (env, services, seeds, UI templates) at start, runs the seed
bridge for unmodified upstream runners, records its own uptime and purges plugins that were
unavailable for longer than ``PLUGIN_PURGE_AFTER`` while a registry was watching.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import connect, subjects
from qhana.db.catalogue import (
    mark_dead_runners,
    record_announce,
    record_heartbeats,
    record_withdraw,
    touch_live,
)
from qhana.db.purge import purge_unavailable, session_alive, start_session
from qhana.logging import get_logger
from qhana.registry.preload import apply_preloads
from qhana.registry.seeds import SeedBridge
from qhana.settings import Settings
from qhana.wire import Announce, Heartbeat, Withdraw

__all__ = ["Registry", "run_registry"]

T = TypeVar("T")

BEAT_FLUSH_S = 0.25  # beats are written at most this often (revival, lastAvailable)
RECHECK_S = 1.0  # the sweeper recomputes its next sweep at least this often

log = get_logger("qhana.registry")

TOUCH_S = 5.0  # how often last_available of live plugins and the session clock advance


class Registry:
    """Consumes the runners' voices; one writer, serialised by a lock."""

    def __init__(
        self,
        nc: Client,
        engine: AsyncEngine,
        *,
        missed: int,
        sweep_s: float,
        grace_s: float = 0.0,
        purge_after_s: float | None = None,
        purge_interval_s: float = -1,
    ) -> None:
        self._nc = nc
        self._engine = engine
        self._missed = missed
        self._sweep_s = sweep_s
        self._grace_s = grace_s
        self._purge_after_s = purge_after_s
        self._purge_interval_s = purge_interval_s
        self._beats: dict[str, datetime] = {}
        # the earliest moment a live runner may have missed its beats (None: no live runner),
        # valid while _deadline_known; sweeps before it only buffer beats, so an idle
        # registry writes once per beat flush instead of every sweep, and a death is seen
        # within one sweep of its deadline
        self._deadline: datetime | None = None
        self._deadline_known = False
        self._flushed_at = 0.0
        self._swept_at = -sweep_s
        self._wake = asyncio.Event()  # something moved the next sweep earlier
        self._lock = asyncio.Lock()
        self._writes: set[asyncio.Future[Any]] = set()
        self._session: int | None = None
        self._started = asyncio.get_running_loop().time()

    async def _notify(self) -> None:
        with contextlib.suppress(Exception):
            await self._nc.publish(subjects.REGISTRY_CHANGED, b"")

    async def _settled(self, work: Awaitable[T]) -> T:
        """Run a database write so that cancelling the caller cannot abandon it half-way.

        Unsubscribing cancels a message callback and the stop cancels the periodic tasks;
        a transaction cut off between its statements and its commit/rollback keeps its
        connection checked out and SQLite's write lock held, so every later writer on the
        file (the next ``qhana up`` on the same data dir) fails with "database is locked".
        ``run`` waits for the writes still going when it stops."""
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _on_plugins(self, msg: Msg) -> None:
        await self._settled(self._record_plugins(msg))

    async def _record_plugins(self, msg: Msg) -> None:
        now = datetime.now(UTC)
        try:
            async with self._lock, self._engine.begin() as conn:
                if ".announce." in msg.subject:
                    await record_announce(conn, Announce.model_validate_json(msg.data), now)
                else:
                    withdraw = Withdraw.model_validate_json(msg.data)
                    await record_withdraw(conn, withdraw.runner_id, now)
        except ValidationError as exc:
            log.warning("registry.bad_message", subject=msg.subject, error=str(exc))
            return
        self._deadline_known = False  # a new or withdrawn runner: look at SQL next sweep
        self._wake.set()
        log.info("registry.updated", subject=msg.subject)
        await self._notify()

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = Heartbeat.model_validate_json(msg.data)
        except ValidationError:
            return
        if not self._beats:  # the first beat since a flush: a flush is due in BEAT_FLUSH_S
            self._wake.set()
        self._beats[beat.runner_id] = datetime.now(UTC)

    async def _every(self, period_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                await self._settled(action())
            except Exception as exc:  # the database may be briefly away: try again later
                log.warning("registry.periodic_failed", action=action.__name__, error=str(exc))

    def next_sweep_at(self, loop_now: float) -> float | None:
        """Loop time of the next sweep that has work (None: none until something arrives).

        A sweep is due when the catalogue changed (look at SQL), when the earliest live
        runner's deadline passes, or when buffered beats are ``BEAT_FLUSH_S`` old; sweeps
        are at least ``sweep_s`` apart (a database that is away is retried at that pace).
        Sleeping until then instead of ticking every ``sweep_s`` keeps an idle registry
        at a few wake-ups a second."""
        grace_end = self._started + self._grace_s
        due: list[float] = []
        if not self._deadline_known:
            due.append(grace_end)
        elif self._deadline is not None:
            left_s = (self._deadline - datetime.now(UTC)).total_seconds()
            due.append(max(grace_end, loop_now + left_s))
        if self._beats:
            due.append(self._flushed_at + BEAT_FLUSH_S)
        if not due:
            return None
        return max(min(due), self._swept_at + self._sweep_s)

    async def _sweep_when_due(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            at = self.next_sweep_at(now)
            if at is None or at > now:
                # deadlines are wall-clock times: looked at again at least every
                # RECHECK_S, so a clock step cannot put a death off for longer
                timeout_s = RECHECK_S if at is None else min(at - now, RECHECK_S)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        await self._wake.wait()
                continue
            self._swept_at = now
            try:
                await self._settled(self.sweep())
            except Exception as exc:  # sweep logs its own; this is the unexpected rest
                log.warning("registry.periodic_failed", action="sweep", error=str(exc))

    async def sweep(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        in_grace = loop_now - self._started < self._grace_s
        now = datetime.now(UTC)
        deadline_passed = self._deadline is not None and now >= self._deadline
        due = not in_grace and (not self._deadline_known or deadline_passed)
        flush = bool(self._beats) and loop_now - self._flushed_at >= BEAT_FLUSH_S
        if not (due or flush):
            return
        beats, self._beats = self._beats, {}
        self._flushed_at = loop_now
        revived: list[str] = []
        dead: list[str] = []
        try:
            async with self._lock, self._engine.begin() as conn:
                if beats:
                    revived = await record_heartbeats(conn, beats)
                if not in_grace:
                    dead, self._deadline = await mark_dead_runners(conn, now, self._missed)
                    self._deadline_known = True
        except Exception as exc:  # the database may be briefly away: keep the beats
            self._beats = {**beats, **self._beats}
            log.warning("registry.sweep_failed", error=str(exc))
            return
        for runner_id in dead:
            log.warning("registry.runner_dead", runner_id=runner_id)
        for runner_id in revived:
            log.info("registry.runner_back", runner_id=runner_id)
        if dead or revived:
            await self._notify()

    async def touch(self) -> None:
        """Advance the registry's own clock: session alive, live plugins seen now."""
        now = datetime.now(UTC)
        async with self._lock, self._engine.begin() as conn:
            if self._session is None:
                self._session = await start_session(conn, now)
            await session_alive(conn, self._session, now)
            await touch_live(conn, now)

    async def purge(self) -> None:
        if self._purge_after_s is None:
            return
        await self.touch()
        async with self._lock, self._engine.begin() as conn:
            gone = await purge_unavailable(conn, datetime.now(UTC), self._purge_after_s)
        if gone:
            log.info("registry.purged", plugins=gone)
            await self._notify()

    def _periodic(self) -> list[asyncio.Task[None]]:
        tasks = [
            asyncio.create_task(self._sweep_when_due()),
            asyncio.create_task(self._every(TOUCH_S, self.touch)),
        ]
        if self._purge_after_s is not None and self._purge_interval_s > 0:
            tasks.append(asyncio.create_task(self._every(self._purge_interval_s, self.purge)))
        return tasks

    async def run(self, stop: asyncio.Event) -> None:
        js = self._nc.jetstream()
        try:
            await self.touch()
        except Exception as exc:  # retried by the periodic touch
            log.warning("registry.touch_failed", error=str(exc))
        beats_sub = await self._nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_heartbeat)
        # an ordered consumer replays the last word of every runner, then follows live
        plugins_sub = await js.subscribe(
            "qhana.plugins.>",
            stream=subjects.PLUGINS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            cb=self._on_plugins,
        )
        periodic = self._periodic()
        try:
            await stop.wait()
        finally:
            for task in periodic:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await beats_sub.unsubscribe()
            await plugins_sub.unsubscribe()
            if self._writes:
                await asyncio.gather(*self._writes, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.touch()


async def run_registry(
    settings: Settings,
    engine: AsyncEngine,
    stop: asyncio.Event,
    *,
    nc: Client | None = None,
) -> None:
    own = nc is None
    client = nc or await connect(settings.nats, "qhana-registry", stop=stop)
    bridge_task: asyncio.Task[None] | None = None
    try:
        await apply_preloads(engine, settings)
        registry = Registry(
            client,
            engine,
            missed=settings.missed_heartbeats,
            # a sweep runs when a deadline or a beat flush is due (so "dead after N missed
            # beats" is declared at the Nth missed beat), and at most this often
            sweep_s=min(0.02, settings.heartbeat_interval_s / 10),
            grace_s=1.5 * settings.heartbeat_interval_s,
            purge_after_s=settings.purge_after_s,
            purge_interval_s=settings.plugin_purge_interval,
        )
        bridge_task = asyncio.create_task(SeedBridge(client, engine, settings).run(stop))
        log.info("registry.ready")
        await registry.run(stop)
    finally:
        if bridge_task is not None:
            stop_wait = asyncio.wait_for(bridge_task, 10)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await stop_wait
        if own:
            await client.drain()
