"""Shared fixtures: a real nats-server and SQL per test (SQLite, and PostgreSQL when reachable)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.stack import Stack, start_stack

from qhana.settings import Settings

PG_URL = os.environ.get(
    "QHANA_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
FIXTURE_PLUGINS = Path(__file__).parent / "fixture_plugins"


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


async def _reset_postgres() -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest) -> str | None:
    """None = the SQLite file under the data dir (as `qhana up` does); else a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    reason = await _postgres_reachable()
    if reason:
        pytest.skip(reason)
    await _reset_postgres()
    return PG_URL


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
