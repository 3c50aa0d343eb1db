"""SQL tables: the task projection and the plugin catalogue (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from qhana.wire import TaskStatus

__all__ = [
    "metadata",
    "plugin_runners",
    "plugins",
    "runners",
    "task_commits",
    "task_files",
    "task_log",
    "task_steps",
    "tasks",
    "webhooks",
    "seeds",
    "services",
    "env_entries",
    "ui_templates",
    "ui_template_tabs",
    "registry_sessions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TZ = DateTime(timezone=True)

tasks = Table(
    "tasks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("plugin", String(255), nullable=True),
    Column("plugin_name", String(255), nullable=True),
    Column("plugin_version", String(64), nullable=True),
    Column("params", JSON, nullable=True),
    Column(
        "status",
        Enum(TaskStatus, name="task_status", native_enum=False, length=16),
        nullable=False,
        default=TaskStatus.PENDING,
    ),
    Column("created_at", TZ, nullable=True),
    Column("started_at", TZ, nullable=True),
    Column("finished_at", TZ, nullable=True),
    Column("progress_value", Float, nullable=True),
    Column("progress_start", Float, nullable=False, default=0),
    Column("progress_target", Float, nullable=False, default=100),
    Column("progress_unit", String(32), nullable=False, default="%"),
    Column("progress_seq", BigInteger, nullable=False, default=0),
    Column("failure_reason", Text, nullable=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
)

task_log = Table(
    "task_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("task_id", BigInteger, nullable=False, index=True),
    Column("cmd_seq", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("text", Text, nullable=False),
)

task_files = Table(
    "task_files",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("task_id", BigInteger, nullable=False, index=True),
    Column("cmd_seq", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("data_type", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("object_name", String(1024), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("token", String(64), nullable=False),
    Column("created_at", TZ, nullable=False),
    Column("content", LargeBinary, nullable=True),  # the bytes of an inline output
)

task_steps = Table(
    "task_steps",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("task_id", BigInteger, nullable=False, index=True),
    Column("step_id", String(255), nullable=False),
    Column("cleared", Boolean, nullable=False, default=False),
    Column("prefill", JSON, nullable=False),
)

task_commits = Table(
    "task_commits",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("cmd_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("attempt", Integer, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("task_id", BigInteger, nullable=False, index=True),
    Column("href", Text, nullable=False),
    Column("event", String(32), nullable=True),
    Column("source", Text, nullable=True),  # absolute task URL, captured at subscription
    UniqueConstraint("task_id", "href", "event", name="uq_webhooks_task_href_event"),
)

runners = Table(
    "runners",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("queues", JSON, nullable=False),
    Column("load_errors", JSON, nullable=False),
    Column("heartbeat_interval_s", Float, nullable=False, default=1.0),
    Column("announced_at", TZ, nullable=True),
    Column("last_heartbeat", TZ, nullable=True),
    Column("alive", Boolean, nullable=False, default=True),
)

plugins = Table(
    "plugins",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("identifier", String(320), nullable=False, unique=True),
    Column("title", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("type", String(32), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("info", JSON, nullable=False),
    Column("href", Text, nullable=True),
    Column("first_seen", TZ, nullable=False),
    Column("last_seen", TZ, nullable=False),
    Column("last_available", TZ, nullable=True),
    UniqueConstraint("name", "version", name="uq_plugins_name_version"),
)

plugin_runners = Table(
    "plugin_runners",
    metadata,
    Column("plugin_id", Integer, ForeignKey("plugins.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "runner_id", String(255), ForeignKey("runners.id", ondelete="CASCADE"), primary_key=True
    ),
)

Index("ix_task_files_task_cmd", task_files.c.task_id, task_files.c.cmd_seq)
Index("ix_task_log_task_cmd", task_log.c.task_id, task_log.c.cmd_seq)


# --- registry API (seeds, services, env, UI templates) and registry uptime for the purge ---

seeds = Table(
    "seeds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(1024), nullable=False, unique=True),
)

services = Table(
    "services",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("url", Text, nullable=False),
)

env_entries = Table(
    "env_entries",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

ui_templates = Table(
    "ui_templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", JSON, nullable=False),
)

ui_template_tabs = Table(
    "ui_template_tabs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "template_id",
        Integer,
        ForeignKey("ui_templates.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("icon", String(64), nullable=True),
    Column("location", String(255), nullable=False),
    Column("group_key", String(32), nullable=False, default=""),
    Column("sort_key", Integer, nullable=False, default=0),
    Column("filter_string", Text, nullable=False, default=""),
)

registry_sessions = Table(
    "registry_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", TZ, nullable=False),
    Column("last_alive", TZ, nullable=False),
)
