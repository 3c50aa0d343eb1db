"""Running each role as a long-lived process until a stop signal; ``qhana up`` wires them all."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qhana.bus import start_nats_server
from qhana.logging import get_logger
from qhana.loop import freeze_startup_objects

if TYPE_CHECKING:
    from aiohttp import web
    from sqlalchemy.ext.asyncio import AsyncEngine

    from qhana.settings import Settings

__all__ = ["BusStarter", "bound_port", "embedded_bus", "run_edge", "run_up", "serve_edge"]

log = get_logger("qhana")

BusStarter = Callable[[Path, str], AbstractAsyncContextManager[str]]
"""Starts the NATS of ``qhana up`` under a data dir on a host; yields the client URL(s)."""


@contextlib.asynccontextmanager
async def embedded_bus(data_dir: Path, host: str) -> AsyncIterator[str]:
    """The default bus of ``qhana up``: one embedded nats-server."""
    async with start_nats_server(data_dir / "jetstream", host=host) as server:
        yield server.url


ROLE_MODULES = (
    "aiohttp.web",
    "qhana.bus",
    "qhana.db",
    "qhana.db.catalogue",
    "qhana.edge.app",
    "qhana.metrics",
    "qhana.recorder",
    "qhana.registry",
    "qhana.up_recorder",
    "qhana.up_workers",
    "qhana.worker.service",
)
"""What the roles of ``run_up`` import: ~half of the start-up's CPU (``-X importtime``).

``run_up`` imports them while nats-server starts (a process of its own, on another core), so
neither waits for the other; for that this module imports at its top only what spawns it."""


def _import_roles() -> None:
    for name in ROLE_MODULES:
        importlib.import_module(name)


@contextlib.asynccontextmanager
async def _bus_while_importing(bus: BusStarter, data_dir: Path, host: str) -> AsyncIterator[str]:
    """Enter ``bus`` and import the roles meanwhile: the bus's first step (until its first
    await) spawns nats-server, the imports run while it gets ready."""
    async with contextlib.AsyncExitStack() as stack:
        entering = asyncio.ensure_future(stack.enter_async_context(bus(data_dir, host)))
        await asyncio.sleep(0)  # the bus's first step
        try:
            _import_roles()
        except BaseException:
            entering.cancel()  # stops a half-started bus; a started one exits with the stack
            await asyncio.wait({entering})
            if not entering.cancelled():
                entering.exception()  # retrieved: the import error is the one to report
            raise
        yield await entering


async def serve_edge(app: web.Application, host: str, port: int) -> web.AppRunner:
    from aiohttp import web

    from qhana.listen import listen

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await listen(runner, host, port, backlog=1024)
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the edge really listens on (``--port 0`` picks a free one)."""
    address = runner.addresses[0]
    return int(address[1])


async def run_edge(settings: Settings, stop: asyncio.Event) -> None:
    from qhana.bus import connect
    from qhana.edge.app import create_app

    nc = await connect(settings.nats, "qhana-edge", stop=stop)  # SIGTERM ends the wait
    try:
        app = create_app(settings, nc=nc)
        runner = await serve_edge(app, settings.http_host, settings.http_port)
        log.info("edge.ready", url=f"http://{settings.http_host}:{settings.http_port}/")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await nc.drain()


LISTED_POLL_S = 0.005


