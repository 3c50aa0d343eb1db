"""Start-up mistakes are one-line errors (exit 1), not tracebacks: a taken port, a bad
setting, a data folder that cannot be created."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from support.cli import clean_env

from qhana.errors import ConfigError
from qhana.listen import listen
from qhana.settings import load_settings


def _qhana(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qhana", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_setting_names_the_variable(tmp_path: Path) -> None:
    done = _qhana("edge", cwd=tmp_path, env=clean_env(QHANA_HTTP_PORT="abc"))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "qhana: error: invalid settings: QHANA_HTTP_PORT: Input should be a valid integer,"
        " unable to parse string as an integer (got 'abc')"
    ]


def test_a_bad_secret_or_url_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(b'{"database_url": 5, "http_port": "x"}')
    message = str(caught.value)
    assert "database_url: Input should be a valid string (got not shown)" in message
    assert "http_port: Input should be a valid integer" in message and "'x'" in message


def test_a_data_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _qhana(
        "up", "--port", "0", "--data-dir", str(blocker / "data"), cwd=tmp_path, env=clean_env()
    )
    assert done.returncode == 1, done.stderr
    assert f"qhana: error: cannot create the data folder {blocker / 'data'}" in done.stderr
    assert "Traceback" not in done.stderr


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
    with sock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qhana", "up", "--port", str(port)],
            cwd=tmp_path,
            env=clean_env(),
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


def test_a_worker_waiting_for_nats_stops_on_sigterm(tmp_path: Path) -> None:
    """An unreachable NATS is waited for with a warning, and SIGTERM ends the wait."""
    with socket.socket() as closed:  # bound, never listening: nothing answers there
        closed.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{closed.getsockname()[1]}"
        with subprocess.Popen(
            [sys.executable, "-m", "qhana", "worker"],
            cwd=tmp_path,
            env=clean_env(QHANA_NATS_URL=url, QHANA_LOG_FORMAT="json"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            try:
                assert proc.stderr is not None
                for line in proc.stderr:  # ends when the worker exits (the test then fails)
                    if '"nats.waiting"' in line:
                        break
                proc.send_signal(signal.SIGTERM)
                _, rest = proc.communicate(timeout=30)
            finally:
                proc.kill()
    assert proc.returncode == 1, rest
    assert f"qhana: error: stopped while waiting for NATS at {url}" in rest


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+asyncpg://someone:hunter2@127.0.0.1:{port}/x",
            "qhana: error: cannot open the database"
            " postgresql+asyncpg://someone:***@127.0.0.1:{port}/x: ",
        ),
        ("mysql://db/x", "qhana: error: cannot use the database mysql://db/x: ModuleNotFoundError"),
        ("not a url", "qhana: error: cannot parse the database URL"),
    ],
)
def test_a_database_that_cannot_be_used(url: str, expected: str, tmp_path: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = str(closed.getsockname()[1])
        env = clean_env(QHANA_DATABASE_URL=url.format(port=port))
        done = _qhana("db", "upgrade", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(expected.format(port=port)), done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (("up", "--port", "99999"), {}, "argument --port: '99999' is not a port (0..65535"),
        (("up", "--port", "abc"), {}, "argument --port: 'abc' is not a port"),
        (
            ("edge",),
            {"QHANA_HTTP_PORT": "70000"},
            "QHANA_HTTP_PORT: Input should be less than or equal to 65535 (got '70000')",
        ),
    ],
)
def test_a_port_out_of_range(
    args: tuple[str, ...], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    """The OS would take 99999 as 34463 without a word: refused before anything starts."""
    done = _qhana(*args, cwd=tmp_path, env=clean_env(**env))
    assert done.returncode in (1, 2), done.stderr  # 2: argparse's usage error
    assert expected in done.stderr and "Traceback" not in done.stderr
