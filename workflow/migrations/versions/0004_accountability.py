"""accountability records (问责) and the issues they answer for

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflow.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accountability_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=True),
    sa.Column('rank', sa.String(length=16), nullable=True),
    sa.Column('methods', sa.JSON(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('disclosed', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('proposal_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['accountability_proposals.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('accountability_records', schema=None) as batch_op:
        batch_op.create_index('ix_accountability_records_decided_on', ['decided_on'], unique=False)

    op.create_table('accountability_issues',
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('issue_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], ),
    sa.ForeignKeyConstraint(['record_id'], ['accountability_records.id'], ),
    sa.PrimaryKeyConstraint('record_id', 'issue_id')
    )
    with op.batch_alter_table('accountability_issues', schema=None) as batch_op:
        batch_op.create_index('ix_accountability_issues_issue', ['issue_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('accountability_issues', schema=None) as batch_op:
        batch_op.drop_index('ix_accountability_issues_issue')
    op.drop_table('accountability_issues')
    with op.batch_alter_table('accountability_records', schema=None) as batch_op:
        batch_op.drop_index('ix_accountability_records_decided_on')
    op.drop_table('accountability_records')
