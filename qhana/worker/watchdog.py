"""Notice when something blocks the worker's event loop (an async handler that never awaits).

Sync handlers run in the pool and cannot block the loop; an ``async def`` handler that calls
blocking code (``time.sleep``, a long numpy computation, ``requests.get``) stalls every task,
the heartbeats and the keep-alives of this worker. The watchdog measures how late its own
timer fires and logs ``worker.loop_blocked`` with the plugins running at that moment, so the
culprit is named in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from qhana.logging import get_logger

__all__ = ["watch_loop"]

log = get_logger("qhana.worker.watchdog")


async def watch_loop(
    running: Callable[[], list[str]],
    *,
    interval_s: float = 0.25,
    threshold_s: float = 1.0,
) -> None:
    """Run until cancelled; warn whenever the loop was blocked longer than ``threshold_s``."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        lag_s = loop.time() - started - interval_s
        if lag_s > threshold_s:
            log.warning(
                "worker.loop_blocked",
                lag_s=round(lag_s, 3),
                running=running(),
                hint="an async handler blocks: make it a plain def (runs in the pool) "
                "or use asyncio.to_thread",
            )
