"""``qhana up``'s worker processes: spawned with the up settings, restarted if they die.

With ``QHANA_UP_WORKER_PROCESSES=N`` (default 0: the worker runs inside the ``qhana up``
process) the edge, registry and recorder share one process and N workers run next to it,
so plugin code and the HTTP/SQL side each get a core and a crashing plugin cannot take the
edge down. A child gets the exact
settings over a pipe (``qhana worker --settings-stdin``), logs to the same stderr, dies
with its parent (PDEATHSIG on Linux) and is stopped with SIGTERM, which drains its tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from qhana.bus.embedded import die_with_parent
from qhana.logging import get_logger
from qhana.settings import Settings

__all__ = ["WorkerProcesses", "spawn_child", "terminate"]

log = get_logger("qhana.up")

STOP_TIMEOUT_S = 30.0
MAX_BACKOFF_S = 10.0


class WorkerProcesses:
    """Keeps ``count`` ``qhana worker`` children running until ``stop``."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        self.started = 0  # spawns so far (restarts included)

    def _child_settings(self, index: int) -> Settings:
        if self._count == 1:
            return self._settings
        # each process is a runner of its own in the registry
        return self._settings.model_copy(
            update={"runner_id": f"{self._settings.runner_id}-{index + 1}"}
        )

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._supervise(i, stop) for i in range(self._count)))

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        proc = await spawn_child(["worker"], self._child_settings(index))
        self.started += 1
        log.info("up.worker_spawned", pid=proc.pid, index=index)
        return proc

    async def _supervise(self, index: int, stop: asyncio.Event) -> None:
        backoff_s = 0.5
        while not stop.is_set():
            proc = await self._spawn(index)
            exited = asyncio.ensure_future(proc.wait())
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not exited.done():
                await terminate(proc, exited)
                return
            log.error("up.worker_exited", pid=proc.pid, returncode=proc.returncode, index=index)
            with contextlib.suppress(TimeoutError):  # restart after a pause, unless stopping
                await asyncio.wait_for(stop.wait(), backoff_s)
            backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)


async def spawn_child(
    args: list[str], settings: Settings, *, stdout: int | None = None
) -> asyncio.subprocess.Process:
    """``qhana <args> --settings-stdin`` with ``settings`` on its stdin: a child of ``qhana
    up`` that dies with it and is stopped by it (Ctrl-C reaches ``qhana up`` only, which
    stops its children in order)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qhana",
        *args,
        "--settings-stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=stdout,
        preexec_fn=die_with_parent,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(settings.to_child_json())
    await proc.stdin.drain()
    proc.stdin.close()
    return proc


async def terminate(
    proc: asyncio.subprocess.Process, exited: asyncio.Future[int], what: str = "worker"
) -> None:
    """SIGTERM (a worker drains its running tasks, a recorder acks its batch), SIGKILL after
    ``STOP_TIMEOUT_S``."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(exited), STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning(f"up.{what}_killed", pid=proc.pid, after_s=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await exited
