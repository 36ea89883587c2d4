"""outbox rows refer to their contact instead of carrying a webhook URL with its token; the
scheduler's leadership (who leads, since when) for doctor's lag

Existing webhook rows whose (recipient, address) is a registered webhook contact are linked
to it: their address is cleared and the address in their dedupe key becomes
``contact:{id}``, the key new rows get, so a notice queued again after the upgrade is still
recognised. Rows that match no contact keep their address and are sent to it as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflow.models import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WEBHOOK = "webhook"


def _link_webhook_rows() -> None:
    conn = op.get_bind()
    contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("name", sa.String),
                        sa.column("channel", sa.String), sa.column("address", sa.String))
    rows = sa.table("notifications", sa.column("id", sa.Integer),
                    sa.column("recipient", sa.String), sa.column("channel", sa.String),
                    sa.column("address", sa.String), sa.column("dedupe_key", sa.String),
                    sa.column("contact_id", sa.Integer))
    found = {(name, address): contact_id for contact_id, name, address in conn.execute(
        sa.select(contacts.c.id, contacts.c.name, contacts.c.address)
        .where(contacts.c.channel == WEBHOOK))}
    if not found:
        return
    linked = conn.execute(sa.select(rows.c.id, rows.c.recipient, rows.c.address,
                                    rows.c.dedupe_key)
                          .where(rows.c.channel == WEBHOOK, rows.c.address.is_not(None)))
    for row_id, recipient, address, key in linked.all():
        contact_id = found.get((recipient, address))
        if contact_id is None:
            continue
        old, new = f":{WEBHOOK}:{address}", f":{WEBHOOK}:contact:{contact_id}"
        head, _, tail = key.rpartition(old)
        conn.execute(sa.update(rows).where(rows.c.id == row_id).values(
            contact_id=contact_id, address=None,
            dedupe_key=f"{head}{new}{tail}" if head else key))


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
    _link_webhook_rows()
    op.create_table(
        "scheduler_leadership",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leadership")
    op.execute("UPDATE notifications SET address = (SELECT address FROM contacts "
               "WHERE contacts.id = notifications.contact_id) "
               "WHERE contact_id IS NOT NULL AND address IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("contact_id")
