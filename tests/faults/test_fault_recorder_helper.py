"""SIGKILL ``qhana up``'s helper recorder: the in-process recorder takes over again and every
task is recorded SUCCESS (a batch the helper had in flight comes back after the recorder
consumer's ack wait, 30 s: the long run waits for that)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from conftest import StackFactory
from structlog.testing import capture_logs
from support.faults import full_only
from support.stack import Stack, child_processes, submit_burst

from qhana import up_recorder

HELLO = "hello-world@v0-2-1"


def _helper_pids() -> list[int]:
    return [process.pid for process in child_processes("--helper-idle-exit")]


async def _burst(stack: Stack, count: int, ids: list[int]) -> None:
    await submit_burst(stack, HELLO, count, ids)


async def _one_helper(timeout_s: float = 30) -> int:
    async with asyncio.timeout(timeout_s):
        while not (pids := _helper_pids()):
            await asyncio.sleep(0.05)
    (pid,) = pids
    return pid


async def _serving(logs: list[dict[str, object]], timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while not any(e["event"] == "up.recorder_helper_serving" for e in logs):
            await asyncio.sleep(0.02)


async def _kill_and_check(stack: Stack, *, mid_burst: bool, timeout_s: float) -> None:
    ids: list[int] = []
    with capture_logs() as logs:
        await _burst(stack, 150, ids)  # the helper starts while this is recorded
        pid = await _one_helper()
        await _serving(logs)  # from now on the in-process recorder pauses
    if mid_burst:
        second = asyncio.create_task(_burst(stack, 300, ids))
        async with asyncio.timeout(30):
            while len(ids) < 250:  # the helper serves by now, with batches in flight
                await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        await second
    else:
        for task_id in ids:  # all recorded: the helper idles, nothing in flight
            assert (await stack.finished(task_id))["status"] == "SUCCESS"
        os.kill(pid, signal.SIGKILL)
        await _burst(stack, 50, ids)
    for task_id in ids:
        assert (await stack.finished(task_id, timeout_s=timeout_s))["status"] == "SUCCESS"
    assert pid not in _helper_pids()


@pytest.fixture
async def helper_stack(stack_factory: StackFactory, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """A stack whose recorder starts a helper at once, one that stays up for the test."""
    monkeypatch.setattr(up_recorder, "IDLE_EXIT_S", 60.0)
    return await stack_factory(up_recorder_helper_backlog=1)


async def test_killing_an_idle_helper_hands_recording_back(helper_stack: Stack) -> None:
    await _kill_and_check(helper_stack, mid_burst=False, timeout_s=15)


@pytest.mark.slow
@full_only
async def test_killing_a_busy_helper_loses_nothing(helper_stack: Stack) -> None:
    await _kill_and_check(helper_stack, mid_burst=True, timeout_s=60)
