"""The registry sleeps until a sweep has work: a beat flush, a runner's deadline, a change.

It used to tick every 20 ms whether or not anything was due: ~50 wake-ups a second of an
idle ``qhana up`` for the registry alone, and CPU taken from busy workers on a small machine.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from nats.aio.client import Client
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from support.registry import announce, info

from qhana.bus import apply_streams, subjects
from qhana.db import create_engine, upgrade_database
from qhana.db.tables import runners
from qhana.registry import Registry
from qhana.wire import Heartbeat

BEAT_S = 0.2
BEATS = 10


async def _alive(engine: AsyncEngine, runner_id: str) -> bool:
    async with engine.connect() as conn:
        alive = await conn.scalar(select(runners.c.alive).where(runners.c.id == runner_id))
    return bool(alive)


async def test_sweeps_follow_beats_and_deadlines_not_a_clock(nc: Client, tmp_path: Path) -> None:
    await apply_streams(nc.jetstream())
    url = f"sqlite+aiosqlite:///{tmp_path / 'sweeps.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    registry = Registry(nc, engine, missed=3, sweep_s=0.02)
    sweeps = 0
    sweep = registry.sweep

    async def counted() -> None:
        nonlocal sweeps
        sweeps += 1
        await sweep()

    registry.sweep = counted  # type: ignore[method-assign]
    changes = await nc.subscribe(subjects.REGISTRY_CHANGED)
    stop = asyncio.Event()
    role = asyncio.create_task(registry.run(stop))
    try:
        await announce(nc, "r-sweeps", [info("swept")], interval_s=BEAT_S)
        await changes.next_msg(timeout=10)  # recorded
        before = sweeps
        for _ in range(BEATS):  # the fake runner's own pace
            beat = Heartbeat(runner_id="r-sweeps", sent_at=datetime.now(UTC))
            await nc.publish(subjects.heartbeat("r-sweeps"), beat.model_dump_json().encode())
            last_beat = time.monotonic()
            await asyncio.sleep(BEAT_S)
        beating = sweeps - before
        # one flush per beat (or per 0.25 s) and the deadlines they move; a 20 ms clock: ~100
        assert 1 <= beating <= 2 * BEATS + 3, beating
        # silence: nothing wakes the registry but the runner's deadline, where it is dead
        # (a change noticed earlier, a revival after a beat a loaded machine delayed, is
        # skipped: the runner's own row says when it is dead)
        while await _alive(engine, "r-sweeps"):
            await changes.next_msg(timeout=10)
        dead_after_s = time.monotonic() - last_beat
        assert dead_after_s < 3 * BEAT_S + 1.0, dead_after_s
        after_death = sweeps
        await asyncio.sleep(5 * BEAT_S)  # no runner left: nothing is due, nothing sweeps
        assert sweeps - before - beating <= 4, sweeps - before - beating
        assert sweeps == after_death
    finally:
        stop.set()
        await asyncio.wait_for(role, 10)
        await engine.dispose()
