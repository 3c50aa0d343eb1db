"""Announce the plugin set, beat the heart, withdraw on graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from nats.aio.client import Client

from qhana.bus import subjects
from qhana.logging import get_logger
from qhana.wire import Announce, Heartbeat, LoadError, PluginInfo, Withdraw

__all__ = ["Presence"]

log = get_logger("qhana.worker.presence")


class Presence:
    """The runner's voice towards the registry."""

    def __init__(
        self,
        nc: Client,
        *,
        runner_id: str,
        queues: list[str],
        interval_s: float,
        running: Callable[[], int],
    ) -> None:
        self._nc = nc
        self._runner_id = runner_id
        self._queues = queues
        self._interval_s = interval_s
        self._running = running
        self._announce_seq: int | None = None

    async def announce(self, plugins: list[PluginInfo], errors: list[LoadError]) -> None:
        message = Announce(
            runner_id=self._runner_id,
            queues=self._queues,
            plugins=plugins,
            load_errors=errors,
            heartbeat_interval_s=self._interval_s,
            sent_at=datetime.now(UTC),
        )
        ack = await self._nc.jetstream().publish(
            subjects.announce(self._runner_id), message.model_dump_json().encode()
        )
        self._announce_seq = int(ack.seq)
        log.info("runner.announced", runner_id=self._runner_id, plugins=len(plugins))

    async def beat_forever(self) -> None:
        while True:
            beat = Heartbeat(
                runner_id=self._runner_id,
                sent_at=datetime.now(UTC),
                running=self._running(),
                announce_seq=self._announce_seq,
            )
            with contextlib.suppress(Exception):
                await self._nc.publish(
                    subjects.heartbeat(self._runner_id), beat.model_dump_json().encode()
                )
            await asyncio.sleep(self._interval_s)

    async def withdraw(self, reason: str = "shutdown") -> None:
        message = Withdraw(runner_id=self._runner_id, sent_at=datetime.now(UTC), reason=reason)
        try:
            await self._nc.jetstream().publish(
                subjects.withdraw(self._runner_id), message.model_dump_json().encode(), timeout=2
            )
        except Exception as exc:
            log.warning("runner.withdraw_failed", error=str(exc))
