"""A real ``qhana up`` stack for tests: embedded nats-server, SQL, all roles, HTTP on port 0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import psutil

from qhana.bus import subjects
from qhana.roles import run_up
from qhana.settings import Settings

READY = re.compile(r"qhana ready: (http://\S+/)")
NATS = re.compile(r"qhana nats: (nats://\S+)")
TERMINAL = {"succeeded", "failed", "cancelled"}


def sql_url(database_url: str | None, data_dir: Path) -> str:
    """The URL a stack uses (the SQLite file of its data dir unless PostgreSQL is given)."""
    return database_url or f"sqlite+aiosqlite:///{(data_dir / 'qhana.db').resolve()}"


@dataclass
class Stack:
    base: str
    nats_url: str
    data_dir: Path
    settings: Settings
    http: aiohttp.ClientSession
    stop: asyncio.Event
    runner: asyncio.Task[None]
    lines: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        """The stack's database (``qhana up`` uses SQLite in its data dir unless told)."""
        given = "database_url" in self.settings.model_fields_set
        return sql_url(self.settings.database_url if given else None, self.data_dir)

    async def submit(self, plugin: str, **form: str) -> int:
        async with self.http.post(
            f"{self.base}plugins/{plugin}/process/", data=form, allow_redirects=False
        ) as resp:
            body = await resp.text()
            assert resp.status == 303, (resp.status, body)
            location = resp.headers["Location"]
        match = re.fullmatch(r"/tasks/(\d+)/", location)
        assert match, location
        return int(match.group(1))

    async def task(self, task_id: int) -> dict[str, Any]:
        async with self.http.get(f"{self.base}tasks/{task_id}/") as resp:
            assert resp.status == 200, await resp.text()
            doc: dict[str, Any] = await resp.json()
            return doc

    async def until(
        self, task_id: int, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 30
    ) -> dict[str, Any]:
        """GET the task each time the recorder reports a commit for it, until ``predicate``."""
        nc = await nats.connect(self.nats_url)
        try:
            sub = await nc.subscribe(subjects.recorded(task_id))
            async with asyncio.timeout(timeout_s):
                while not predicate(doc := await self.task(task_id)):
                    await sub.next_msg(timeout=timeout_s)
            return doc
        finally:
            await nc.close()

    async def plugin_listed(self, identifier: str, timeout_s: float = 30) -> None:
        """Wait until the registry lists the plugin (woken by ``qhana.registry.changed``)."""
        nc = await nats.connect(self.nats_url)
        try:
            sub = await nc.subscribe(subjects.REGISTRY_CHANGED)
            async with asyncio.timeout(timeout_s):
                while True:
                    async with self.http.get(f"{self.base}plugins/{identifier}/") as resp:
                        if resp.status == 200:
                            return
                    await sub.next_msg(timeout=timeout_s)
        finally:
            await nc.close()

    async def events(self, task_id: int) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The task's events over SSE, from the start, until a terminal one."""
        async with self.http.get(f"{self.base}tasks/{task_id}/events") as resp:
            assert resp.status == 200
            kind = ""
            async for raw in resp.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    yield kind, json.loads(line[6:])

    async def wait_for(self, task_id: int, kind: str, timeout_s: float = 30) -> dict[str, Any]:
        """Wait (via SSE, no polling) for the first event of ``kind``."""

        async def _wait() -> dict[str, Any]:
            async with contextlib.aclosing(self.events(task_id)) as events:
                async for got, data in events:
                    if got == kind:
                        return data
                    if got in TERMINAL:
                        raise AssertionError(f"task ended with {got} before {kind}: {data}")
            raise AssertionError("event stream ended")

        return await asyncio.wait_for(_wait(), timeout_s)

    async def finished(self, task_id: int, timeout_s: float = 30) -> dict[str, Any]:
        """Wait until SQL shows the task finished (woken by the recorder's notifications)."""
        return await self.until(task_id, lambda doc: doc["status"] != "PENDING", timeout_s)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.runner, 30)
        await self.http.close()


def child_processes(marker: str) -> list[psutil.Process]:
    """Live child processes of this test process with ``marker`` in their command line (a
    killed one not reaped yet is a zombie whose command line cannot be read: not counted)."""
    found = []
    for child in psutil.Process(os.getpid()).children():
        try:
            if marker in child.cmdline():
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


async def submit_burst(
    stack: Stack, plugin: str, count: int, ids: list[int] | None = None, clients: int = 16
) -> list[int]:
    """``count`` submissions, ``clients`` at a time; each id is appended to ``ids`` as its
    303 arrives (a caller may watch the list grow), which is also returned."""
    work = iter(range(count))
    got = [] if ids is None else ids

    async def _client() -> None:
        for n in work:
            got.append(await stack.submit(plugin, inputStr=f"burst input {n}"))

    await asyncio.gather(*(_client() for _ in range(clients)))
    return got


async def start_stack(data_dir: Path, settings: Settings) -> Stack:
    stop = asyncio.Event()
    lines: list[str] = []
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def announce(line: str) -> None:
        lines.append(line)
        if (m := READY.search(line)) and not ready.done():
            ready.set_result(m.group(1))

    task = asyncio.create_task(
        run_up(settings, stop, host="127.0.0.1", port=0, data_dir=data_dir, announce=announce)
    )
    done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        stop.set()
        if task.done():
            task.result()
        raise AssertionError("qhana up did not become ready")
    nats_url = next(m.group(1) for line in lines if (m := NATS.search(line)))
    return Stack(
        base=ready.result(),
        nats_url=nats_url,
        data_dir=data_dir,
        settings=settings,
        http=aiohttp.ClientSession(),
        stop=stop,
        runner=task,
        lines=lines,
    )


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    output: list[str]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _pump(stream: asyncio.StreamReader, sink: list[str], ready: asyncio.Event) -> None:
    while line := await stream.readline():
        text = line.decode(errors="replace")
        sink.append(text)
        if '"worker.ready"' in text:
            ready.set()


@contextlib.asynccontextmanager
async def worker_process(
    nats_url: str, queue: str, plugin_folders: Path, **env: str
) -> AsyncIterator[WorkerProcess]:
    """A separate ``qhana worker`` process (so it can be SIGKILLed)."""
    environment = {
        **os.environ,
        "QHANA_NATS_URL": nats_url,
        "PLUGIN_FOLDERS": str(plugin_folders),
        "QHANA_LOG_FORMAT": "json",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "qhana",
        "worker",
        "--queue",
        queue,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    output: list[str] = []
    ready = asyncio.Event()
    pump = asyncio.create_task(_pump(proc.stderr, output, ready))
    handle = WorkerProcess(proc, output)
    try:
        waiter = asyncio.create_task(ready.wait())
        exited = asyncio.create_task(proc.wait())
        await asyncio.wait({waiter, exited}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        assert ready.is_set(), "worker did not become ready:\n" + "".join(output)
        yield handle
    finally:
        await handle.stop()
        await asyncio.wait_for(pump, 10)
