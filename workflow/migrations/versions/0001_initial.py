"""Definitions, issues and the append-only, hash-chained issue history.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflow.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY_SQLITE = """
CREATE TRIGGER issue_events_append_only_{op} BEFORE {OP} ON issue_events
BEGIN SELECT RAISE(ABORT, 'issue_events is append-only: history is never {op}d'); END
"""
APPEND_ONLY_POSTGRES = """
CREATE FUNCTION issue_events_append_only() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'issue_events is append-only: % refused', TG_OP; END
$$ LANGUAGE plpgsql;
CREATE TRIGGER issue_events_append_only BEFORE UPDATE OR DELETE ON issue_events
FOR EACH ROW EXECUTE FUNCTION issue_events_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "process_definitions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("label_zh", sa.String(200), nullable=False),
        sa.Column("label_en", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan", sa.String(200)),
        sa.Column("number", sa.String(50)),
        sa.Column("category", sa.String(200)),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("measures", sa.Text),
        sa.Column("leader", sa.String(200)),
        sa.Column("lead_unit", sa.String(200)),
        sa.Column("unit", sa.String(200)),
        sa.Column("deadline_at", UTCDateTime()),
        sa.Column("long_term", sa.Boolean, nullable=False),
        sa.Column("definition_id", sa.String(64), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["definition_id", "definition_version"],
                                ["process_definitions.id", "process_definitions.version"]),
        sa.UniqueConstraint("plan", "number", name="uq_issues_plan_number"),
    )
    op.create_index("ix_issues_state", "issues", ["state"])
    op.create_index("ix_issues_unit", "issues", ["unit"])
    op.create_index("ix_issues_leader", "issues", ["leader"])
    op.create_index("ix_issues_deadline_at", "issues", ["deadline_at"])
    op.create_table(
        "issue_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(64)),
        sa.Column("to_state", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["issues.id"]),
        sa.UniqueConstraint("issue_id", "seq", name="uq_issue_events_issue_seq"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(APPEND_ONLY_SQLITE.format(op=name, OP=name.upper()))
    else:
        op.execute(APPEND_ONLY_POSTGRES)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER issue_events_append_only ON issue_events")
        op.execute("DROP FUNCTION issue_events_append_only()")
    op.drop_table("issue_events")
    op.drop_table("issues")
    op.drop_table("process_definitions")
