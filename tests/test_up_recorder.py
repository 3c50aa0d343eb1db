"""``qhana up``'s helper recorder: a second recorder process while the recorder lags."""

from __future__ import annotations

import asyncio
import re
import sys

import psutil
import pytest
from conftest import StackFactory
from support.stack import Stack, child_processes, submit_burst

from qhana import up_recorder

HELLO = "hello-world@v0-2-1"
_FINISHED = re.compile(
    r'^qhana_tasks_finished_total\{plugin="hello-world@v0-2-1",status="SUCCESS"\} (\S+)$', re.M
)


def _helpers() -> list[psutil.Process]:
    return child_processes("--helper-idle-exit")


async def _until(check: object, timeout_s: float = 30) -> None:
    assert callable(check)
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.05)


async def _burst(stack: Stack, count: int) -> list[int]:
    """``count`` submissions, 16 at a time: the recorder falls behind the worker."""
    return await submit_burst(stack, HELLO, count)


async def _finished_count(stack: Stack) -> float:
    async with stack.http.get(f"{stack.base}metrics") as resp:
        text = await resp.text()
    match = _FINISHED.search(text)
    return float(match.group(1)) if match else 0.0


async def test_helper_records_a_backlog_then_exits_and_the_recorder_resumes(
    stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_recorder, "IDLE_EXIT_S", 1.5)
    stack = await stack_factory(up_recorder_helper_backlog=1)  # any backlog at all
    first = await _burst(stack, 120)
    await _until(lambda: _helpers(), 30)  # spawned while the burst was recorded
    second = await _burst(stack, 120)  # the helper serves (or is about to)
    for task_id in first + second:
        assert (await stack.finished(task_id))["status"] == "SUCCESS"
    # every finished task is counted once by `qhana up`'s /metrics, whoever recorded it
    await _until_count(stack, 240)

    await _until(lambda: not _helpers(), 30)  # idle: it exits by itself
    late = await stack.submit(HELLO, inputStr="after the helper")
    assert (await stack.finished(late))["status"] == "SUCCESS"  # recorded in-process again
    await _until_count(stack, 241)


async def _until_count(stack: Stack, expected: float) -> None:
    async with asyncio.timeout(30):
        while (got := await _finished_count(stack)) < expected:
            await asyncio.sleep(0.05)
    assert got == expected


async def test_stopping_qhana_up_stops_a_serving_helper(
    stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(up_recorder, "IDLE_EXIT_S", 60.0)
    stack = await stack_factory(up_recorder_helper_backlog=1)
    await _burst(stack, 120)
    await _until(lambda: _helpers(), 30)
    (helper,) = _helpers()
    await stack.close()
    assert not _helpers()
    assert not psutil.pid_exists(helper.pid) or helper.status() == psutil.STATUS_ZOMBIE


async def test_a_helper_that_fails_leaves_the_recorder_in_charge(
    stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[int] = []

    async def _broken(self: up_recorder.RecorderHelper) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.exit(3)", stdout=asyncio.subprocess.PIPE
        )
        spawned.append(proc.pid)
        return proc

    monkeypatch.setattr(up_recorder.RecorderHelper, "_spawn", _broken)
    stack = await stack_factory(up_recorder_helper_backlog=1)
    ids = await _burst(stack, 120) + await _burst(stack, 120)
    for task_id in ids:
        assert (await stack.finished(task_id))["status"] == "SUCCESS"
    assert len(spawned) == 1  # not tried again within RETRY_S
    await _until_count(stack, 240)


def test_the_setting_turns_helpers_off() -> None:
    from qhana.settings import Settings

    assert Settings.model_validate({}).up_recorder_helper_backlog == 1000
    off = Settings.model_validate({"up_recorder_helper_backlog": 0})
    assert off.up_recorder_helper_backlog == 0
