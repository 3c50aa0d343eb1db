"""Purge of long-unavailable plugins, counting only time the registry itself was running.

Each registry run is a row of ``registry_sessions`` (``started_at`` .. ``last_alive``). A
plugin's unavailability is the part of ``[last_available, now]`` covered by sessions, so a
registry that was down for a week purges nothing for that week.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from qhana.db.tables import plugin_runners, plugins, registry_sessions, runners

__all__ = ["observed_seconds", "purge_unavailable", "session_alive", "start_session"]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def start_session(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(registry_sessions.insert().values(started_at=now, last_alive=now))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def session_alive(conn: AsyncConnection, session_id: int, now: datetime) -> None:
    await conn.execute(
        update(registry_sessions).where(registry_sessions.c.id == session_id).values(last_alive=now)
    )


def observed_seconds(
    since: datetime, now: datetime, sessions: list[tuple[datetime, datetime]]
) -> float:
    """Seconds of ``[since, now]`` during which some registry session was running."""
    total = 0.0
    cursor = since
    for start, end in sorted(sessions):
        start, end = max(start, cursor), min(end, now)
        if end > start:
            total += (end - start).total_seconds()
            cursor = end
    return total


async def purge_unavailable(conn: AsyncConnection, now: datetime, after_s: float) -> list[str]:
    """Delete plugins no live runner offers that were observed unavailable for ``after_s``."""
    sessions = [
        (_aware(r.started_at), _aware(r.last_alive))
        for r in await conn.execute(select(registry_sessions))
    ]
    live = exists().where(
        plugin_runners.c.plugin_id == plugins.c.id,
        plugin_runners.c.runner_id == runners.c.id,
        runners.c.alive.is_(True),
    )
    rows = await conn.execute(
        select(
            plugins.c.id, plugins.c.identifier, plugins.c.last_available, plugins.c.first_seen
        ).where(~live)
    )
    doomed = {
        r.id: r.identifier
        for r in rows
        if observed_seconds(_aware(r.last_available or r.first_seen), now, sessions) > after_s
    }
    if doomed:
        await conn.execute(delete(plugin_runners).where(plugin_runners.c.plugin_id.in_(doomed)))
        await conn.execute(delete(plugins).where(plugins.c.id.in_(doomed)))
    return sorted(doomed.values())
