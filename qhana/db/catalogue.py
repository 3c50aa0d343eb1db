"""The plugin catalogue: runners, plugins, and which live runner offers which plugin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db.tables import plugin_runners, plugins, runners
from qhana.db.upsert import insert_ignore
from qhana.wire import Announce, PluginInfo

__all__ = [
    "CatalogueEntry",
    "list_catalogue",
    "mark_dead_runners",
    "record_announce",
    "record_heartbeats",
    "record_withdraw",
    "touch_live",
]


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    id: int
    info: PluginInfo
    runners: list[str]
    first_seen: datetime
    last_seen: datetime
    last_available: datetime | None
    href: str | None

    @property
    def available(self) -> bool:
        return bool(self.runners)


async def _upsert_plugin(conn: AsyncConnection, info: PluginInfo, now: datetime) -> int:
    values: dict[str, Any] = {
        "title": info.title,
        "description": info.description,
        "type": info.type.value,
        "tags": list(info.tags),
        "info": info.model_dump(mode="json"),
        "last_seen": now,
        "last_available": now,
    }
    existing = await conn.scalar(
        select(plugins.c.id).where(plugins.c.identifier == info.identifier)
    )
    if existing is not None:
        await conn.execute(update(plugins).where(plugins.c.id == existing).values(values))
        return int(existing)
    result = await conn.execute(
        plugins.insert().values(
            name=info.name,
            version=info.version,
            identifier=info.identifier,
            first_seen=now,
            **values,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def record_announce(conn: AsyncConnection, announce: Announce, now: datetime) -> None:
    """A runner's full plugin set: upsert it and make it the runner's only offer."""
    values: dict[str, Any] = {
        "queues": announce.queues,
        "load_errors": [e.model_dump(mode="json") for e in announce.load_errors],
        "heartbeat_interval_s": announce.heartbeat_interval_s,
        "announced_at": announce.sent_at,
        "last_heartbeat": min(announce.sent_at, now),
        "alive": True,
    }
    if not await insert_ignore(conn, runners, {"id": announce.runner_id, **values}):
        await conn.execute(update(runners).where(runners.c.id == announce.runner_id).values(values))
    await conn.execute(
        delete(plugin_runners).where(plugin_runners.c.runner_id == announce.runner_id)
    )
    for info in announce.plugins:
        plugin_id = await _upsert_plugin(conn, info, announce.sent_at)
        await insert_ignore(
            conn, plugin_runners, {"plugin_id": plugin_id, "runner_id": announce.runner_id}
        )


async def _touch_last_available(
    conn: AsyncConnection, runner_ids: list[str], now: datetime
) -> None:
    if not runner_ids:
        return
    offered = select(plugin_runners.c.plugin_id).where(plugin_runners.c.runner_id.in_(runner_ids))
    await conn.execute(update(plugins).where(plugins.c.id.in_(offered)).values(last_available=now))


async def record_withdraw(conn: AsyncConnection, runner_id: str, now: datetime) -> None:
    await _touch_last_available(conn, [runner_id], now)
    await conn.execute(delete(plugin_runners).where(plugin_runners.c.runner_id == runner_id))
    await conn.execute(update(runners).where(runners.c.id == runner_id).values(alive=False))


async def record_heartbeats(conn: AsyncConnection, beats: Mapping[str, datetime]) -> list[str]:
    """Record beats; returns the runners that were dead and are alive again."""
    revived = await conn.execute(
        select(runners.c.id).where(runners.c.id.in_(list(beats)), runners.c.alive.is_(False))
    )
    back = [r.id for r in revived]
    for runner_id, at in beats.items():
        await conn.execute(
            update(runners).where(runners.c.id == runner_id).values(last_heartbeat=at, alive=True)
        )
    return back


# see mark_dead_runners; at 50 ms the bench's worst SIGKILL -> unlisted was 2.95 s of 3 s
NOTICE_S = 0.1


async def mark_dead_runners(
    conn: AsyncConnection, now: datetime, missed: int
) -> tuple[list[str], datetime | None]:
    """Runners whose ``missed``-th beat since their last one is due become dead; also the
    earliest moment another live runner can become dead (None: no live runner).

    The deadline is that beat's due time less a tenth of an interval (at most 100 ms): what
    the registry needs to notice (it sweeps at the deadline), commit and tell the edges, and an
    edge to reload its catalogue, with room for a loaded machine, so a SIGKILLed runner is
    unlisted no later than ``missed`` intervals after it died. A live runner beat twice
    since, so the early margin cannot cost it its place."""
    rows = await conn.execute(
        select(runners.c.id, runners.c.last_heartbeat, runners.c.heartbeat_interval_s).where(
            runners.c.alive.is_(True)
        )
    )
    dead: list[str] = []
    next_deadline: datetime | None = None
    for r in rows:
        if r.last_heartbeat is None:
            dead.append(r.id)
            continue
        interval_s = r.heartbeat_interval_s
        margin_s = min(NOTICE_S, interval_s / 10)
        deadline = _aware(r.last_heartbeat) + timedelta(seconds=missed * interval_s - margin_s)
        if deadline < now:
            dead.append(r.id)
        elif next_deadline is None or deadline < next_deadline:
            next_deadline = deadline
    if dead:
        await _touch_last_available(conn, dead, now)
        await conn.execute(update(runners).where(runners.c.id.in_(dead)).values(alive=False))
    return dead, next_deadline


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def list_catalogue(
    conn: AsyncConnection, *, include_unavailable: bool = False, identifier: str | None = None
) -> list[CatalogueEntry]:
    """Plugins with the ids of the live runners offering them.

    One statement, so plugins and their runners come from the same snapshot (on PostgreSQL
    two statements could see a plugin announced in between without its runner).
    """
    live = (
        select(plugin_runners.c.plugin_id, plugin_runners.c.runner_id)
        .join(runners, runners.c.id == plugin_runners.c.runner_id)
        .where(runners.c.alive.is_(True))
        .subquery("live")
    )
    query = (
        select(plugins, live.c.runner_id.label("live_runner"))
        .outerjoin(live, live.c.plugin_id == plugins.c.id)
        .order_by(plugins.c.name, plugins.c.version, plugins.c.id)
    )
    if identifier is not None:
        query = query.where(plugins.c.identifier == identifier)
    if not include_unavailable:
        query = query.where(live.c.runner_id.is_not(None))
    rows: dict[int, Any] = {}
    offered: dict[int, list[str]] = {}
    for row in await conn.execute(query):
        rows.setdefault(row.id, row)
        if row.live_runner is not None:
            offered.setdefault(row.id, []).append(row.live_runner)
    return [
        CatalogueEntry(
            id=row.id,
            info=PluginInfo.model_validate(row.info),
            runners=sorted(offered.get(row.id, [])),
            first_seen=_aware(row.first_seen),
            last_seen=_aware(row.last_seen),
            last_available=_aware(row.last_available) if row.last_available else None,
            href=row.href,
        )
        for row in rows.values()
    ]


async def touch_live(conn: AsyncConnection, now: datetime) -> None:
    """``last_available = now`` for every plugin a live runner offers (the registry saw it)."""
    offered = (
        select(plugin_runners.c.plugin_id)
        .join(runners, runners.c.id == plugin_runners.c.runner_id)
        .where(runners.c.alive.is_(True))
    )
    await conn.execute(update(plugins).where(plugins.c.id.in_(offered)).values(last_available=now))
