"""The alembic migrations build exactly the schema ``qhana/db/tables.py`` declares, a new
database built from the tables is that schema too, and ``upgrade_database`` runs alembic
whenever a database with tables is not at ``HEADS``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import drop_postgres_schema, fresh_postgres_url
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from qhana.db import create_engine, upgrade_database
from qhana.db.migrate import HEADS, current_revisions
from qhana.db.tables import metadata


async def _migrate(url: str, revision: str = "heads", *, down: bool = False) -> None:
    """Run the migrations themselves (``upgrade_database`` builds a new database without)."""
    from alembic import command

    from qhana.db.migrate import alembic_config

    def _run(conn: Connection) -> None:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": False})
    return [d for d in compare_metadata(context, metadata) if "alembic_version" not in repr(d)]


async def _run_sync(url: str, read: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_tables(database_url: str | None, tmp_path: Any) -> None:
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await _migrate(url)
    assert await _run_sync(url, _diff) == []


def _schema(conn: Connection) -> dict[str, Any]:
    """Everything the inspector reports of every table, alembic's version table included."""
    insp = inspect(conn)
    return {
        name: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(name)
            ],
            "pk": insp.get_pk_constraint(name),
            "fks": sorted(map(repr, insp.get_foreign_keys(name))),
            "indexes": sorted(map(repr, insp.get_indexes(name))),
            "unique": sorted(map(repr, insp.get_unique_constraints(name))),
            "checks": sorted(map(repr, insp.get_check_constraints(name))),
        }
        for name in sorted(insp.get_table_names())
    }


async def test_a_new_database_is_the_migrated_schema(
    database_url: str | None, tmp_path: Any
) -> None:
    """``upgrade_database`` on an empty database: the tables plus HEADS, exactly what the
    migrations leave (so later migrations and alembic itself find what they expect)."""
    new = database_url or f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"
    migrated = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    if database_url:
        migrated = await fresh_postgres_url()
    try:
        await upgrade_database(new)
        await _migrate(migrated)
        assert await _run_sync(new, _schema) == await _run_sync(migrated, _schema)
    finally:
        if database_url:
            await drop_postgres_schema(migrated)
    assert (await _revisions_and_columns(new))[0] == HEADS
    await _migrate(new, "0003_runner_api", down=True)  # alembic can work on it
    revisions, columns = await _revisions_and_columns(new)
    assert revisions == {"0002_registry", "0003_runner_api"} and "content" not in columns
    await upgrade_database(new)
    revisions, columns = await _revisions_and_columns(new)
    assert revisions == HEADS and "content" in columns


def test_heads_constant_is_the_heads_of_migrations(tmp_path: Any) -> None:
    """``HEADS`` lets a restart skip alembic: it must name exactly alembic's heads."""
    from alembic.script import ScriptDirectory

    from qhana.db.migrate import HEADS, alembic_config

    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert frozenset(script.get_heads()) == HEADS, (
        "a migration was added: set HEADS in qhana/db/migrate.py to the new heads"
    )


async def _revisions_and_columns(url: str) -> tuple[frozenset[str], set[str]]:
    def _read(conn: Connection) -> tuple[frozenset[str], set[str]]:
        columns = {c["name"] for c in inspect(conn).get_columns("task_files")}
        return current_revisions(conn), columns

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_read)
    finally:
        await engine.dispose()


async def test_an_older_revision_is_upgraded(database_url: str | None, tmp_path: Any) -> None:
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_database(url, "0003_runner_api")  # before inline files, one branch only
    revisions, columns = await _revisions_and_columns(url)
    assert revisions == {"0003_runner_api"} and "content" not in columns

    await upgrade_database(url)

    revisions, columns = await _revisions_and_columns(url)
    assert revisions == HEADS and "content" in columns


def _alembic_imported_by_upgrade(url: str) -> bool:
    """Run ``upgrade_database(url)`` in a fresh interpreter: did it import alembic?"""
    code = (
        "import asyncio, sys\n"
        "from qhana.db import upgrade_database\n"
        f"asyncio.run(upgrade_database({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.strip() == "True"


async def test_alembic_runs_only_when_the_schema_is_not_at_head(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'q.db'}"
    assert not await asyncio.to_thread(_alembic_imported_by_upgrade, url)  # a new database
    assert (await _revisions_and_columns(url))[0] == HEADS
    assert not await asyncio.to_thread(_alembic_imported_by_upgrade, url)  # a restart
    assert (await _revisions_and_columns(url))[0] == HEADS
    older = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_database(older, "0003_runner_api")
    assert await asyncio.to_thread(_alembic_imported_by_upgrade, older)  # behind: alembic
    assert (await _revisions_and_columns(older))[0] == HEADS


async def test_an_unknown_revision_still_fails_in_alembic(tmp_path: Any) -> None:
    """A database of a newer qhana is not taken for current: alembic says what is wrong."""
    from alembic.util.exc import CommandError

    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    await upgrade_database(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE alembic_version SET version_num = '0099_future'"
                    " WHERE version_num = '0004_inline_files'"
                )
            )
    finally:
        await engine.dispose()
    with pytest.raises(CommandError, match="0099_future"):
        await upgrade_database(url)
