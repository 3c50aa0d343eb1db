"""inline outputs: small output bytes kept in SQL (``task_files.content``)

Small outputs travel inline in their ``output`` event; QHANA_EVENTS ages out (30 days by
default), SQL does not, so the recorder keeps the bytes in the file's row.

Revision ID: 0004_inline_files
Revises: 0003_runner_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_inline_files"
down_revision = "0003_runner_api"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_files", schema=None) as batch_op:
        batch_op.drop_column("content")
