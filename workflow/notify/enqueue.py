"""Queueing a message into the outbox, in the caller's transaction, once per dedupe key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workflow.db import Database
from workflow.models import Notification
from workflow.notify.statuses import PENDING

NOTIFICATIONS = Notification.__table__


def queue_message(db: Database, conn: Any, *, dedupe_key: str, kind: str, level: str,
                  recipient: str, channel: str, address: str | None, subject: str, body: str,
                  now: datetime, issue_id: int | None = None) -> bool:
    """Queue one message, due now, in the caller's transaction ``conn``; False (and nothing
    written) when a message with ``dedupe_key`` is queued already."""
    upsert = sqlite_insert if db.is_sqlite else postgresql_insert
    t = NOTIFICATIONS
    return conn.execute(
        upsert(t).values(dedupe_key=dedupe_key, issue_id=issue_id, timer_id=None, kind=kind,
                         level=level, recipient=recipient, channel=channel,
                         address=address or None, subject=subject, body=body,
                         status=PENDING, attempts=0, next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(t.c.id)).scalar_one_or_none() is not None
