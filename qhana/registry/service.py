"""``qhana registry``: the plugin catalogue in SQL, fed by announce/withdraw/heartbeat events."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

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
)
from qhana.logging import get_logger
from qhana.settings import Settings
from qhana.wire import Announce, Heartbeat, Withdraw

__all__ = ["Registry", "run_registry"]

log = get_logger("qhana.registry")


class Registry:
    """Consumes the runners' voices; one writer, serialised by a lock."""

    def __init__(self, nc: Client, engine: AsyncEngine, *, missed: int, sweep_s: float) -> None:
        self._nc = nc
        self._engine = engine
        self._missed = missed
        self._sweep_s = sweep_s
        self._beats: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    async def _on_plugins(self, msg: Msg) -> None:
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
        log.info("registry.updated", subject=msg.subject)

    async def _on_heartbeat(self, msg: Msg) -> None:
        try:
            beat = Heartbeat.model_validate_json(msg.data)
        except ValidationError:
            return
        self._beats[beat.runner_id] = datetime.now(UTC)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_s)
            await self.sweep()

    async def sweep(self) -> None:
        beats, self._beats = self._beats, {}
        try:
            async with self._lock, self._engine.begin() as conn:
                if beats:
                    await record_heartbeats(conn, beats)
                dead = await mark_dead_runners(conn, datetime.now(UTC), self._missed)
        except Exception as exc:  # the database may be briefly away: keep the beats
            self._beats = {**beats, **self._beats}
            log.warning("registry.sweep_failed", error=str(exc))
            return
        for runner_id in dead:
            log.warning("registry.runner_dead", runner_id=runner_id)

    async def run(self, stop: asyncio.Event) -> None:
        js = self._nc.jetstream()
        # an ordered consumer replays the last word of every runner, then follows live
        plugins_sub = await js.subscribe(
            "qhana.plugins.>",
            stream=subjects.PLUGINS_STREAM,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            cb=self._on_plugins,
        )
        beats_sub = await self._nc.subscribe(subjects.HEARTBEAT_ALL, cb=self._on_heartbeat)
        sweeper = asyncio.create_task(self._sweep_forever())
        try:
            await stop.wait()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await beats_sub.unsubscribe()
            await plugins_sub.unsubscribe()


async def run_registry(
    settings: Settings,
    engine: AsyncEngine,
    stop: asyncio.Event,
    *,
    nc: Client | None = None,
) -> None:
    own = nc is None
    client = nc or await connect(settings.nats, "qhana-registry")
    try:
        registry = Registry(
            client,
            engine,
            missed=settings.missed_heartbeats,
            sweep_s=min(0.25, settings.heartbeat_interval_s / 2),
        )
        log.info("registry.ready")
        await registry.run(stop)
    finally:
        if own:
            await client.drain()
