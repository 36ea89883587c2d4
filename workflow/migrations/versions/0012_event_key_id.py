"""the id of the key each history event is hashed with (NULL: plain sha256, before keying)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite keeps the table (and its append-only
    # triggers) instead of copying it, and the existing rows keep NULL.
    op.add_column("issue_events", sa.Column("key_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issue_events", recreate="never") as batch:
        batch.drop_column("key_id")
