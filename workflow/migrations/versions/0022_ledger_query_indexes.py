"""indexes of the ledger query (GET /api/v1/issues): each sort order with its id tie-breaker,
the unit and state filters in id order, and on PostgreSQL the JSON lists of responsible and
cooperating units (GIN, for jsonb containment)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# (old single-column index, its replacement by the column and id)
REPLACED = (("ix_issues_state", "ix_issues_state_id", "state"),
            ("ix_issues_unit", "ix_issues_unit_id", "unit"),
            ("ix_issues_due_at", "ix_issues_due_at_id", "due_at"),
            ("ix_issues_deadline_at", "ix_issues_deadline_at_id", "deadline_at"))
UNIT_LISTS = ("responsible_units", "cooperating_units")


def upgrade() -> None:
    for old, new, column in REPLACED:
        op.drop_index(old, "issues")
        op.create_index(new, "issues", [column, "id"])
    op.create_index("ix_issues_lead_unit_id", "issues", ["lead_unit", "id"])
    op.create_index("ix_issues_number_order", "issues",
                    [sa.func.length(sa.column("number")), "number", "id"])
    if op.get_bind().dialect.name == "postgresql":
        for column in UNIT_LISTS:
            op.execute(f"CREATE INDEX ix_issues_{column}_gin ON issues "
                       f"USING gin ((CAST({column} AS JSONB)) jsonb_path_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for column in UNIT_LISTS:
            op.execute(f"DROP INDEX ix_issues_{column}_gin")
    op.drop_index("ix_issues_number_order", "issues")
    op.drop_index("ix_issues_lead_unit_id", "issues")
    for old, new, column in REPLACED:
        op.drop_index(new, "issues")
        op.create_index(old, "issues", [column])
