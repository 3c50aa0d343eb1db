"""A fresh ``qhana up`` stack as a child process, plus separate ``qhana worker`` processes.

Everything binds to 127.0.0.1 on free ports; the data dir is a temporary folder. The stack
is a real process tree (``qhana up`` + its nats-server child), so start-up times and RSS
are what an operator sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

__all__ = ["BenchStack", "WorkerProc", "start_stack", "start_worker"]

_READY = re.compile(r"qhana ready: (http://\S+/)")
_NATS = re.compile(r"qhana nats: (nats://\S+)")
BENCH_PLUGINS = Path(__file__).parent / "plugins"


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QHANA_", "PLUGIN_"))}
    env.update({"QHANA_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **extra})
    return env


def _tree_sum(pid: int, measure: Callable[[psutil.Process], float]) -> float:
    """``measure`` summed over a process and all its descendants (gone ones count 0)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(proc)
    return total


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    return _tree_sum(pid, lambda proc: proc.memory_info().rss) / (1024 * 1024)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by a process tree."""

    def cpu(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    return _tree_sum(pid, cpu)


@dataclass
class BenchStack:
    """A running ``qhana up`` child process."""

    process: asyncio.subprocess.Process
    base: str
    nats_url: str
    data_dir: Path
    started_at: float
    ready_at: float
    stderr_path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def start_to_ready_s(self) -> float:
        return self.ready_at - self.started_at

    def rss_mib(self) -> float:
        return tree_rss_mib(self.process.pid)

    def cpu_s(self) -> float:
        return tree_cpu_s(self.process.pid)

    def count_status(self, status: str, min_id: int = 0) -> int:
        """Tasks with ``status`` in the stack's SQLite file (read-only, like any SQL reader)."""
        path = self.data_dir / "qhana.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout=2000")
            row = conn.execute(
                "SELECT count(*) FROM tasks WHERE status = ? AND id >= ?", (status, min_id)
            ).fetchone()
        return int(row[0])

    def busy_span_s(self, min_id: int) -> float:
        """Seconds from the first start to the last finish of the tasks from ``min_id`` on,
        by the workers' own event times (what the workers took, without the submit before
        and the poll after)."""
        path = self.data_dir / "qhana.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout=2000")
            first, last = conn.execute(
                "SELECT min(started_at), max(finished_at) FROM tasks WHERE id >= ?", (min_id,)
            ).fetchone()
        span = datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))
        return span.total_seconds()

    def log_count(self, event: str) -> int:
        """Lines of ``qhana up``'s JSON log with this event."""
        needle = f'"event":"{event}"'.encode()
        return sum(needle in line for line in self.stderr_path.read_bytes().splitlines())

    async def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in psutil.Process(self.process.pid).children(recursive=True):
                    child.kill()
            self.process.kill()
            await self.process.wait()


async def _read_announcements(
    proc: asyncio.subprocess.Process, lines: list[str]
) -> tuple[str, str]:
    assert proc.stdout is not None
    nats_url = ""
    while True:
        raw = await proc.stdout.readline()
        if not raw:
            raise RuntimeError("qhana up exited before it was ready")
        line = raw.decode(errors="replace").strip()
        lines.append(line)
        if m := _NATS.search(line):
            nats_url = m.group(1)
        if m := _READY.search(line):
            return nats_url, m.group(1)


async def start_stack(
    data_dir: Path, timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> BenchStack:
    """Start ``qhana up --port 0`` on ``data_dir`` (``env``: extra ``QHANA_*`` settings);
    returns once it printed ``qhana ready``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / "up.log"
    with stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "qhana",
            "up",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=_env(env or {}),
        )
    lines: list[str] = []
    try:
        nats_url, base = await asyncio.wait_for(_read_announcements(proc, lines), timeout_s)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    ready = time.perf_counter()
    return BenchStack(proc, base, nats_url, data_dir, started, ready, stderr_path, lines)


@dataclass
class WorkerProc:
    """A separate ``qhana worker --queue bench`` process."""

    process: asyncio.subprocess.Process
    started_at: float

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout_s)
            except TimeoutError:
                self.process.kill()
        await self.process.wait()


async def start_worker(nats_url: str, runner_id: str, log_path: Path) -> WorkerProc:
    """Spawn a bench worker (CPU-bound plugin, one pool thread: one core per process; a
    queue of sync handlers only takes as many commands as its pool runs, see
    ``qhana.worker.service.task_slots``)."""
    env = _env(
        {
            "QHANA_NATS_URL": nats_url,
            "PLUGIN_FOLDERS": str(BENCH_PLUGINS),
            "QHANA_RUNNER_ID": runner_id,
            "QHANA_SYNC_POOL_SIZE": "1",
        }
    )
    with log_path.open("wb") as err:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "qhana",
            "worker",
            "--queue",
            "bench",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    return WorkerProc(proc, started)
