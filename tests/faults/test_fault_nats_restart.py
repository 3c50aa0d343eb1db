"""Restart nats-server (same port, same store) under load: every role reconnects, nothing is
lost, and while NATS is away the edge answers 503 with Retry-After at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from support.faults import (
    FAULT_PLUGINS,
    LOAD,
    full_only,
    report,
    submit_many,
    tally,
    until_listed,
    until_recorder_idle,
    watch,
)
from support.roles import Roles, run_roles

SETTINGS = {
    "plugin_folders": str(FAULT_PLUGINS),
    "queue": "faults",
    "ack_wait_s": 2.0,
    "max_deliver": 50,
    "worker_concurrency": 8,
}


@pytest.fixture
def database_url() -> None:
    """SQLite lane only: this fault does not depend on the database (the suite's time budget);
    the SIGKILL, recorder and database-outage tests run on both lanes."""
    return None


async def _requests_while_away(roles: Roles, task_id: int) -> None:
    """While NATS is down: submitting, cancelling and SSE answer 503 + Retry-After at once
    with the JSON error; reads of SQL keep working, small (inline) output files included."""
    async with roles.http.get(f"{roles.base}tasks/{task_id}/") as resp:
        assert resp.status == 200  # reads come from SQL
        doc = await resp.json()
    async with roles.http.get(doc["outputs"][0]["href"]) as resp:
        assert resp.status == 200  # a small output: its bytes are kept in SQL
    calls = [
        ("POST", f"{roles.base}plugins/{LOAD}/process/", {"data": {"seconds": "0"}}),
        ("POST", f"{roles.base}tasks/{task_id}/cancel/", {}),
        ("GET", f"{roles.base}tasks/{task_id}/events", {}),
    ]
    for method, url, kwargs in calls:
        started = time.perf_counter()
        async with roles.http.request(method, url, allow_redirects=False, **kwargs) as resp:
            assert resp.status in (503, 409), (url, await resp.text())
            if resp.status == 409:
                continue  # cancel of a task that has already finished: no NATS needed
            assert resp.headers["Retry-After"] == "2"
            assert resp.headers["Content-Type"] == "application/json"
            assert await resp.json() == {
                "code": 503,
                "status": "Service Unavailable",
                "message": "The message bus is unavailable; retry shortly.",
            }
        assert time.perf_counter() - started < 2.0, url  # fails fast, does not hang


async def _submit_honouring_retry_after(roles: Roles, count: int, sink: list[int]) -> None:
    """Like a client that retries after a 503 (bounded): the first POST after the restart may
    race the edge's reconnect."""
    goal = len(sink) + count
    async with asyncio.timeout(30):
        while True:
            try:
                missing = goal - len(sink)  # those that got their 303 are not sent again
                await submit_many(roles.http, roles.base, LOAD, missing, sink, seconds="0.2")
                return
            except AssertionError as exc:
                if "503" not in str(exc):
                    raise
                await asyncio.sleep(0.2)


async def _restart_run(tmp_path: Path, database_url: str | None, batch: int, restarts: int) -> None:
    async with run_roles(tmp_path, database_url, **SETTINGS) as roles:
        await until_listed(roles.http, roles.base, LOAD)
        ids: list[int] = []
        async with watch(roles.nats_url, roles.settings.database_url) as watcher:
            for _ in range(restarts):
                await _submit_honouring_retry_after(roles, batch, ids)
                # restart while tasks of this batch are running
                await watcher.until_count(LOAD, len(ids) - batch // 2, running=True, timeout_s=60)
                finished = min(await watcher.finished(ids))  # one with an output file
                await roles.stop_nats()
                await _requests_while_away(roles, finished)
                await roles.start_nats()
            await _submit_honouring_retry_after(roles, batch, ids)
            await watcher.until_finished(ids, timeout_s=60 + 2 * len(ids))
            await until_recorder_idle(roles.nats_url)
            result = await tally(watcher.engine, ids, log_lines=2, outputs=1)
    report("nats-server restart", restarts, len(ids), result)
    assert len(set(ids)) == (restarts + 1) * batch
    assert result.succeeded == len(ids) and result.lost == 0, result
    assert result.clean, result


async def test_nats_restart_short(tmp_path: Path, database_url: str | None) -> None:
    await _restart_run(tmp_path, database_url, batch=20, restarts=1)


@pytest.mark.slow
@full_only
@pytest.mark.timeout(600)
async def test_nats_restart_full(tmp_path: Path, database_url: str | None) -> None:
    await _restart_run(tmp_path, database_url, batch=100, restarts=5)
