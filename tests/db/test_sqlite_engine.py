"""SQLite engine: writers of one process take turns (FIFO), readers never wait for them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection

from qhana.db import create_engine
from qhana.db.engine import SqliteEngine, run_read, run_write


async def _engine(tmp_path: Path) -> SqliteEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert isinstance(engine, SqliteEngine)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (0)"))
    return engine


async def _hold_write(engine: SqliteEngine, writing: asyncio.Event, release: asyncio.Event) -> None:
    """A write transaction through ``begin`` that stays open until ``release``."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        writing.set()
        await release.wait()


async def test_a_reader_is_not_blocked_by_an_open_write_transaction(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    writing, release = asyncio.Event(), asyncio.Event()
    writer = asyncio.create_task(_hold_write(engine, writing, release))
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


def _count(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(text("t"))) or 0)


def _insert(conn: Connection, n: int, fail: bool = False) -> str:
    conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
    if fail:
        raise RuntimeError("no")
    return threading.current_thread().name


async def test_run_write_commits_in_one_hop_and_rolls_back_on_error(tmp_path: Path) -> None:
    engine = await _engine(tmp_path)
    thread = await run_write(engine, _insert, 1)
    assert thread.startswith("qhana-sqlite")  # a plain sqlite3 connection, off the loop
    with pytest.raises(RuntimeError):
        await run_write(engine, _insert, 2, fail=True)
    assert await run_read(engine, _count) == 2  # the row of 0, and 1; 2 was rolled back
    async with engine.connect() as conn:  # the async connections see the same file
        assert await conn.scalar(select(func.count()).select_from(text("t"))) == 2
    await engine.dispose()


async def test_run_write_takes_turns_with_begin(tmp_path: Path) -> None:
    """``run_write`` and ``begin`` share the writers' lock: a write transaction held open
    by ``begin`` makes ``run_write`` wait (no "database is locked" from SQLite)."""
    engine = await _engine(tmp_path)
    writing, release = asyncio.Event(), asyncio.Event()

    def _insert_when_entered(conn: Connection) -> str:
        entered.set()
        return _insert(conn, 2)

    entered = threading.Event()
    holder = asyncio.create_task(_hold_write(engine, writing, release))
    await writing.wait()
    plain = asyncio.create_task(run_write(engine, _insert_when_entered))
    # without the lock the thread would be in SQLite's busy handler by now
    assert not await asyncio.to_thread(entered.wait, 0.2)
    assert not plain.done()
    release.set()
    await holder
    await plain
    assert await run_read(engine, _count) == 3
    await engine.dispose()


async def test_a_cancelled_run_write_holds_the_lock_until_its_thread_is_done(
    tmp_path: Path,
) -> None:
    engine = await _engine(tmp_path)
    entered, release = threading.Event(), threading.Event()

    def _slow(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        entered.set()
        release.wait(10)

    writing = asyncio.create_task(run_write(engine, _slow))
    assert await asyncio.to_thread(entered.wait, 10)
    writing.cancel()
    began = asyncio.Event()

    async def _next_writer() -> None:
        async with engine.begin() as conn:
            began.set()
            await conn.execute(text("INSERT INTO t VALUES (2)"))

    other = asyncio.create_task(_next_writer())
    with pytest.raises(TimeoutError):  # the cancelled write's thread still holds SQLite
        await asyncio.wait_for(asyncio.shield(began.wait()), 0.2)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await other
    assert await run_read(engine, _count) == 3  # the cancelled caller's write committed
    await engine.dispose()
