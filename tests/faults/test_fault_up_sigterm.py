"""SIGTERM of a whole ``qhana up`` (edge, registry, recorder, worker, embedded NATS) with tasks
in flight: it drains and exits 0; the next ``qhana up`` on the same data dir shows every task
SUCCESS exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from support.faults import (
    FAULT_PLUGINS,
    LOAD,
    report,
    submit_many,
    tally,
    until_listed,
    until_recorder_idle,
    watch,
)
from support.stack import sql_url

READY = re.compile(rb"qhana ready: (http://\S+/)")
NATS = re.compile(rb"qhana nats: (nats://\S+)")
ENV = {
    **os.environ,
    "QHANA_QUEUE": "faults",
    "PLUGIN_FOLDERS": str(FAULT_PLUGINS),
    "QHANA_ACK_WAIT_S": "120",  # a drain that works never waits for a redelivery
    # waves of 8: with all 30 at once, "one finished while another runs" is a window of a
    # few ms that a fast stack closes before the watcher looks (the test then timed out)
    "QHANA_WORKER_CONCURRENCY": "8",
    "QHANA_LOG_FORMAT": "json",
}


@pytest.fixture
def database_url() -> None:
    return None


@asynccontextmanager
async def _qhana_up(data_dir: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "qhana", "up", "--port", "0", "--data-dir", str(data_dir),
        env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            nats_line = await proc.stdout.readline()
            ready_line = await proc.stdout.readline()
        nats_m, ready_m = NATS.search(nats_line), READY.search(ready_line)
        assert nats_m and ready_m, (nats_line, ready_line)
        yield proc, ready_m.group(1).decode(), nats_m.group(1).decode()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def test_sigterm_of_qhana_up_drains(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ids: list[int] = []
    async with aiohttp.ClientSession() as http:
        async with _qhana_up(data) as (proc, base, nats_url):
            await until_listed(http, base, LOAD)
            async with watch(nats_url, sql_url(None, data)) as watcher:
                await submit_many(http, base, LOAD, 30, ids, seconds="0.5")
                await watcher.until_count(LOAD, 1, running=True)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
        async with _qhana_up(data) as (_, base, nats_url):
            async with watch(nats_url, sql_url(None, data)) as watcher:
                await watcher.until_finished(ids, timeout_s=60)
                await until_recorder_idle(nats_url)
                result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
    report("qhana up SIGTERM (all roles)", 1, len(ids), result)
    assert result.succeeded == len(ids) and result.clean, result
