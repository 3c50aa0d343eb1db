"""The operator CLI against a running stack: tasks submit/watch, plugins ls, runners ls."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import pytest
from support.stack import Stack

from qhana.ops.commands import _runners_ls

HELLO = "hello-world@v0-2-1"


async def _qhana(stack: Stack, *argv: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "QHANA_PUBLIC_URL": stack.base,
        "QHANA_NATS_URL": stack.nats_url,
        "QHANA_LOG_FORMAT": "json",
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qhana",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("database_url", [None])
async def test_submit_watch_plugins_runners(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    """One stack for the commands that succeed (each stack costs seconds)."""
    code, out, err = await _qhana(stack, "tasks", "submit", "hello-world", "inputStr=my input")
    assert code == 0, err
    task_line = out.strip().splitlines()[0]
    assert task_line.startswith("task ") and task_line.endswith("/"), out
    task_id = int(task_line.split()[1].rstrip(":"))
    assert (await stack.task(task_id))["status"] in ("PENDING", "SUCCESS")

    code, out, err = await _qhana(stack, "tasks", "watch", str(task_id))
    assert code == 0, err
    assert "output: out.txt (text/plain)" in out
    assert "result: 'my output'" in out
    assert "SUCCESS" in out

    code, out, err = await _qhana(
        stack, "tasks", "submit", "--watch", "hello-world-multi-step", "inputStr=x"
    )
    assert code == 0, err
    assert "waiting for input: step 'demo-step'" in out, out

    code, out, err = await _qhana(stack, "plugins", "ls")
    assert code == 0, err
    assert HELLO in out and "hello-world-multi-step@v0-2-1" in out

    settings = stack.settings.model_copy(
        update={"nats": stack.settings.nats.model_copy(update={"url": stack.nats_url})}
    )
    capsys.readouterr()
    await _runners_ls(settings, argparse.Namespace(listen=0.6), asyncio.Event())
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if "alive" in line]
    assert "default" in row and "announce" in row and "heartbeat" in row, out


@pytest.mark.parametrize("database_url", [None])
async def test_failure_and_bad_input_exit_non_zero(stack: Stack) -> None:
    code, out, err = await _qhana(
        stack, "tasks", "submit", "--watch", "failing-demo@v0-1-0", "message=boom"
    )
    assert code == 1, (out, err)
    assert "about to fail on purpose" in out
    assert "FAILURE" in err and "boom" in err

    code, _, err = await _qhana(stack, "tasks", "submit", HELLO)
    assert code == 1
    assert "HTTP 422" in err and "inputStr" in err
