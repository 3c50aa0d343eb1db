"""Shared fixtures: a real nats-server and SQL per test (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import nats
from nats.aio.client import Client
from support.stack import Stack, start_stack

from qhana.bus import start_nats_server
from qhana.settings import Settings

# the `browser` fixture (Debian chromium via playwright) for tests/browser
pytest_plugins = ["support.browser"]

PG_URL = os.environ.get(
    "QHANA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
FIXTURE_PLUGINS = Path(__file__).parent / "fixture_plugins"


@pytest.fixture
async def nc(tmp_path: Path) -> AsyncIterator[Client]:
    """One client of a nats-server of its own (no stack); a module with other needs
    defines its own ``nc``."""
    async with start_nats_server(tmp_path / "js") as server:
        client = await nats.connect(server.url)
        try:
            yield client
        finally:
            await client.close()


# asyncpg's own DSN of PG_URL (QHANA_TEST_POSTGRES_URL lets a run use its own database)
PG_DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _postgres_reachable() -> str | None:
    try:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(PG_DSN), 3)
    except Exception as exc:
        return f"PostgreSQL at {PG_DSN} unreachable: {exc!r}"
    await conn.close()
    return None


async def _schema_sql(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def fresh_postgres_url() -> str:
    """A URL whose tables live in a new, empty schema: runs sharing the server never collide."""
    schema = "qhana_t_" + uuid.uuid4().hex[:12]
    await _schema_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}search_path={schema}"


async def drop_postgres_schema(url: str) -> None:
    schema = url.rsplit("search_path=", 1)[-1]
    await _schema_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    """None = the SQLite file under the data dir (as `qhana up` does); else a PostgreSQL URL
    of a schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield None
        return
    reason = await _postgres_reachable()
    if reason:
        pytest.skip(reason)
    url = await fresh_postgres_url()
    yield url
    await drop_postgres_schema(url)


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def stack_factory(tmp_path: Path, database_url: str | None) -> AsyncIterator[StackFactory]:
    """Start `qhana up` stacks (same data dir on restart); closes what it started."""
    started: list[Stack] = []

    async def _start(**overrides: object) -> Stack:
        values: dict[str, object] = {"heartbeat_interval_s": 0.2, **overrides}
        if database_url:
            values["database_url"] = database_url
        settings = Settings.model_validate(values)
        stack = await start_stack(tmp_path / "data", settings)
        started.append(stack)
        return stack

    yield _start
    for stack in started:
        if not stack.runner.done():
            await stack.close()


@pytest.fixture
async def stack(stack_factory: StackFactory) -> Stack:
    return await stack_factory()
