"""``qhana db upgrade``: run the alembic migrations of ``migrations/`` on the database."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from qhana.db.engine import create_engine
from qhana.errors import ConfigError

__all__ = ["alembic_config", "upgrade_database"]


def _migrations_dir() -> Path:
    for path in (
        Path(__file__).resolve().parents[2] / "migrations",
        Path(sys.prefix) / "share" / "qhana" / "migrations",
    ):
        if (path / "env.py").is_file():
            return path
    raise ConfigError("migrations/ not found")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


async def upgrade_database(url: str, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    cfg = alembic_config(url)

    def _upgrade(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()
