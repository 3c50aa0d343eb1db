"""registry API tables: seeds, services, env, UI templates and tabs, registry sessions

Revision ID: 0002_registry
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_registry"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seeds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seeds")),
        sa.UniqueConstraint("url", name=op.f("uq_seeds_url")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("service_id", name=op.f("uq_services_service_id")),
    )
    op.create_table(
        "env_entries",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_env_entries")),
    )
    op.create_table(
        "ui_templates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_templates")),
    )
    op.create_table(
        "ui_template_tabs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon", sa.String(length=64), nullable=True),
        sa.Column("location", sa.String(length=255), nullable=False),
        sa.Column("group_key", sa.String(length=32), nullable=False),
        sa.Column("sort_key", sa.Integer(), nullable=False),
        sa.Column("filter_string", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["ui_templates.id"],
            name=op.f("fk_ui_template_tabs_template_id_ui_templates"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_template_tabs")),
    )
    op.create_index(op.f("ix_ui_template_tabs_template_id"), "ui_template_tabs", ["template_id"])
    op.create_table(
        "registry_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("last_alive", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_sessions")),
    )


def downgrade() -> None:
    op.drop_table("registry_sessions")
    op.drop_index(op.f("ix_ui_template_tabs_template_id"), table_name="ui_template_tabs")
    op.drop_table("ui_template_tabs")
    op.drop_table("ui_templates")
    op.drop_table("env_entries")
    op.drop_table("services")
    op.drop_table("seeds")
