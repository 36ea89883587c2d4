"""the answers of write requests made with an Idempotency-Key, and objections from the public
during 公示 with their ticket numbers

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflow.models import UTCDateTime

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("etag", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("account_id", "key", name="uq_idempotency_keys_key"),
    )
    op.create_table(
        "public_objections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.String(32), nullable=False),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event_seq", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("ticket", name="uq_public_objections_ticket"),
    )
    op.create_index("ix_public_objections_issue_id", "public_objections", ["issue_id"])
    op.create_index("ix_public_objections_address_hash", "public_objections",
                    ["address_hash"])


def downgrade() -> None:
    op.drop_index("ix_public_objections_address_hash", "public_objections")
    op.drop_index("ix_public_objections_issue_id", "public_objections")
    op.drop_table("public_objections")
    op.drop_table("idempotency_keys")
