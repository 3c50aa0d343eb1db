"""Helpers of the fault-injection tests: submitting load, watching SQL, counting duplicates."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.db import create_engine
from qhana.db.tables import task_commits, task_files, task_log, tasks
from support.consumers import consumer_idle

FAULT_PLUGINS = Path(__file__).parent.parent / "faults" / "plugins"
LOAD = "fault-load@v1-0-0"
FULL = os.environ.get("QHANA_FAULTS_FULL") == "1"

full_only = pytest.mark.skipif(not FULL, reason="long fault run: set QHANA_FAULTS_FULL=1")


async def submit_many(
    http: aiohttp.ClientSession,
    base: str,
    plugin: str,
    count: int,
    sink: list[int] | None = None,
    **form: str,
) -> list[int]:
    """POST ``count`` processing requests (16 at a time); the task ids, in order.
    Each id is also appended to ``sink`` as soon as its 303 arrives."""
    slots = asyncio.Semaphore(16)

    async def _one(index: int) -> int:
        async with slots:
            data = {**form, "text": f"out-{index}"} if "text" not in form else form
            async with http.post(
                f"{base}plugins/{plugin}/process/", data=data, allow_redirects=False
            ) as resp:
                assert resp.status == 303, (resp.status, await resp.text())
                task_id = int(resp.headers["Location"].strip("/").split("/")[-1])
        if sink is not None:
            sink.append(task_id)
        return task_id

    # wait for all before raising, so a caller that retries knows exactly what got through
    results = await asyncio.gather(*(_one(i) for i in range(count)), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, int)]


async def until_listed(
    http: aiohttp.ClientSession, base: str, identifier: str, timeout_s: float = 20
) -> None:
    """Wait until the edge lists a plugin a new worker announced. The edge's catalogue is a
    cache with a time-to-live, so this is a bounded poll, not an event wait."""
    async with asyncio.timeout(timeout_s):
        while True:
            async with http.get(f"{base}plugins/{identifier}/") as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.1)


@dataclass
class Watcher:
    """Wakes on the recorder's commit notifications and reads the finished tasks from SQL."""

    engine: AsyncEngine
    changed: asyncio.Event

    async def finished(self, ids: list[int]) -> dict[int, str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(tasks.c.id, tasks.c.status).where(
                    tasks.c.id.in_(ids), tasks.c.finished_at.is_not(None)
                )
            )
            return {int(row.id): str(row.status) for row in rows}

    async def _changed_or_recheck(self) -> None:
        """Wake on the next commit notification. They are core NATS (at most once) and are
        lost while our own connection reconnects, so re-read SQL after 2 s regardless."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changed.wait(), 2.0)

    async def finished_count(self, plugin: str) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.plugin == plugin, tasks.c.finished_at.is_not(None))
            )
            return int(value or 0)

    async def running_count(self, plugin: str) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                select(func.count())
                .select_from(tasks)
                .where(
                    tasks.c.plugin == plugin,
                    tasks.c.started_at.is_not(None),
                    tasks.c.finished_at.is_(None),
                )
            )
            return int(value or 0)

    async def until_count(
        self, plugin: str, goal: int, *, running: bool = False, timeout_s: float = 60
    ) -> None:
        """Wait until at least ``goal`` tasks of ``plugin`` are finished in SQL (and, with
        ``running``, at least one has started and not finished)."""
        async with asyncio.timeout(timeout_s):
            while True:
                self.changed.clear()
                if await self.finished_count(plugin) >= goal and (
                    not running or await self.running_count(plugin) > 0
                ):
                    return
                await self._changed_or_recheck()

    async def until_finished(
        self, ids: list[int], count: int | None = None, timeout_s: float = 60
    ) -> dict[int, str]:
        """Wait until ``count`` (default: all) of ``ids`` are finished in SQL."""
        goal = len(ids) if count is None else count
        async with asyncio.timeout(timeout_s):
            while True:
                self.changed.clear()
                done = await self.finished(ids)
                if len(done) >= goal:
                    return done
                await self._changed_or_recheck()


@contextlib.asynccontextmanager
async def watch(nats_url: str, database_url: str) -> AsyncIterator[Watcher]:
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    engine = create_engine(database_url)
    changed = asyncio.Event()

    async def _on(_msg: Any) -> None:
        changed.set()

    await nc.subscribe("qhana.recorded.task.*", cb=_on)
    try:
        yield Watcher(engine, changed)
    finally:
        await nc.close()
        await engine.dispose()


def report(fault: str, injected: int, submitted: int, result: Tally) -> None:
    """One line per run for the closing table (shown with ``pytest -s`` / ``-rA``)."""
    print(
        f"FAULT-REPORT fault={fault!r} injected={injected} submitted={submitted} "
        f"succeeded={result.succeeded} failed={result.failed} lost={result.lost} "
        f"duplicates={result.duplicate_outputs + result.duplicate_logs} "
        f"stray_rows={result.stray_attempt_rows} retried={result.retried} "
        f"missing_outputs={result.missing_outputs} missing_logs={result.missing_logs}"
    )


@dataclass(frozen=True)
class Tally:
    succeeded: int
    failed: int
    lost: int
    duplicate_outputs: int
    duplicate_logs: int
    stray_attempt_rows: int
    retried: int
    missing_outputs: int = 0
    missing_logs: int = 0

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing twice, nothing left of an abandoned attempt."""
        return (
            self.lost
            + self.duplicate_outputs
            + self.duplicate_logs
            + self.stray_attempt_rows
            + self.missing_outputs
            + self.missing_logs
        ) == 0