async def _wait_listed(engine: AsyncEngine, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until the registry lists at least one plugin."""
    from qhana.db.catalogue import list_catalogue

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        async with engine.connect() as conn:
            if await list_catalogue(conn):
                return
        await asyncio.sleep(LISTED_POLL_S)
    log.warning("up.no_plugins_listed", timeout_s=timeout_s)


def _up_settings(
    settings: Settings, data_dir: Path, nats_url: str, host: str, port: int
) -> Settings:
    update: dict[str, object] = {
        "nats": settings.nats.model_copy(update={"url": nats_url}),
        "http_host": host,
        "http_port": port,
    }
    if "database_url" not in settings.model_fields_set:
        update["database_url"] = f"sqlite+aiosqlite:///{(data_dir / 'qhana.db').resolve()}"
    if "input_allow_hosts" not in settings.model_fields_set:
        # the laptop all-in-one: plugins may read inputs from this machine (a local QHAna
        # backend); a standalone `qhana worker` refuses internal addresses unless configured
        update["input_allow_hosts"] = "localhost,127.0.0.0/8,::1"
    return settings.model_copy(update=update)


async def run_up(
    settings: Settings,
    stop: asyncio.Event,
    *,
    host: str,
    port: int,
    data_dir: Path,
    announce: Callable[[str], None] = print,
    bus: BusStarter = embedded_bus,
) -> None:
    """Embedded nats-server + SQLite + edge, registry and recorder in this process, and the
    worker in ``settings.up_worker_processes`` child processes (0: in this process too)."""
    async with _bus_while_importing(bus, data_dir, host) as nats_url:
        from qhana.bus import apply_streams, connect
        from qhana.db import create_engine, upgrade_database
        from qhana.edge.app import create_app
        from qhana.metrics import Metrics
        from qhana.recorder import run_recorder
        from qhana.registry import run_registry
        from qhana.up_recorder import RecorderHelper
        from qhana.up_workers import WorkerProcesses
        from qhana.worker.service import run_worker

        settings = _up_settings(settings, data_dir, nats_url, host, port)
        await upgrade_database(settings.database_url)
        nc = await connect(settings.nats, "qhana-up")
        engine = create_engine(settings.database_url)
        roles: list[asyncio.Task[None]] = []
        runner: web.AppRunner | None = None
        try:
            await apply_streams(
                nc.jetstream(),
                replicas=settings.nats.replicas,
                events_max_age_s=settings.events_max_age_s,
                limits=settings.queue_limits,
            )
            worker_ready = asyncio.Event()
            metrics = Metrics()  # one registry: the edge serves what the recorder counts
            helper = RecorderHelper(settings, nc, metrics)  # a 2nd recorder under load
            starts: list[Coroutine[Any, Any, None]] = [
                run_registry(settings, engine, stop, nc=nc),
                run_recorder(settings, engine, stop, nc=nc, metrics=metrics, helper=helper),
                helper.run(stop),
            ]
            if settings.up_worker_processes:
                # spawned first: its start-up overlaps the edge's
                workers = WorkerProcesses(settings, settings.up_worker_processes)
                starts.insert(0, workers.run(stop))
                worker_ready.set()  # ready once the registry lists its plugins (below)
            else:
                starts.append(run_worker(settings, stop, ready=worker_ready, nc=nc))
            roles = [asyncio.create_task(coro) for coro in starts]
            app = create_app(settings, nc=nc, engine=engine, metrics=metrics)
            runner = await serve_edge(app, host, port)
            await _first_of(worker_ready.wait(), roles)
            await _first_of(_wait_listed(engine), roles)
            freeze_startup_objects()
            announce(f"qhana nats: {nats_url}")
            announce(f"qhana ready: http://{host}:{bound_port(runner)}/")
            sys.stdout.flush()
            await _first_of(stop.wait(), roles)
        finally:
            stop.set()
            if runner is not None:
                await runner.cleanup()
            results = await asyncio.gather(*roles, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    log.error("up.role_failed", error=repr(result))
            with contextlib.suppress(Exception):
                await nc.drain()
            await engine.dispose()


async def _first_of(waiter: Awaitable[object], roles: list[asyncio.Task[None]]) -> None:
    """Wait for ``waiter``; if a role dies first, raise its error."""
    wait_task = asyncio.ensure_future(waiter)
    done, _ = await asyncio.wait({wait_task, *roles}, return_when=asyncio.FIRST_COMPLETED)
    if wait_task not in done:
        wait_task.cancel()
        for task in done:
            task.result()
        raise RuntimeError("a role stopped unexpectedly")
