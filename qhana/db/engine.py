"""Creating the async engine: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from qhana.errors import ConfigError

__all__ = ["SqliteEngine", "create_engine", "is_sqlite", "run_read", "run_write", "shown_url"]

P = ParamSpec("P")
T = TypeVar("T")


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

    __slots__ = ("_write_lock", "_plain", "_threads")

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(sync_engine)
        self._write_lock = asyncio.Lock()
        self._plain: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_lock, super().begin() as conn:
            yield conn

    def _plain_engine(self) -> tuple[Engine, ThreadPoolExecutor]:
        """The same file through plain ``sqlite3`` connections, each used by one thread of a
        small pool at a time (made on first use)."""
        if self._plain is None or self._threads is None:
            size = SQLITE_READERS + 1  # the readers and the one writer
            self._plain = create_sync_engine(
                self.url.set(drivername="sqlite"),
                connect_args={"timeout": 10, "check_same_thread": False},
                pool_size=size,
                max_overflow=0,
                pool_timeout=60,
            )
            event.listen(self._plain, "connect", _sqlite_pragmas)
            self._threads = ThreadPoolExecutor(size, thread_name_prefix="qhana-sqlite")
        return self._plain, self._threads

    async def run_plain(self, write: bool, call: Callable[[Engine], T]) -> T:
        """``call(engine)`` in one hop to a thread; writes one at a time (the lock of
        ``begin``)."""
        plain, threads = self._plain_engine()
        loop = asyncio.get_running_loop()
        if not write:
            return await loop.run_in_executor(threads, call, plain)
        async with self._write_lock:
            work = loop.run_in_executor(threads, call, plain)
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                # a thread cannot be stopped: the lock stays held until its transaction
                # has committed or rolled back, so the next writer never meets it in SQLite
                await asyncio.wait([work])
                raise

    async def dispose(self, close: bool = True) -> None:
        await super().dispose(close)
        threads, self._threads = self._threads, None
        if threads is not None:  # lets a transaction still running in a thread finish
            await asyncio.get_running_loop().run_in_executor(None, threads.shutdown, True)
        if self._plain is not None:
            self._plain.dispose(close)
            self._plain = None


def _read_on(fn: Callable[..., T], args: Any, kwargs: Any, plain: Engine) -> T:
    with plain.connect() as conn:
        return fn(conn, *args, **kwargs)


def _write_on(fn: Callable[..., T], args: Any, kwargs: Any, plain: Engine) -> T:
    with plain.begin() as conn:
        return fn(conn, *args, **kwargs)


async def run_read(
    engine: AsyncEngine,
    fn: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``fn(conn, *args)`` on a connection of ``engine``, all its statements in one go.

    On SQLite that is one hop to a thread with a plain ``sqlite3`` connection: through
    aiosqlite every cursor call is a hop of its own (a task GET: ~13 hops, ~5x the CPU).
    On PostgreSQL ``fn`` runs on the async connection (``run_sync``)."""
    if isinstance(engine, SqliteEngine):
        return await engine.run_plain(False, functools.partial(_read_on, fn, args, kwargs))
    async with engine.connect() as conn:
        return await conn.run_sync(fn, *args, **kwargs)


async def run_write(
    engine: AsyncEngine,
    fn: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``fn(conn, *args)`` in one transaction of ``engine`` (committed when ``fn`` returns,
    rolled back when it raises); on SQLite in one hop, one writer at a time."""
    if isinstance(engine, SqliteEngine):
        return await engine.run_plain(True, functools.partial(_write_on, fn, args, kwargs))
    async with engine.begin() as conn:
        return await conn.run_sync(fn, *args, **kwargs)


def create_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; creates the folder of a SQLite file. A URL whose driver is
    not installed or that cannot be parsed is a ``ConfigError`` (password hidden)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"cannot parse the database URL: {exc}") from None
    try:
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
    except (ImportError, NoSuchModuleError, ArgumentError, OSError) as exc:
        raise ConfigError(
            f"cannot use the database {shown_url(url)}: {type(exc).__name__}: {exc}"
        ) from exc


def shown_url(url: str) -> str:
    """``url`` as it may appear in a message or log: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


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
