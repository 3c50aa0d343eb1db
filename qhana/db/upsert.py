"""Dialect-aware ``INSERT ... ON CONFLICT DO NOTHING``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["insert_ignore"]


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its primary/unique key exists; True if a row was inserted."""
    dialect = conn.dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return bool(result.rowcount)
