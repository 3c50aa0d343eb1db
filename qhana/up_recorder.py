"""``qhana up``'s helper recorder: a second process for the recorder while it lags behind.

The one process of ``qhana up`` runs the edge, the worker and the recorder on one core (one
GIL). Under a burst, the recorder's SQL projection falls behind the edge and the worker and
they take turns on that core. When the in-process recorder sees at least
``QHANA_UP_RECORDER_HELPER_BACKLOG`` events waiting, this starts ``qhana recorder
--settings-stdin --helper-idle-exit`` (the same settings, the same SQL database) on the
machine's other core. It shares the recorder's durable consumer (two recorders are safe:
the projection is idempotent and order-tolerant), and once it is ready the in-process
recorder pauses until the helper has exited. The helper exits by itself after
``IDLE_EXIT_S`` without events, so an idle ``qhana up`` is one process again. It sends
the tasks it saw finish to this process (``subjects.UP_FINISHED``), whose ``/metrics``
counts them as its own.

A helper that fails (exits with an error or is not ready within ``READY_TIMEOUT_S``) is not
tried again for ``RETRY_S``; the in-process recorder goes on meanwhile, as without helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg

from qhana.bus import subjects
from qhana.logging import get_logger
from qhana.metrics import Metrics
from qhana.settings import Settings
from qhana.up_workers import spawn_child, terminate

__all__ = ["READY_LINE", "RecorderHelper"]

log = get_logger("qhana.up")

READY_LINE = b"qhana recorder helper ready"
IDLE_EXIT_S = 20.0  # the helper exits after this long without an event
READY_TIMEOUT_S = 30.0
RETRY_S = 60.0  # after a failed helper, no new one for this long


class RecorderHelper:
    """Starts, watches and stops the helper process; the in-process recorder's gate."""

    def __init__(self, settings: Settings, nc: Client, metrics: Metrics | None) -> None:
        self._settings = settings
        self._nc = nc
        self._metrics = metrics
        self._backlog = settings.up_recorder_helper_backlog
        self._stop = asyncio.Event()
        self._helper: asyncio.Task[None] | None = None
        self._over = asyncio.Event()  # set while no helper serves
        self._over.set()
        self._retry_at = float("-inf")

    @property
    def serving(self) -> bool:
        """A helper is ready and projects: the in-process recorder pauses."""
        return not self._over.is_set()

    def note_backlog(self, waiting: int) -> None:
        """The in-process recorder began a batch with ``waiting`` events waiting."""
        if (
            self._backlog <= 0
            or waiting < self._backlog
            or self._helper is not None
            or self._stop.is_set()
            or asyncio.get_running_loop().time() < self._retry_at
        ):
            return
        self._helper = asyncio.get_running_loop().create_task(self._run_helper(waiting))

    async def wait_over(self, stop: asyncio.Event) -> None:
        """Until no helper serves any more (or ``stop``)."""
        over, stopping = (
            asyncio.ensure_future(self._over.wait()),
            asyncio.ensure_future(stop.wait()),
        )
        try:
            await asyncio.wait({over, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            over.cancel()
            stopping.cancel()

    async def run(self, stop: asyncio.Event) -> None:
        """Count what helpers report as finished; on ``stop``, stop a running helper."""
        sub = await self._nc.subscribe(subjects.UP_FINISHED, cb=self._on_finished)
        try:
            await stop.wait()
        finally:
            self._stop.set()
            helper = self._helper
            if helper is not None:
                with contextlib.suppress(Exception):
                    await helper
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _on_finished(self, msg: Msg) -> None:
        if self._metrics is None:
            return
        try:
            rows = orjson.loads(msg.data)
            for task_id, plugin, status, duration_s in rows:
                self._metrics.task_finished(int(task_id), str(plugin), str(status), duration_s)
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            log.warning("up.recorder_helper_bad_report", error=str(exc))

    async def _run_helper(self, waiting: int) -> None:
        loop = asyncio.get_running_loop()
        ok = False
        proc: asyncio.subprocess.Process | None = None
        try:
            proc = await self._spawn()
            log.info("up.recorder_helper_started", pid=proc.pid, waiting=waiting)
            exited = asyncio.ensure_future(proc.wait())
            if await self._ready(proc, exited):
                self._over.clear()
                log.info("up.recorder_helper_serving", pid=proc.pid)
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not exited.done():
                await terminate(proc, exited, "recorder_helper")
            ok = proc.returncode == 0 or self._stop.is_set()
            log.info("up.recorder_helper_exited", pid=proc.pid, returncode=proc.returncode)
        except Exception as exc:
            log.warning("up.recorder_helper_failed", error=str(exc))
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()  # a helper we cannot watch must not record on its own
        finally:
            self._over.set()
            self._helper = None
            if not ok:
                self._retry_at = loop.time() + RETRY_S

    async def _spawn(self) -> asyncio.subprocess.Process:
        args = ["recorder", "--helper-idle-exit", str(IDLE_EXIT_S)]
        return await spawn_child(args, self._settings, stdout=asyncio.subprocess.PIPE)

    async def _ready(self, proc: asyncio.subprocess.Process, exited: asyncio.Future[int]) -> bool:
        """Wait for the helper's ready line; False if it exits, stalls or ``stop`` comes."""
        assert proc.stdout is not None
        line = asyncio.ensure_future(proc.stdout.readline())
        stopping = asyncio.ensure_future(self._stop.wait())
        waiting: set[asyncio.Future[Any]] = {line, exited, stopping}
        try:
            await asyncio.wait(
                waiting,
                timeout=READY_TIMEOUT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()
        if line.done():
            if line.result().strip() == READY_LINE:
                return True
            with contextlib.suppress(TimeoutError):  # its stdout closed: it is exiting
                await asyncio.wait_for(asyncio.shield(exited), READY_TIMEOUT_S)
        line.cancel()
        if not exited.done() and not self._stop.is_set():
            log.warning("up.recorder_helper_not_ready", pid=proc.pid, after_s=READY_TIMEOUT_S)
            await terminate(proc, exited, "recorder_helper")
        return False


def finished_report(rows: list[tuple[int, str, str, float | None]]) -> bytes:
    """What a helper sends to ``subjects.UP_FINISHED``: id, plugin, status, duration."""
    return orjson.dumps(rows)
