"""``qhana db upgrade``: run the alembic migrations of ``migrations/`` on the database.

Importing alembic (mako, the DDL modules of every dialect) and reading ``migrations/`` is
a tenth of ``qhana up``'s start and keeps ~10 MiB resident, and most starts need none of
it. So ``upgrade_database(url)`` first compares the ``alembic_version`` rows with ``HEADS``
(the heads of ``migrations/versions``, kept true by tests/db/test_migrations.py):

* equal (a restart): nothing to do;
* no table at all (a first start): the tables of ``qhana/db/tables.py`` (``create_all``),
  stamped with ``HEADS``, alembic's own recipe for a new database; the tests check it is
  the schema the migrations build;
* anything else (an older revision, or a newer one alembic should complain about): alembic.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from qhana.db.engine import create_engine, shown_url
from qhana.db.tables import metadata
from qhana.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEADS", "alembic_config", "current_revisions", "upgrade_database"]

HEADS = frozenset({"0002_registry", "0004_inline_files"})
"""The head revisions of ``migrations/versions`` (two branches off ``0001``)."""

_VERSION_TABLE = "alembic_version"  # alembic's default; migrations/env.py keeps it
# alembic's version table, as alembic creates it (a MetaData of its own: not a model table)
_VERSIONS = Table(
    _VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _migrations_dir() -> Path:
    for path in (
        Path(__file__).resolve().parents[2] / "migrations",
        Path(sys.prefix) / "share" / "qhana" / "migrations",
    ):
        if (path / "env.py").is_file():
            return path
    raise ConfigError("migrations/ not found")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revisions in ``alembic_version`` (empty for a database alembic never touched),
    looked up as alembic does: the table as the connection's search path finds it."""
    if not inspect(connection).has_table(_VERSION_TABLE):
        return frozenset()
    rows = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}"))
    return frozenset(str(row[0]) for row in rows)


def _create_at_heads(connection: Connection) -> None:
    """A new database: the declared tables, stamped with ``HEADS`` (what ``alembic stamp``
    writes: one row per head)."""
    metadata.create_all(connection)
    _VERSIONS.create(connection)
    connection.execute(_VERSIONS.insert(), [{"version_num": head} for head in sorted(HEADS)])


def _upgrade(connection: Connection, url: str, revision: str) -> None:
    if revision == "heads":
        if current_revisions(connection) == HEADS:
            return  # already current: no alembic import, no migrations/ scan
        if not inspect(connection).get_table_names():
            _create_at_heads(connection)
            return
    from alembic import command

    cfg = alembic_config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade_database(url: str, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (idempotent). A database that cannot be reached
    or opened (refused, no such database, bad credentials) is a ``ConfigError`` naming it."""
    engine = create_engine(url)
    connected = False
    try:
        async with engine.begin() as conn:
            connected = True
            await conn.run_sync(_upgrade, url, revision)
    except (DBAPIError, OSError) as exc:
        if connected:  # the upgrade itself failed: not a set-up mistake, the whole story
            raise
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError(f"cannot open the database {shown_url(url)}: {reason}") from exc
    finally:
        await engine.dispose()
