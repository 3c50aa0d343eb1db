"""SQLite engine: writers of one process take turns (FIFO), readers never wait for them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select, text

from qhana.db import create_engine
from qhana.db.engine import SqliteEngine


async def _engine(tmp_path: Path) -> SqliteEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert isinstance(engine, SqliteEngine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (0)"))
    return engine


async def test_a_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    writing, release = asyncio.Event(), asyncio.Event()

    async def _writer() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            writing.set()
            await release.wait()

    writer = asyncio.create_task(_writer())
    await writing.wait()
    async with asyncio.timeout(2), engine.connect() as conn:  # one connection: a deadlock
        count = await conn.scalar(select(func.count()).select_from(text("t")))
    assert count == 1  # WAL: the reader sees the last commit, not the open transaction
    release.set()
    await writer
    await engine.dispose()


async def test_concurrent_writers_take_turns_without_busy_errors(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    order: list[int] = []

    async def _write(n: int) -> None:
        async with engine.begin() as conn:
            order.append(n)
            await conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0)  # give the others a chance to barge in
            await conn.execute(text("UPDATE t SET n = n WHERE n = :n"), {"n": n})

    await asyncio.gather(*(_write(n) for n in range(1, 41)))
    assert order == list(range(1, 41))  # FIFO
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(text("t"))) == 41
    await engine.dispose()
