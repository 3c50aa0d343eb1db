"""Seed bridge: polls unmodified upstream runners and announces their plugins as events.

Each seed (a runner root, or a single plugin root) becomes the runner ``seed:<url>``: its
plugins enter the catalogue through the same ``qhana.plugins.announce.<runner>`` path as our
workers, and the bridge beats that runner's heart while the seed answers. A seed that fails
(unreachable, HTTP error, malformed JSON) is logged and its beats stop, so its plugins turn
unavailable after the usual missed beats; nothing a seed returns can break the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import subjects
from qhana.db import registry_store as store
from qhana.logging import get_logger
from qhana.registry.seed_metadata import UrlMap, is_plugin, plugin_info
from qhana.settings import Settings
from qhana.wire import Announce, Heartbeat, PluginInfo, Withdraw

__all__ = ["SeedBridge", "seed_runner_id"]

log = get_logger("qhana.registry.seeds")


def seed_runner_id(url: str) -> str:
    return f"seed:{url}"


class SeedBridge:
    def __init__(self, nc: Client, engine: AsyncEngine, settings: Settings) -> None:
        self._nc = nc
        self._engine = engine
        self._interval_s = settings.plugin_discovery_interval
        self._batch = settings.plugin_batch_size
        self._beat_s = settings.heartbeat_interval_s
        self._from_local = UrlMap(settings.url_map_from_localhost)
        self._to_local = UrlMap(settings.url_map_to_localhost)
        self._announced: dict[str, list[PluginInfo]] = {}
        self._healthy: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def _get_json(self, url: str, timeout_s: float) -> Any:
        assert self._http is not None
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self._http.get(self._from_local(url), timeout=timeout) as resp:
            resp.raise_for_status()
            return json.loads(await resp.read())

    async def _plugin(self, url: str) -> PluginInfo | None:
        try:
            doc = await self._get_json(url, 5)
            if not is_plugin(doc):
                raise ValueError("not a plugin metadata document")
            return plugin_info(doc, url, self._to_local)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("seed.plugin_failed", url=url, error=str(exc)[:300])
            return None

    async def _discover(self, seed: str) -> list[PluginInfo]:
        doc = await self._get_json(seed, 5)
        if is_plugin(doc):
            return [plugin_info(doc, seed, self._to_local)]
        listing = await self._get_json(seed.rstrip("/") + "/plugins", 10)
        entries = listing.get("plugins") if isinstance(listing, dict) else None
        if not isinstance(entries, list):
            raise ValueError("the runner's /plugins answer has no plugins list")
        roots = [str(e["apiRoot"]) for e in entries if isinstance(e, dict) and e.get("apiRoot")]
        found: list[PluginInfo] = []
        for start in range(0, len(roots), self._batch):
            batch = roots[start : start + self._batch]
            found += [p for p in await asyncio.gather(*map(self._plugin, batch)) if p]
        return found

    async def poll(self, seed: str) -> bool:
        """Poll one seed now; True if it answered."""
        runner_id = seed_runner_id(seed)
        async with self._locks.setdefault(seed, asyncio.Lock()):
            try:
                found = await self._discover(seed)
            except (aiohttp.ClientError, TimeoutError, ValueError, LookupError, TypeError) as exc:
                log.warning("seed.poll_failed", seed=seed, error=str(exc)[:300])
                self._healthy.discard(runner_id)
                return False
            self._healthy.add(runner_id)
            if self._announced.get(runner_id) != found:
                await self._announce(runner_id, found)
            return True

    async def _announce(self, runner_id: str, found: list[PluginInfo]) -> None:
        message = Announce(
            runner_id=runner_id,
            queues=[],
            plugins=found,
            heartbeat_interval_s=self._beat_s,
            sent_at=datetime.now(UTC),
        )
        await self._nc.jetstream().publish(
            subjects.announce(runner_id), message.model_dump_json().encode()
        )
        self._announced[runner_id] = found
        log.info("seed.announced", runner_id=runner_id, plugins=len(found))

    async def forget(self, seed: str) -> None:
        runner_id = seed_runner_id(seed)
        self._healthy.discard(runner_id)
        self._announced.pop(runner_id, None)
        message = Withdraw(runner_id=runner_id, sent_at=datetime.now(UTC), reason="seed deleted")
        await self._nc.jetstream().publish(
            subjects.withdraw(runner_id), message.model_dump_json().encode()
        )

    async def _seeds(self) -> list[str]:
        async with self._engine.connect() as conn:
            return [row["url"] for row in await store.list_seeds(conn)]

    async def poll_all(self) -> None:
        seeds = await self._seeds()
        for gone in set(self._announced) - {seed_runner_id(s) for s in seeds}:
            await self.forget(gone.removeprefix("seed:"))
        for start in range(0, len(seeds), self._batch):
            await asyncio.gather(*map(self.poll, seeds[start : start + self._batch]))

    async def _handle(self, payload: dict[str, Any]) -> None:
        url = str(payload.get("url") or "")
        if payload.get("deleted"):
            await self.forget(url)
            return
        seeds = await self._seeds()
        chosen = [s for s in seeds if s == url] or [s for s in seeds if url.startswith(s)]
        for seed in chosen:
            await self.poll(seed)

    async def _on_request(self, msg: Msg) -> None:
        try:
            payload = json.loads(msg.data)
        except json.JSONDecodeError:
            return
        if isinstance(payload, dict):
            task = asyncio.create_task(self._handle(payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _beat_forever(self) -> None:
        while True:
            for runner_id in list(self._healthy):
                beat = Heartbeat(runner_id=runner_id, sent_at=datetime.now(UTC))
                with contextlib.suppress(Exception):
                    await self._nc.publish(
                        subjects.heartbeat(runner_id), beat.model_dump_json().encode()
                    )
            await asyncio.sleep(self._beat_s)

    async def _poll_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_all()
            except Exception as exc:  # e.g. the database is briefly away
                log.warning("seed.poll_all_failed", error=repr(exc))
            if self._interval_s < 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval_s)

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as http:
            self._http = http
            sub = await self._nc.subscribe(subjects.SEED_POLL, cb=self._on_request)
            beats = asyncio.create_task(self._beat_forever())
            try:
                await self._poll_forever(stop)
                await stop.wait()
            finally:
                beats.cancel()
                for task in [beats, *self._tasks]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
