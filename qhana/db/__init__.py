"""SQL: tables, engine, the task projector, read views and the plugin catalogue."""

from qhana.db.engine import create_engine, is_sqlite
from qhana.db.migrate import upgrade_database

__all__ = ["create_engine", "is_sqlite", "upgrade_database"]