async def tally(engine: AsyncEngine, ids: list[int], log_lines: int, outputs: int) -> Tally:
    """Count results of ``ids`` in SQL: each task must have exactly ``outputs`` files and
    ``log_lines`` log rows, all of its committed attempt."""
    async with engine.connect() as conn:
        status = dict(
            (int(r.id), str(r.status))
            for r in await conn.execute(
                select(tasks.c.id, tasks.c.status).where(tasks.c.id.in_(ids))
            )
        )
        files = await _per_task(conn, task_files, ids)
        logs = await _per_task(conn, task_log, ids)
        stray = 0
        for table in (task_files, task_log):
            stray += int(
                await conn.scalar(
                    select(func.count())
                    .select_from(
                        table.join(task_commits, table.c.task_id == task_commits.c.task_id)
                    )
                    .where(
                        table.c.task_id.in_(ids),
                        table.c.cmd_seq == task_commits.c.cmd_seq,
                        table.c.attempt != task_commits.c.attempt,
                    )
                )
                or 0
            )
        retried = int(
            await conn.scalar(
                select(func.count())
                .select_from(task_commits)
                .where(task_commits.c.task_id.in_(ids), task_commits.c.attempt > 1)
            )
            or 0
        )
    return Tally(
        succeeded=sum(1 for i in ids if status.get(i) == "SUCCESS"),
        failed=sum(1 for i in ids if status.get(i) == "FAILURE"),
        lost=sum(1 for i in ids if status.get(i) not in ("SUCCESS", "FAILURE")),
        duplicate_outputs=sum(max(0, files.get(i, 0) - outputs) for i in ids),
        duplicate_logs=sum(max(0, logs.get(i, 0) - log_lines) for i in ids),
        stray_attempt_rows=stray,
        retried=retried,
        missing_outputs=sum(
            max(0, outputs - files.get(i, 0)) for i in ids if status.get(i) == "SUCCESS"
        ),
        missing_logs=sum(
            max(0, log_lines - logs.get(i, 0)) for i in ids if status.get(i) == "SUCCESS"
        ),
    )


async def _per_task(conn: Any, table: Any, ids: list[int]) -> dict[int, int]:
    rows = await conn.execute(
        select(table.c.task_id, func.count())
        .where(table.c.task_id.in_(ids))
        .group_by(table.c.task_id)
    )
    return {int(task_id): int(n) for task_id, n in rows}


@dataclass
class SucceededEvents:
    """Task ids whose ``succeeded`` event was published (seen live on core NATS), so a test
    can tell the workers are done while SQL is knowingly behind."""

    seen: set[int]
    changed: asyncio.Event

    async def until(self, ids: list[int], timeout_s: float = 60) -> None:
        async with asyncio.timeout(timeout_s):
            while not set(ids) <= self.seen:
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def succeeded_events(nats_url: str) -> AsyncIterator[SucceededEvents]:
    nc = await nats.connect(nats_url)
    box = SucceededEvents(set(), asyncio.Event())

    async def _on(msg: Any) -> None:
        doc = json.loads(msg.data)
        if doc.get("kind") == "succeeded":
            box.seen.add(int(doc["task_id"]))
            box.changed.set()

    await nc.subscribe("qhana.events.task.*", cb=_on)
    try:
        yield box
    finally:
        await nc.close()


async def until_recorder_idle(nats_url: str, timeout_s: float = 30) -> None:
    """Wait until the recorder has acked every event (nothing pending or unacked)."""
    await consumer_idle(nats_url, "QHANA_EVENTS", "recorder", timeout_s=timeout_s, poll_s=0.1)
