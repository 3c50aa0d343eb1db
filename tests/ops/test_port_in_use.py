"""A taken port is a one-line error, not a traceback, and leaves nothing running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from qhana.errors import ConfigError
from qhana.listen import listen


@pytest.fixture
def taken_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, int(sock.getsockname()[1])


async def test_listen_names_the_address(taken_port: tuple[socket.socket, int]) -> None:
    from aiohttp import web

    sock, port = taken_port
    with sock:
        runner = web.AppRunner(web.Application())
        await runner.setup()
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port} is already in use"):
            await listen(runner, "127.0.0.1", port)
        assert not runner.sites  # cleaned up


def test_qhana_up_on_a_taken_port(taken_port: tuple[socket.socket, int], tmp_path: Path) -> None:
    sock, port = taken_port
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QHANA_", "PLUGIN_"))}
    with sock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qhana", "up", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert f"qhana: error: 127.0.0.1:{port} is already in use" in stderr
    assert "Traceback" not in stderr
    assert "nats.embedded.ready" in stderr  # it got as far as its nats-server
    _, alive = psutil.wait_procs(_running_in(tmp_path), timeout=10)
    assert not alive  # which went with it


def _running_in(folder: Path) -> list[psutil.Process]:
    """Processes whose working directory is ``folder`` (the embedded nats-server)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if Path(proc.cwd()) == folder:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found
