"""The one way a notice enters the outbox: a typed ``Notice``, rendered once from its
template and queued as one row per recipient and channel by ``enqueue``.

Every producer — the timer sweep, the monthly reports, leaders' instructions, the look-back
marks, the monthly progress notice and the daily digest — builds a ``Notice`` and calls
``enqueue``; nothing else writes notification rows. ``enqueue`` writes through an
``Outbox``: the issue transaction (``IssueTx``) of a producer that changes an issue in the
same breath, or a ``ConnectionOutbox`` on a Core connection for the producers that change
no issue. Either way the unique dedupe key makes a repeated run queue nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workflow.config import Settings
from workflow.db import Database
from workflow.models import Notification
from workflow.notify.channels import WEBHOOK
from workflow.notify.contacts import Routes
from workflow.notify.render import render
from workflow.notify.statuses import HELD, PENDING

NOTIFICATIONS = Notification.__table__


class Outbox(Protocol):
    """Where notification rows are written: anything with ``add_notification``, which
    inserts one row unless its dedupe key is queued already and returns 1 or 0."""

    def add_notification(self, values: Mapping[str, Any]) -> int: ...


@dataclass(frozen=True)
class Notice:
    """One notice to some recipients, before it is addressed to their channels.

    Attributes:
        template: the template it is rendered from (``render.TEMPLATES``).
        kind: the rows' ``kind`` (reminder, notice, lookback, report, digest).
        level: the rows' ``level`` (the timer's level, ``missing_report``, …).
        issue_id: the issue it is about, if any.
        timer_id: the timer that fired it, if any.
        context: the facts the template shows.
        recipients: names (units, leaders, the office), each reached on all its routes.
        key: what makes the notice unique; each row's dedupe key is
            ``{key}:{recipient}:{channel}:{address}``, where a webhook contact's address is
            ``contact:{id}`` (``address_key``).
        held: held for the daily digest (status ``digest``) instead of due now.
        key_suffix: appended to each dedupe key after a colon (the digest's date).
    """

    template: str
    kind: str
    level: str
    issue_id: int | None
    timer_id: int | None
    context: Mapping[str, Any]
    recipients: tuple[str, ...]
    key: str
    held: bool = False
    key_suffix: str | None = None

    def dedupe_key(self, recipient: str, channel: str, address: str) -> str:
        key = f"{self.key}:{recipient}:{channel}:{address}"
        return key if self.key_suffix is None else f"{key}:{self.key_suffix}"


def address_key(channel: str, address: str | None, contact_id: int | None) -> str:
    """What stands for the address in a dedupe key: a webhook contact's reference
    (``contact:{id}``), since its URL carries the robot's token; else the address itself."""
    if channel == WEBHOOK and contact_id is not None:
        return f"contact:{contact_id}"
    return address or ""


def enqueue(outbox: Outbox, contacts: Routes, notice: Notice, *, now: datetime,
            settings: Settings) -> int:
    """Render ``notice`` once and queue it for each recipient on each of its routes.

    A row from a contact refers to it (``contact_id``); a webhook row keeps no address, so
    the robot's token stays in the contact alone and is read when the row is sent.

    Args:
        outbox: the open transaction the rows are written in.
        contacts: where each recipient is reached (``Contacts``, cached per run).
        notice: what to send, to whom.
        now: the current time (aware): the rows are due now.
        settings: the office's name (signature) and the base URL for links.

    Returns:
        How many rows were queued (rows whose dedupe key was queued before are not).
    """
    subject, body = render(notice.template, notice.context, office=settings.office_name,
                           base_url=settings.base_url)
    status = HELD if notice.held else PENDING
    queued = 0
    for name in notice.recipients:
        for channel, address, _options, contact_id in contacts.of(name):
            kept = None if channel == WEBHOOK and contact_id is not None else address or None
            queued += outbox.add_notification({
                "dedupe_key": notice.dedupe_key(name, channel, address_key(
                    channel, address, contact_id)),
                "issue_id": notice.issue_id, "timer_id": notice.timer_id,
                "kind": notice.kind, "level": notice.level, "recipient": name,
                "channel": channel, "contact_id": contact_id, "address": kept,
                "subject": subject,
                "body": body, "status": status, "attempts": 0, "next_attempt_at": now,
                "created_at": now})
    return queued


class ConnectionOutbox:
    """The outbox on an open Core connection, for producers that write no issue (the
    monthly progress notice, the daily digest).

    Args:
        db: the database (for its dialect).
        conn: the connection of the caller's open transaction.
    """

    def __init__(self, db: Database, conn: Connection):
        self._insert = sqlite_insert if db.is_sqlite else postgresql_insert
        self._conn = conn

    def add_notification(self, values: Mapping[str, Any]) -> int:
        t = NOTIFICATIONS
        inserted = self._conn.execute(
            self._insert(t).values(**values)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(t.c.id)).scalar_one_or_none()
        return 0 if inserted is None else 1
