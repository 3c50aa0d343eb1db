"""One keep-alive ticker for every running task message (not one asyncio task per message)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from nats.aio.msg import Msg

__all__ = ["KeepAlive"]


class KeepAlive:
    """Sends ``in_progress`` for every tracked message at least every ``ack_wait / 2``.

    A message is due once ``ack_wait / 3`` has passed since it was tracked or last touched;
    the ticker looks every ``ack_wait / 6``, so no message goes longer than ``ack_wait / 2``
    without a signal and JetStream never redelivers a command that is still running.
    """

    def __init__(self, ack_wait_s: float) -> None:
        self._due_after = ack_wait_s / 3
        self._tick_s = ack_wait_s / 6
        self._touched: dict[int, tuple[Msg, float]] = {}

    def __len__(self) -> int:
        return len(self._touched)

    def track(self, msg: Msg) -> None:
        self._touched[id(msg)] = (msg, time.monotonic())

    def release(self, msg: Msg) -> None:
        self._touched.pop(id(msg), None)

    async def run(self) -> None:
        """Tick until cancelled."""
        while True:
            await asyncio.sleep(self._tick_s)
            await self.touch_due(time.monotonic())

    async def touch_due(self, now: float) -> int:
        """Send ``in_progress`` for the messages due at ``now``; how many were sent."""
        sent = 0
        for key, (msg, last) in list(self._touched.items()):
            if now - last < self._due_after or key not in self._touched:
                continue  # not due, or settled while an earlier in_progress was written
            self._touched[key] = (msg, now)
            with contextlib.suppress(Exception):
                await msg.in_progress()
                sent += 1
        return sent
