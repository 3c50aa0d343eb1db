"""Helpers for registry tests: fake runners on the bus, and waiting on catalogue changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import nats
from nats.aio.client import Client

from qhana.bus import subjects
from qhana.wire import Announce, DataSpec, PluginInfo, PluginType, Withdraw


def info(
    name: str,
    version: str = "v1.0.0",
    *,
    type: PluginType = PluginType.PROCESSING,
    tags: tuple[str, ...] = (),
    title: str | None = None,
    inputs: tuple[tuple[str, list[str]], ...] = (),
) -> PluginInfo:
    return PluginInfo(
        name=name,
        version=version,
        title=title or name,
        description=f"{name} for tests",
        type=type,
        tags=list(tags),
        input_schema={},
        data_input=[
            DataSpec(data_type=d, content_type=c, required=True, parameter=f"in{i}")
            for i, (d, c) in enumerate(inputs)
        ],
    )


async def announce(
    nc: Client, runner_id: str, plugins: list[PluginInfo], interval_s: float = 3600
) -> None:
    """A fake runner (its long heartbeat interval keeps it alive without beats)."""
    message = Announce(
        runner_id=runner_id,
        queues=["fake"],
        plugins=plugins,
        heartbeat_interval_s=interval_s,
        sent_at=datetime.now(UTC),
    )
    await nc.jetstream().publish(subjects.announce(runner_id), message.model_dump_json().encode())


async def withdraw(nc: Client, runner_id: str) -> None:
    message = Withdraw(runner_id=runner_id, sent_at=datetime.now(UTC))
    await nc.jetstream().publish(subjects.withdraw(runner_id), message.model_dump_json().encode())


class Watch:
    """GET a registry URL each time the registry reports a change, until a predicate holds."""

    def __init__(self, nats_url: str, http: aiohttp.ClientSession) -> None:
        self.nats_url = nats_url
        self.http = http
        self.nc: Client | None = None
        self.changes: asyncio.Queue[None] = asyncio.Queue()

    async def __aenter__(self) -> Watch:
        self.nc = await nats.connect(self.nats_url)

        async def _cb(_: Any) -> None:
            self.changes.put_nowait(None)

        await self.nc.subscribe(subjects.REGISTRY_CHANGED, cb=_cb)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.nc is not None
        await self.nc.close()

    async def get(self, url: str) -> dict[str, Any]:
        async with self.http.get(url) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            assert resp.headers["Content-Type"] == "application/json"
            body: dict[str, Any] = await resp.json()
            return body

    async def until(
        self, url: str, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 60
    ) -> dict[str, Any]:
        last: dict[str, Any] | None = None
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    while not self.changes.empty():
                        self.changes.get_nowait()
                    last = await self.get(url)
                    if predicate(last):
                        return last
                    await self.changes.get()
        except TimeoutError:
            seen = [
                (e["data"].get("identifier"), e["data"].get("runners"))
                for e in (last or {}).get("embedded", [])
            ]
            raise AssertionError(
                f"{url}: condition not met in {timeout_s}s; last: {seen}"
            ) from None


def names(page: dict[str, Any]) -> list[str]:
    return [item["data"]["identifier"] for item in page.get("embedded", [])]
