"""The alembic migrations build exactly the schema ``qhana/db/tables.py`` declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from qhana.db import create_engine, upgrade_database
from qhana.db.tables import metadata


async def test_migrated_schema_matches_the_tables(database_url: str | None, tmp_path: Any) -> None:
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    await upgrade_database(url)

    def _diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return [d for d in compare_metadata(context, metadata) if "alembic_version" not in repr(d)]

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()
