"""Creating the async engine: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = ["SqliteEngine", "create_engine", "is_sqlite"]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SQLITE_READERS = 4


class SqliteEngine(AsyncEngine):
    """SQLite with one writer at a time per process and a few concurrent readers.

    ``begin()`` (every write of qhana goes through it) waits FIFO on an asyncio lock before it
    takes a connection, so writers of one process never meet in SQLite's busy handler (which
    sleeps up to 100 ms per try and starved submits into "database is locked"). ``connect()``
    (reads) takes any free pooled connection: in WAL mode readers neither wait for the writer
    nor block it, so a task GET, an SSE open or the webhook look-ups no longer queue behind
    a recorder batch.
    """

    __slots__ = ("_write_lock",)

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(sync_engine)
        self._write_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, super().begin() as conn:
            yield conn


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; creates the folder of a SQLite file."""
    parsed = make_url(url)
    if is_sqlite(url):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": 10},
            pool_size=SQLITE_READERS,
            max_overflow=0,
            pool_timeout=60,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return SqliteEngine(engine.sync_engine)
    return _postgres_engine(url)


def _postgres_engine(url: str) -> AsyncEngine:
    """PostgreSQL; ``?search_path=<schema>`` in the URL keeps all tables in that schema."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    search_path = parsed.query.get("search_path")
    if search_path:
        parsed = parsed.difference_update_query(["search_path"])
        connect_args["server_settings"] = {"search_path": str(search_path)}
    return create_async_engine(
        parsed, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )
