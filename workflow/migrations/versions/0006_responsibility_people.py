"""responsibility on issues (several responsible units, cooperating units, acceptance unit);
units and people

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('units',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name='uq_units_name')
    )
    op.create_table('people',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('rank', sa.String(length=16), nullable=True),
    sa.Column('unit', sa.String(length=200), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('sectors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name', name='uq_people_name')
    )
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('responsible_units', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('cooperating_units', sa.JSON(), nullable=False,
                                      server_default='[]'))
        batch_op.add_column(sa.Column('acceptance_unit', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_column('acceptance_unit')
        batch_op.drop_column('cooperating_units')
        batch_op.drop_column('responsible_units')
    op.drop_table('people')
    op.drop_table('units')
