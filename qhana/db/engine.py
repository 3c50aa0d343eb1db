"""Creating the async engine: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["create_engine", "is_sqlite"]


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; creates the folder of a SQLite file."""
    parsed = make_url(url)
    if is_sqlite(url):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite has one writer at a time anyway, and writers of one process
        # that queue on the pool wait FIFO instead of sleeping in SQLite's busy handler (which
        # backs off up to 100 ms per try and starved submits into "database is locked").
        engine = create_async_engine(
            url, connect_args={"timeout": 10}, pool_size=1, max_overflow=0, pool_timeout=60
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
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
