"""``qhana up`` with ``QHANA_UP_WORKER_PROCESSES``: workers as supervised child processes."""

from __future__ import annotations

import asyncio
import os
import signal

import psutil
from conftest import StackFactory
from support.stack import child_processes

from qhana.settings import Settings

HELLO = "hello-world@v0-2-1"


def _workers() -> list[psutil.Process]:
    """The live worker processes of the stack (``python -m qhana worker --settings-stdin``;
    not a helper recorder, which reads its settings the same way)."""
    return child_processes("worker")


async def _until_workers(count: int, exclude: set[int], timeout_s: float = 30) -> list[int]:
    async with asyncio.timeout(timeout_s):
        while len(pids := [p.pid for p in _workers() if p.pid not in exclude]) < count:
            await asyncio.sleep(0.05)
    return pids


async def test_worker_processes_run_tasks_restart_and_stop(stack_factory: StackFactory) -> None:
    stack = await stack_factory(up_worker_processes=2, runner_id="up-test")
    first = await _until_workers(2, set())
    ids = [await stack.submit(HELLO, inputStr=f"input {n}") for n in range(6)]
    for task_id in ids:
        assert (await stack.finished(task_id))["status"] == "SUCCESS"
    os.kill(first[0], signal.SIGKILL)  # a plugin took its process down: it comes back
    (restarted,) = await _until_workers(1, set(first))
    task_id = await stack.submit(HELLO, inputStr="after the crash input")
    assert (await stack.finished(task_id))["status"] == "SUCCESS"

    await stack.close()  # SIGTERM: the children drain and exit, none is left behind
    assert not _workers()
    assert not psutil.pid_exists(restarted) or psutil.Process(restarted).status() == "zombie"


def test_settings_reach_the_child_exactly() -> None:
    settings = Settings.model_validate(
        {
            "jwt_secret": "s3cret",
            "plugin_folders": "/a:/b",
            "nats": {"url": "nats://127.0.0.1:1", "password": "pw"},
            "nats_url": "nats://elsewhere:2",  # already folded into nats.url
        }
    )
    child = Settings.model_validate_json(settings.to_child_json())
    assert child.model_dump() == {**settings.model_dump(), "nats_url": None}
    assert child.jwt_secret is not None and child.jwt_secret.get_secret_value() == "s3cret"
    assert child.nats.url == "nats://elsewhere:2" == settings.nats.url
