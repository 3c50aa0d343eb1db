"""The roles run separately against a nats-server the test owns, so a test can restart NATS
(same port, same store), stop and start single roles, or give the recorder its own engine."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from qhana.bus import apply_streams, connect, start_nats_server
from qhana.bus.embedded import EmbeddedNats
from qhana.db import create_engine, upgrade_database
from qhana.edge.app import create_app
from qhana.recorder import run_recorder
from qhana.registry import run_registry
from qhana.roles import bound_port, serve_edge
from qhana.settings import Settings
from qhana.worker.service import run_worker
from support.stack import sql_url

RoleMain = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Roles:
    settings: Settings
    store_dir: Path
    server: EmbeddedNats
    base: str = ""
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)
    _server_cm: contextlib.AbstractAsyncContextManager[EmbeddedNats] | None = None
    nats_args: tuple[str, ...] = ()
    _running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = field(default_factory=dict)
    _edge: web.AppRunner | None = None

    @property
    def nats_url(self) -> str:
        return self.server.url

    async def stop_nats(self, *, kill: bool = False) -> None:
        assert self._server_cm is not None
        if kill:
            self.server.kill()
        await self._server_cm.__aexit__(None, None, None)
        self._server_cm = None

    async def start_nats(self) -> None:
        """(Re)start nats-server on the same port with the same store."""
        assert self._server_cm is None
        port = self.server.port if self.server else -1
        self._server_cm = start_nats_server(self.store_dir, port=port, extra_args=self.nats_args)
        self.server = await self._server_cm.__aenter__()

    def start(self, name: str, main: RoleMain) -> asyncio.Event:
        """Run ``main(stop)`` as role ``name``; returns its stop event."""
        stop = asyncio.Event()
        self._running[name] = (asyncio.create_task(main(stop)), stop)
        return stop

    async def stop(self, name: str, *, timeout_s: float = 30) -> None:
        task, stop = self._running.pop(name)
        stop.set()
        await asyncio.wait_for(task, timeout_s)

    def start_worker(self, name: str = "worker") -> asyncio.Event:
        ready = asyncio.Event()
        self.start(name, lambda stop: run_worker(self.settings, stop, ready=ready))
        return ready

    def start_recorder(self, engine: Any, name: str = "recorder") -> None:
        self.start(name, lambda stop: run_recorder(self.settings, engine, stop))

    async def close(self) -> None:
        for name in list(self._running):
            with contextlib.suppress(Exception):
                await self.stop(name)
        if self._edge is not None:
            await self._edge.cleanup()
        await self.http.close()
        if self._server_cm is not None:
            await self._server_cm.__aexit__(None, None, None)


@contextlib.asynccontextmanager
async def run_roles(
    tmp_path: Path, database_url: str | None, nats_args: tuple[str, ...] = (), **overrides: Any
) -> AsyncIterator[Roles]:
    """nats-server + edge + registry + recorder + one worker, each with its own connection.
    ``nats_args`` go to nats-server (e.g. ``--user``/``--pass``)."""
    store = tmp_path / "jetstream"
    cm = start_nats_server(store, extra_args=nats_args)
    server = await cm.__aenter__()
    url = sql_url(database_url, tmp_path)
    settings = Settings.model_validate(
        {"nats_url": server.url, "database_url": url, "heartbeat_interval_s": 5.0, **overrides}
    )
    roles = Roles(
        settings=settings, store_dir=store, server=server, _server_cm=cm, nats_args=nats_args
    )
    engine = create_engine(url)
    try:
        await upgrade_database(url)
        nc = await connect(settings.nats, "qhana-test-setup")
        await apply_streams(nc.jetstream(), limits=settings.queue_limits)
        await nc.close()
        roles.start("registry", lambda stop: run_registry(settings, engine, stop))
        roles.start_recorder(engine)
        await asyncio.wait_for(roles.start_worker().wait(), 30)
        roles._edge = await serve_edge(create_app(settings), "127.0.0.1", 0)
        roles.base = f"http://127.0.0.1:{bound_port(roles._edge)}/"
        yield roles
    finally:
        await roles.close()
        await engine.dispose()
