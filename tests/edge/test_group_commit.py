"""Group commit: concurrent callers share transactions; a bad event fails only its caller."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from support.worker_context import accepted

from qhana.db.tables import metadata, tasks
from qhana.edge.group_commit import GroupCommit


async def test_concurrent_applies_are_all_committed_in_few_transactions() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    commits = GroupCommit(engine, max_batch=16)
    await asyncio.gather(*(commits.apply(accepted(i), i) for i in range(1, 65)))
    async with engine.connect() as conn:
        ids = (await conn.scalars(select(tasks.c.id).order_by(tasks.c.id))).all()
    assert ids == list(range(1, 65))
    assert 4 <= commits.transactions < 64  # shared transactions, at most 16 events each
    await engine.dispose()


async def test_a_failing_event_fails_only_its_own_caller() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    commits = GroupCommit(engine)
    bad = accepted(2, params={"x": object()})  # not JSON-serialisable: the insert fails
    results = await asyncio.gather(
        commits.apply(accepted(1), 1),
        commits.apply(bad, 2),
        commits.apply(accepted(3), 3),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    async with engine.connect() as conn:
        ids = (await conn.scalars(select(tasks.c.id).order_by(tasks.c.id))).all()
    assert ids == [1, 3]
    await engine.dispose()
