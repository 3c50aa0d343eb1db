"""``qhana cluster`` in-process for tests: 3 nats-server nodes, R3 streams, all roles, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import nats
from nats.js.api import DeliverPolicy
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import subjects
from qhana.bus.cluster import NatsCluster
from qhana.cluster import run_cluster
from qhana.db import create_engine
from qhana.db.tables import task_files, task_log, tasks
from qhana.settings import Settings
from qhana.wire import TaskStatus
from support.stack import sql_url

HELLO = "hello-world@v0-2-1"


@dataclass
class ClusterStack:
    base: str
    cluster: NatsCluster
    engine: AsyncEngine
    http: aiohttp.ClientSession

    async def submit(self, text: str, deadline_s: float = 60.0) -> int:
        """POST the hello-world form; retry (bounded) while the bus fails over (503)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline_s
        while True:
            try:
                async with self.http.post(
                    f"{self.base}plugins/{HELLO}/process/",
                    data={"inputStr": text},
                    allow_redirects=False,
                ) as resp:
                    if resp.status == 303:
                        return int(resp.headers["Location"].strip("/").split("/")[-1])
                    body = await resp.text()
                    if resp.status != 503:
                        raise AssertionError((resp.status, body))
            except aiohttp.ClientError:
                pass
            if loop.time() > until:
                raise AssertionError(f"could not submit {text!r} within {deadline_s}s")
            await asyncio.sleep(0.2)

    async def finished_count(self, ids: list[int]) -> int:
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count())
                .select_from(tasks)
                .where(tasks.c.id.in_(ids), tasks.c.finished_at.is_not(None))
            )
        return int(count or 0)

    async def wait_all_finished(self, ids: list[int], timeout_s: float) -> int:
        """Re-count each time the recorder reports a commit (bounded); returns the count."""
        woke = asyncio.Event()

        async def _wake(_: object) -> None:
            woke.set()

        nc = await nats.connect(servers=self.cluster.urls, max_reconnect_attempts=-1)
        try:
            await nc.subscribe("qhana.recorded.task.*", cb=_wake)
            loop = asyncio.get_running_loop()
            until = loop.time() + timeout_s
            while (done := await self.finished_count(ids)) < len(ids) and loop.time() < until:
                woke.clear()
                # the timeout only guards against a notification lost during the failover
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woke.wait(), 2.0)
            return done
        finally:
            await nc.close()

    async def event_trail(self, task_id: int) -> list[str]:
        """``kind/attempt/event_id`` of every stored event of a task (for failure reports)."""
        nc = await nats.connect(servers=self.cluster.urls)
        trail: list[str] = []
        try:
            sub = await nc.jetstream().subscribe(
                subjects.event(task_id), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            while True:
                msg = await sub.next_msg(timeout=5)
                data = json.loads(msg.data)
                trail.append(f"{data['kind']}/{data['attempt']}/{data['event_id']}")
                if msg.metadata.num_pending == 0:
                    return trail
        finally:
            await nc.close()

    async def tasks_leader(self) -> str:
        nc = await nats.connect(servers=self.cluster.urls)
        try:
            info = await nc.jetstream().stream_info(subjects.TASKS_STREAM)
            assert info.cluster is not None and info.cluster.leader
            return str(info.cluster.leader)
        finally:
            await nc.close()

    async def audit(self) -> dict[str, object]:
        """Per task: status, output and log row counts; per input text: number of tasks."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(tasks.c.id, tasks.c.status, tasks.c.params))).all()
            reasons = (
                await conn.execute(
                    select(tasks.c.id, tasks.c.failure_reason).where(
                        tasks.c.failure_reason.is_not(None)
                    )
                )
            ).all()
            outputs = dict(
                (
                    await conn.execute(
                        select(task_files.c.task_id, func.count()).group_by(task_files.c.task_id)
                    )
                ).all()
            )
            logs = dict(
                (
                    await conn.execute(
                        select(task_log.c.task_id, func.count()).group_by(task_log.c.task_id)
                    )
                ).all()
            )
        texts: dict[str, int] = {}
        for _, _, params in rows:
            text = str((params or {}).get("input_str", (params or {}).get("inputStr")))
            texts[text] = texts.get(text, 0) + 1
        return {
            "status": {int(r[0]): TaskStatus(r[1]) for r in rows},
            "outputs": {int(k): int(v) for k, v in outputs.items()},
            "logs": {int(k): int(v) for k, v in logs.items()},
            "texts": texts,
            "failures": {int(r[0]): str(r[1]) for r in reasons},
        }


@contextlib.asynccontextmanager
async def cluster_stack(data_dir: Path, settings: Settings) -> AsyncIterator[ClusterStack]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[str] = loop.create_future()
    started: asyncio.Future[NatsCluster] = loop.create_future()

    def announce(line: str) -> None:
        if line.startswith("qhana ready: ") and not ready.done():
            ready.set_result(line.split(": ", 1)[1])

    runner = asyncio.create_task(
        run_cluster(
            settings,
            stop,
            host="127.0.0.1",
            port=0,
            data_dir=data_dir,
            announce=announce,
            on_start=started.set_result,
        )
    )
    done, _ = await asyncio.wait({runner, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        stop.set()
        if runner.done():
            runner.result()
        raise AssertionError("qhana cluster did not become ready")
    engine = create_engine(sql_url(None, data_dir))
    if "database_url" in settings.model_fields_set:
        engine = create_engine(settings.database_url)
    # longer than the edge's own bounded publish retries (2 x 20 s), so every POST gets an answer
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
    try:
        yield ClusterStack(ready.result(), started.result(), engine, http)
    finally:
        await http.close()
        await engine.dispose()
        stop.set()
        await asyncio.wait_for(runner, 60)
