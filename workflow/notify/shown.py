"""Outbox messages as listings show them: the recipient's address and every error with
their tokens masked (``channels.mask_secrets``), times in Asia/Shanghai.

The outbox keeps one row per message, not one per attempt: the number of attempts started,
the last error, when the next attempt is due and when it was sent. ``message_detail`` says so
instead of inventing a per-attempt record.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import NotFoundError
from workflow.models import Notification
from workflow.notify.channels import mask_secrets
from workflow.notify.delivery import list_notifications

ATTEMPTS_NOTE = ("the outbox keeps the count of attempts, the last error and the next or "
                 "final time, not a record of each attempt")


def _masked(text: str | None) -> str | None:
    return mask_secrets(text) if text else text


def _time(value: Any) -> str | None:
    return local(value).isoformat() if value is not None else None


def message_row(n: Notification) -> dict[str, Any]:
    """One outbox row for ``outbox list``: no token of an address or error shown."""
    return {"id": n.id, "issue_id": n.issue_id, "kind": n.kind, "level": n.level,
            "recipient": n.recipient, "channel": n.channel, "address": _masked(n.address),
            "subject": n.subject, "status": n.status, "attempts": n.attempts,
            "next_attempt_at": _time(n.next_attempt_at), "sent_at": _time(n.sent_at),
            "last_error": _masked(n.last_error)}


def message_rows(db: Database, *, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest outbox rows first (``delivery.list_notifications``), masked."""
    return [message_row(n) for n in list_notifications(db, status=status, limit=limit)]


def message_detail(db: Database, message_id: int) -> dict[str, Any]:
    """One message in full for ``outbox show``: its row, its rendered subject and body, its
    dedupe key (masked), when it was queued, and what is stored of its attempts.

    Raises:
        NotFoundError: no outbox row has this id.
    """
    with db.session() as session:
        n = session.get(Notification, message_id)
        if n is None:
            newest = session.scalar(select(func.max(Notification.id)))
            known = f"the newest is {newest}" if newest else "the outbox is empty"
            raise NotFoundError(f"no outbox message {message_id}; {known} (see `rectify "
                                "outbox list`)")
        shown = message_row(n)
        shown.update({"dedupe_key": mask_secrets(n.dedupe_key), "body": n.body,
                      "created_at": _time(n.created_at),
                      "lease_until": _time(n.lease_until), "attempts_note": ATTEMPTS_NOTE})
    return shown
