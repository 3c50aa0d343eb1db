"""Runner liveness: dead once the ``missed``-th beat since the last one is due (less the
registry's notice margin), and the earliest next deadline for the registry's sweeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from qhana.db.catalogue import mark_dead_runners
from qhana.db.tables import metadata, runners

LAST = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


async def test_deadline_is_the_third_beat_less_the_notice_margin() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for runner_id, last, interval in (("a", LAST, 1.0), ("b", LAST, 0.2), ("c", None, 1.0)):
            await conn.execute(
                insert(runners).values(
                    id=runner_id,
                    queues=["default"],
                    load_errors=[],
                    heartbeat_interval_s=interval,
                    last_heartbeat=last,
                    alive=True,
                )
            )
        # 1 s beats: due at +3.0 s, declared from +2.9 s; 0.2 s beats: +0.6 - 0.02 s
        dead, deadline = await mark_dead_runners(conn, LAST + timedelta(seconds=0.5), 3)
        assert dead == ["c"] and deadline == LAST + timedelta(seconds=0.58)
        dead, deadline = await mark_dead_runners(conn, LAST + timedelta(seconds=2.85), 3)
        assert dead == ["b"] and deadline == LAST + timedelta(seconds=2.9)
        dead, deadline = await mark_dead_runners(conn, LAST + timedelta(seconds=2.91), 3)
        assert dead == ["a"] and deadline is None
        alive = (await conn.scalars(select(runners.c.id).where(runners.c.alive))).all()
    assert alive == []
    await engine.dispose()
