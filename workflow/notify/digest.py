"""The daily digest (每日汇总): reminders held for it are folded into one message per
recipient, channel and address, queued through ``enqueue`` like every notice.

The digest's dedupe key names the Asia/Shanghai date, so a second run on the same day queues
nothing; reminders held after that day's digest was queued stay held for the next day's.
"""

from __future__ import annotations

import logging
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select, update

from workflow.clock import local
from workflow.config import Settings
from workflow.db import Database
from workflow.models import Notification
from workflow.notify.contacts import FixedRoute
from workflow.notify.enqueue import ConnectionOutbox, Notice, enqueue
from workflow.notify.statuses import DIGESTED, HELD

logger = logging.getLogger(__name__)

NOTIFICATIONS = Notification.__table__


def compose_digests(db: Database, *, now: datetime, settings: Settings) -> int:
    """Fold the held reminders (status ``digest``) into one ``digest`` message per
    recipient, channel and address, and mark them ``digested``.

    Args:
        db: the database.
        now: the current time (aware); held rows due later are left for a later digest.
        settings: the office's name and the base URL for links.

    Returns:
        How many digest messages were queued.
    """
    t = NOTIFICATIONS
    day = local(now).date().isoformat()
    queued = 0
    with db.transaction() as conn:
        held = conn.execute(
            select(t.c.id, t.c.recipient, t.c.channel, t.c.contact_id, t.c.address,
                   t.c.subject, t.c.issue_id, t.c.level)
            .where(t.c.status == HELD, t.c.next_attempt_at <= now)
            .order_by(t.c.recipient, t.c.channel, t.c.contact_id, t.c.address, t.c.id)
            .with_for_update()).all()
        outbox = ConnectionOutbox(db, conn)

        def group_key(row: Any) -> tuple[str, str, int | None, str]:
            return row.recipient, row.channel, row.contact_id, row.address or ""

        for (recipient, channel, contact_id, address), group in groupby(held, key=group_key):
            rows = list(group)
            items = [{"subject": row.subject, "issue_id": row.issue_id, "level": row.level}
                     for row in rows]
            notice = Notice(template="digest", kind="digest", level="digest", issue_id=None,
                            timer_id=None, context={"recipient": recipient, "date": day,
                                                    "items": items},
                            recipients=(recipient,), key="digest", key_suffix=day)
            if not enqueue(outbox, FixedRoute(channel, address, contact_id), notice, now=now,
                           settings=settings):
                continue  # today's digest is queued already; these wait for tomorrow's
            queued += 1
            conn.execute(update(t).where(t.c.id.in_([row.id for row in rows]),
                                         t.c.status == HELD)
                         .values(status=DIGESTED))
    if queued:
        logger.info("queued %s digest(s) for %s", queued, day)
    return queued
