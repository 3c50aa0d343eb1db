"""The edge's cached view of the plugin catalogue (read from SQL, refreshed when stale)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from sqlalchemy.ext.asyncio import AsyncEngine

from qhana.bus import subjects
from qhana.db.catalogue import CatalogueEntry, list_catalogue

__all__ = ["CatalogueCache"]


class CatalogueCache:
    """All known plugins; re-read at most every ``ttl_s`` seconds or after ``invalidate()``."""

    def __init__(self, engine: AsyncEngine, ttl_s: float = 0.5) -> None:
        self._engine = engine
        self._ttl_s = ttl_s
        self._entries: list[CatalogueEntry] = []
        self._by_identifier: dict[str, CatalogueEntry] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._memo: dict[Hashable, Any] = {}  # derived values of the current entries
        self._generation = 0  # bumped by invalidate(); a load that saw a bump stays stale
        self._changes: Subscription | None = None

    def invalidate(self) -> None:
        self._generation += 1
        self._loaded_at = float("-inf")

    async def follow(self, nc: Client) -> None:
        """Invalidate whenever the registry reports a committed change (no TTL wait)."""

        async def _changed(_msg: Msg) -> None:
            self.invalidate()

        self._changes = await nc.subscribe(subjects.REGISTRY_CHANGED, cb=_changed)

    async def unfollow(self) -> None:
        if self._changes is not None:
            with contextlib.suppress(Exception):
                await self._changes.unsubscribe()
            self._changes = None

    async def entries(self) -> list[CatalogueEntry]:
        if time.monotonic() - self._loaded_at > self._ttl_s:
            async with self._lock:
                if time.monotonic() - self._loaded_at > self._ttl_s:
                    generation = self._generation
                    async with self._engine.connect() as conn:
                        entries = await list_catalogue(conn, include_unavailable=True)
                    # plugins of upstream runners (registry seed bridge) are not served here
                    entries = [e for e in entries if e.info.api_root is None]
                    self._entries = entries
                    self._by_identifier = {e.info.identifier: e for e in entries}
                    self._memo = {}
                    if generation == self._generation:
                        self._loaded_at = time.monotonic()
        return self._entries

    async def memo(self, key: Hashable, build: Callable[[list[CatalogueEntry]], Any]) -> Any:
        """``build(entries)``, computed once per catalogue refresh (e.g. a rendered body)."""
        entries = await self.entries()
        memo = self._memo
        if key not in memo:
            memo[key] = build(entries)
        return memo[key]

    async def available(self) -> list[CatalogueEntry]:
        return [e for e in await self.entries() if e.available]

    async def get(self, identifier: str) -> CatalogueEntry | None:
        await self.entries()
        entry = self._by_identifier.get(identifier)
        if entry is None:  # maybe announced a moment ago
            self.invalidate()
            await self.entries()
            entry = self._by_identifier.get(identifier)
        return entry

    async def name_and_version(self, identifier: str) -> tuple[str, str] | None:
        """The plugin's name and version (``qhana.edge.unrecorded.PluginNames``)."""
        entry = await self.get(identifier)
        return None if entry is None else (entry.info.name, entry.info.version)
