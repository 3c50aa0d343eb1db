"""Dialect-aware ``INSERT ... ON CONFLICT DO NOTHING``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

__all__ = ["insert_ignore", "insert_ignore_sync"]


def _statement(dialect: str, table: Table, values: dict[str, Any]) -> Insert:
    """The statement for ``dialect`` (``postgresql``, else SQLite's)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table).values(**values).on_conflict_do_nothing()
    return stmt


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless its primary/unique key exists; True if a row was inserted."""
    result = await conn.execute(_statement(conn.dialect.name, table, values))
    return bool(result.rowcount)


def insert_ignore_sync(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """``insert_ignore`` on a synchronous connection (``run_read`` / ``run_write``)."""
    result = conn.execute(_statement(conn.dialect.name, table, values))
    return bool(result.rowcount)
