"""The real roles, each as its own process with its own NATS user of deploy/nats/accounts.conf.

Init runs as `qhana-admin` (streams apply, db upgrade), then edge, registry, recorder and a
worker run as `qhana <role>` with the environment names the deployment files use. A task
runs end to end (submit, status, output file, SSE, cancel), and neither the server nor a
role may report a single permissions violation.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ._natsserver import running_server
from ._paths import ACCOUNTS_CONF, nats_password_env, password_of

T = TypeVar("T")

ROLES = {
    "registry": ["registry"],
    "recorder": ["recorder"],
    "worker": ["worker", "--queue", "default"],
    "edge": ["edge"],
}
USERS = {
    "registry": "qhana-registry",
    "recorder": "qhana-recorder",
    "worker": "qhana-worker-default",
    "edge": "qhana-edge",
}
START_TIMEOUT_S = 60.0
TASK_TIMEOUT_S = 30.0


@dataclass
class Stack:
    base_url: str
    nats_log: Path
    logs: dict[str, Path] = field(default_factory=dict)

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=10) as response:
            return json.load(response)

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url, path)

    def violations(self) -> list[str]:
        texts = [self.nats_log.read_text(encoding="utf-8")]
        texts += [log.read_text(encoding="utf-8") for log in self.logs.values()]
        return [line for text in texts for line in text.splitlines() if "violation" in line.lower()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def qhana(*args: str) -> list[str]:
    return [sys.executable, "-m", "qhana", *args]


def as_user(env: dict[str, str], user: str) -> dict[str, str]:
    return {**env, "QHANA_NATS__USER": user, "QHANA_NATS__PASSWORD": password_of(user)}


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (OSError, urllib.error.URLError, ValueError):
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_server(ACCOUNTS_CONF, tmp_path, env=nats_password_env()) as nats_url:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "QHANA_NATS_URL": nats_url,
            "QHANA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'qhana.db'}",
            "QHANA_LOG_FORMAT": "json",
        }
        admin = as_user(env, "qhana-admin")
        for step in (["streams", "apply", "--queue", "default"], ["db", "upgrade"]):
            done = subprocess.run(
                qhana(*step), env=admin, cwd=tmp_path, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"qhana {' '.join(step)}:\n{done.stderr}"

        port = free_port()
        stack = Stack(f"http://127.0.0.1:{port}/", tmp_path / "nats-server.log")
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for role, args in ROLES.items():
                role_env = as_user(env, USERS[role])
                if role == "edge":
                    role_env |= {"QHANA_HTTP_HOST": "127.0.0.1", "QHANA_HTTP_PORT": str(port)}
                log = tmp_path / f"{role}.log"
                stack.logs[role] = log
                with log.open("wb") as sink:
                    processes.append(
                        subprocess.Popen(
                            qhana(*args), env=role_env, cwd=tmp_path, stdout=sink, stderr=sink
                        )
                    )
            yield stack
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def plugin_by_name(stack: Stack, name: str) -> dict[str, Any] | None:
    for plugin in stack.get_json("/plugins/")["plugins"]:
        if plugin["name"] == name:
            return stack.get_json(f"/plugins/{plugin['identifier']}/")
    return None


def submit(stack: Stack, plugin: dict[str, Any], form: dict[str, str]) -> str:
    """POST the plugin's form; returns the task URL the 303 leads to."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(stack.url(plugin["entryPoint"]["href"]), data=data)
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.url)


def finished(stack: Stack, task_url: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        task = stack.get_json(task_url)
        return task if task["status"] in {"SUCCESS", "FAILURE"} else None

    return wait_for(f"task {task_url}", done, TASK_TIMEOUT_S)


def test_the_roles_work_with_least_privilege_users(stack: Stack) -> None:
    wait_for("the edge to be ready", lambda: stack.get_json("/readyz"), START_TIMEOUT_S)
    hello = wait_for("hello-world", lambda: plugin_by_name(stack, "hello-world"), START_TIMEOUT_S)

    task_url = submit(stack, hello, {"inputStr": "least privilege"})
    task = finished(stack, task_url)
    assert task["status"] == "SUCCESS", task
    with urllib.request.urlopen(task["outputs"][0]["href"], timeout=10) as response:
        assert b"least privilege" in response.read()
    with urllib.request.urlopen(task_url + "events", timeout=10) as response:
        kinds = [line[7:] for line in response.read().split(b"\n") if line.startswith(b"event: ")]
    # the worker (as qhana-worker) carries the edge's accepted in its started: first, once
    assert kinds[0] == b"accepted" and kinds.count(b"accepted") == 1, kinds
    assert kinds[-1] == b"succeeded", kinds

    long_running = plugin_by_name(stack, "long-running-demo")
    assert long_running is not None
    task_url = submit(stack, long_running, {"stepSeconds": "1", "steps": "30"})
    # upstream's statuses: PENDING until finished; a running task reports progress
    wait_for("the task to run", lambda: stack.get_json(task_url).get("progress"), TASK_TIMEOUT_S)
    cancel = urllib.request.Request(task_url + "cancel", data=b"", method="POST")
    with urllib.request.urlopen(cancel, timeout=10) as response:
        assert response.status == 200
    task = finished(stack, task_url)
    assert task["status"] == "FAILURE" and "ancel" in task["log"], task

    assert stack.violations() == []
