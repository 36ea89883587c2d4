"""who accepted an issue and for which unit (谁验收、谁负责)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.add_column(sa.Column("accepted_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("accepted_unit", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("accepted_unit")
        batch.drop_column("accepted_by")
