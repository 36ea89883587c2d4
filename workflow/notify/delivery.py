"""Delivery of the outbox: claim due rows under a lease, send them on their channels, record
the outcome; back off and dead-letter failures; list and revive rows.

Every outcome is written by a guarded ``UPDATE … WHERE id = ? AND lease_owner = ? AND
status = 'sending'``, so a worker whose lease ran out never overwrites the row another
worker now holds. ``attempts`` counts delivery attempts started (it goes up when a row is
claimed), so a message whose worker dies mid-send still reaches ``dead`` after
``max_attempts`` and cannot loop forever. A row is marked ``sent`` only after its channel
returned without an error.

A row is ``pending`` until leased (``sending``), then ``sent``, or ``pending`` again after a
failure, or ``dead`` after the last attempt (``notify.statuses``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update

from workflow.db import Database
from workflow.errors import InputError
from workflow.models import Contact, Notification
from workflow.notify.channels import LOG, Channel, DeliveryError, OutgoingMessage
from workflow.notify.statuses import DEAD, PENDING, SENDING, SENT, STATUSES
from workflow.org.directory import OfficeAct

logger = logging.getLogger(__name__)

# Retry policy, in one place: wait BACKOFF_BASE after the first failure, BACKOFF_FACTOR times
# longer after each further one, never more than BACKOFF_CAP; give up after MAX_ATTEMPTS.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_FACTOR = 2
BACKOFF_CAP = timedelta(hours=1)
MAX_ATTEMPTS = 8
DEFAULT_LEASE = timedelta(minutes=10)
DEFAULT_BATCH = 100
ERROR_TEXT_LIMIT = 2000
LEASE_EXPIRED_ERROR = ("the lease expired {n} time(s) without a result (did the worker stop "
                       "mid-send?); given up after {n} attempts")

NOTIFICATIONS = Notification.__table__
CONTACTS = Contact.__table__


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` call did.

    Attributes:
        sent: messages delivered and recorded as sent.
        failed: messages that failed and wait for a retry.
        dead: messages that failed for the last time.
        lost: messages whose lease passed to another worker before the result was recorded.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, … up to 1 h."""
    steps = min(max(attempts - 1, 0), 30)  # 2**30 × 30 s is far past any cap, and finite
    return min(BACKOFF_CAP, BACKOFF_BASE * BACKOFF_FACTOR ** steps)


def _expired(now: datetime) -> Any:
    t = NOTIFICATIONS
    return and_(t.c.status == SENDING, t.c.lease_until < now)


def _bury_expired(conn: Any, now: datetime, max_attempts: int) -> int:
    """Rows whose last lease expired after ``max_attempts`` started attempts go to dead."""
    t = NOTIFICATIONS
    buried = conn.execute(
        update(t).where(_expired(now), t.c.attempts >= max_attempts)
        .values(status=DEAD, lease_until=None,
                last_error=LEASE_EXPIRED_ERROR.format(n=max_attempts))).rowcount
    if buried:
        logger.warning("%s notification(s) dead after their last lease expired", buried)
    return buried


def _lease_due(conn: Any, now: datetime, limit: int, values: dict[str, Any],
               returning: tuple[Any, ...]) -> list[Any]:
    """Lease up to ``limit`` due rows: first those whose lease expired (their worker is
    gone), then pending ones in ``next_attempt_at`` order. Two statements rather than one
    ``OR``, so each walks its own index and stops at the limit."""
    t = NOTIFICATIONS
    rows: list[Any] = []
    for due, order in (((_expired(now)), t.c.lease_until),
                       (and_(t.c.status == PENDING, t.c.next_attempt_at <= now),
                        t.c.next_attempt_at)):
        if len(rows) >= limit:
            break
        pick = (select(t.c.id).where(due).order_by(order).limit(limit - len(rows))
                .with_for_update(skip_locked=True)).scalar_subquery()
        rows += conn.execute(update(t).where(t.c.id.in_(pick)).values(**values)
                             .returning(*returning)).all()
    return rows


_MESSAGE_COLUMNS = ("id", "dedupe_key", "recipient", "channel", "address", "subject", "body",
                    "kind", "level", "issue_id", "attempts")


def _messages(conn: Any, rows: list[Any]) -> list[OutgoingMessage]:
    rows = sorted(rows, key=lambda row: row.id)
    options = _contact_options(conn, rows)
    return [OutgoingMessage(id=row.id, dedupe_key=row.dedupe_key, recipient=row.recipient,
                            channel=row.channel, address=row.address, subject=row.subject,
                            body=row.body, kind=row.kind, level=row.level,
                            issue_id=row.issue_id, attempt=row.attempts,
                            options=options.get((row.recipient, row.channel, row.address), {}))
            for row in rows]


def claim_due_notifications(db: Database, *, now: datetime, limit: int, owner: str,
                            lease: timedelta = DEFAULT_LEASE,
                            max_attempts: int = MAX_ATTEMPTS) -> list[OutgoingMessage]:
    """Lease up to ``limit`` due messages to ``owner`` and start an attempt on each.

    Due are pending rows whose ``next_attempt_at`` has come and sending rows whose lease
    expired (their worker is gone). An expired row that already had ``max_attempts`` goes to
    ``dead`` instead. PostgreSQL skips rows another worker is claiming (``FOR UPDATE SKIP
    LOCKED``); SQLite serialises claimers on its write lock (``BEGIN IMMEDIATE``).

    Args:
        db: the database.
        now: the current time (aware).
        limit: most messages to claim.
        owner: this worker's lease name.
        lease: how long the claim holds; choose it longer than sending a whole batch takes.
        max_attempts: attempts after which a message is given up.

    Returns:
        The claimed messages, in row order, with their contact options.
    """
    t = NOTIFICATIONS
    values = {"status": SENDING, "lease_owner": owner, "lease_until": now + lease,
              "attempts": t.c.attempts + 1}
    with db.transaction() as conn:
        _bury_expired(conn, now, max_attempts)
        return _messages(conn, _lease_due(conn, now, limit, values,
                                          tuple(t.c[name] for name in _MESSAGE_COLUMNS)))


def lease_due_notifications(db: Database, *, now: datetime, limit: int, owner: str,
                            lease: timedelta = DEFAULT_LEASE,
                            max_attempts: int = MAX_ATTEMPTS) -> list[int]:
    """The relay's half of a claim: lease up to ``limit`` due rows to the batch token
    ``owner`` and return their ids, without starting an attempt.

    The worker that receives the ids starts the attempts with ``take_batch``; a batch that
    never reaches a worker (a lost broker message) just lets its lease run out, and the rows
    are leased again with their attempts untouched.
    """
    t = NOTIFICATIONS
    values = {"status": SENDING, "lease_owner": owner, "lease_until": now + lease}
    with db.transaction() as conn:
        _bury_expired(conn, now, max_attempts)
        return sorted(row.id for row in _lease_due(conn, now, limit, values, (t.c.id,)))


def release_batch(db: Database, ids: Iterable[int], *, owner: str) -> int:
    """Give back rows leased to ``owner`` that no worker started (the batch could not be
    handed over): they are due again at once. Returns how many were released."""
    t = NOTIFICATIONS
    wanted = sorted(set(ids))
    if not wanted:
        return 0
    with db.transaction() as conn:
        return conn.execute(
            update(t).where(t.c.id.in_(wanted), t.c.lease_owner == owner,
                            t.c.status == SENDING)
            .values(status=PENDING, lease_owner=None, lease_until=None)).rowcount


def take_batch(db: Database, ids: Iterable[int], *, owner: str, now: datetime,
               lease: timedelta = DEFAULT_LEASE) -> list[OutgoingMessage]:
    """A worker's half of a claim: start an attempt on each of ``ids`` that is still leased
    to ``owner`` (renewing the lease); rows sent meanwhile, or leased again to another batch
    after this one's lease ran out, are left alone.

    Returns:
        The messages to send now, in row order.
    """
    t = NOTIFICATIONS
    wanted = sorted(set(ids))
    if not wanted:
        return []
    take = (update(t).where(t.c.id.in_(wanted), t.c.lease_owner == owner,
                            t.c.status == SENDING)
            .values(lease_until=now + lease, attempts=t.c.attempts + 1)
            .returning(*(t.c[name] for name in _MESSAGE_COLUMNS)))
    with db.transaction() as conn:
        return _messages(conn, conn.execute(take).all())


def in_flight(db: Database, *, now: datetime) -> int:
    """Rows leased and not expired: handed to workers and not yet settled."""
    t = NOTIFICATIONS
    with db.session() as session:
        return session.execute(select(func.count()).select_from(t).where(
            t.c.status == SENDING, t.c.lease_until >= now)).scalar_one()


def _contact_options(conn: Any, rows: list[Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    # Options are read at send time, so a corrected secret applies to the next retry.
    wanted = {(row.recipient, row.channel, row.address) for row in rows
              if row.channel != LOG and row.address is not None}
    if not wanted:
        return {}
    c = CONTACTS
    found = conn.execute(select(c.c.name, c.c.channel, c.c.address, c.c.options)
                         .where(c.c.name.in_(sorted({name for name, _, _ in wanted}))))
    return {(name, channel, address): dict(options or {})
            for name, channel, address, options in found
            if (name, channel, address) in wanted}


def record_sent(db: Database, messages: Iterable[OutgoingMessage], *, owner: str,
                now: datetime) -> int:
    """Mark delivered messages ``sent``, in one transaction; returns how many were still
    ``owner``'s (a message whose lease passed to another worker is recorded by that one)."""
    t = NOTIFICATIONS
    ids = sorted(message.id for message in messages)
    if not ids:
        return 0
    with db.transaction() as conn:
        return conn.execute(
            update(t).where(t.c.id.in_(ids), t.c.lease_owner == owner, t.c.status == SENDING)
            .values(status=SENT, sent_at=now, lease_until=None)).rowcount


def record_failure(db: Database, message: OutgoingMessage, error: str, *, owner: str,
                   now: datetime, max_attempts: int = MAX_ATTEMPTS) -> str | None:
    """Record a failed attempt: back to ``pending`` after the back-off, or ``dead`` once
    ``max_attempts`` were made.

    Returns:
        The new status, or None when the lease is no longer ``owner``'s.
    """
    t = NOTIFICATIONS
    status = DEAD if message.attempt >= max_attempts else PENDING
    with db.transaction() as conn:
        done = conn.execute(
            update(t).where(t.c.id == message.id, t.c.lease_owner == owner,
                            t.c.status == SENDING)
            .values(status=status, last_error=error[:ERROR_TEXT_LIMIT],
                    next_attempt_at=now + backoff(message.attempt), lease_owner=None,
                    lease_until=None)).rowcount
    return status if done == 1 else None


def send_messages(db: Database, channels: Mapping[str, Channel],
                  messages: list[OutgoingMessage], *, now: datetime, owner: str,
                  max_attempts: int = MAX_ATTEMPTS) -> DeliveryReport:
    """Send claimed messages, each on its channel, and record the outcomes.

    Deliveries are recorded together at the end of the batch (one transaction), failures
    one by one as they happen. A worker that dies mid-batch leaves its rows leased; they are
    sent again after the lease, so the repeats a receiver can see are bounded by the batch,
    and each carries the message's idempotency key.
    """
    report = DeliveryReport()
    delivered: list[OutgoingMessage] = []
    for message in messages:
        try:
            channel = channels.get(message.channel)
            if channel is None:
                raise DeliveryError(f"no channel {message.channel!r} is configured (configured: "
                                    f"{', '.join(sorted(channels)) or 'none'})")
            channel.send(message)
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:
            # A bug or an unexpected library error must not stop the batch; it is kept on
            # the row like any failure so that it shows in the dead letters.
            logger.exception("channel %s crashed on notification %s", message.channel,
                             message.id)
            error = f"{type(exc).__name__}: {exc}"
        else:
            delivered.append(message)
            continue
        status = record_failure(db, message, error, owner=owner, now=now,
                                max_attempts=max_attempts)
        if status == DEAD:
            report.dead += 1
            logger.error("notification %s to %s via %s is dead after %s attempts: %s",
                         message.id, message.recipient, message.channel, message.attempt, error)
        elif status == PENDING:
            report.failed += 1
            logger.warning("notification %s attempt %s failed, retry after %s: %s", message.id,
                           message.attempt, backoff(message.attempt), error)
        else:
            report.lost += 1
    report.sent = record_sent(db, delivered, owner=owner, now=now)
    if report.sent < len(delivered):
        report.lost += len(delivered) - report.sent
        logger.warning("%s notification(s) were sent but their lease had passed to another "
                       "worker; the receiver drops the repeat by its idempotency key",
                       len(delivered) - report.sent)
    return report


def deliver_due(db: Database, channels: Mapping[str, Channel], *, now: datetime,
                owner: str, limit: int = DEFAULT_BATCH, lease: timedelta = DEFAULT_LEASE,
                max_attempts: int = MAX_ATTEMPTS) -> DeliveryReport:
    """Claim due messages and send them (``claim_due_notifications`` + ``send_messages``).

    Args:
        db: the database.
        channels: channels by name (``channels_from_env()``); a message whose channel is
            missing fails like a refused delivery and is retried.
        now: the current time (aware).
        owner: this worker's lease name.
        limit: most messages to send in this call.
        lease: how long the claim holds.
        max_attempts: attempts after which a message is given up (``dead``).
    """
    messages = claim_due_notifications(db, now=now, limit=limit, owner=owner, lease=lease,
                                       max_attempts=max_attempts)
    return send_messages(db, channels, messages, now=now, owner=owner,
                         max_attempts=max_attempts)


def retry(db: Database, ids: Iterable[int] | None = None, *, by: OfficeAct, now: datetime,
          all_dead: bool = False) -> int:
    """Put dead messages back to ``pending``, due at ``now`` (an office act, on the audit
    trail); ``attempts`` keeps its count, so a revived message that fails again is dead again
    at once.

    Args:
        db: the database.
        ids: the rows to revive; each must be a dead letter.
        by: the office retrying them.
        now: the current time (aware).
        all_dead: revive every dead row instead of ``ids``.

    Returns:
        How many rows were revived.

    Raises:
        InputError: neither or both of ``ids`` and ``all_dead`` were given, an id that is not
            a dead letter, or an empty directory. ActionDeniedError: ``by`` is not the office.
    """
    if (ids is None) == (not all_dead):
        raise InputError("retry needs either notification ids or all_dead=True, not both "
                         "and not neither")
    t = NOTIFICATIONS
    wanted = sorted(set(ids or ()))
    statement = (update(t).where(t.c.status == DEAD)
                 .values(status=PENDING, next_attempt_at=now, lease_owner=None,
                         lease_until=None))
    if not all_dead:
        statement = statement.where(t.c.id.in_(wanted))
    with db.transaction() as conn:
        by.check(conn, "retry dead letters")
        if wanted:
            dead = set(conn.scalars(select(t.c.id).where(t.c.id.in_(wanted),
                                                          t.c.status == DEAD)))
            not_dead = [str(i) for i in wanted if i not in dead]
            if not_dead:
                raise InputError(f"notification(s) {', '.join(not_dead)} are not dead letters; "
                                 "only dead letters are retried (see `rectify outbox dead`)")
        revived = conn.execute(statement).rowcount if all_dead or wanted else 0
        by.record(conn, "outbox_retry", "dead letters", at=now, ids=wanted,
                  all_dead=all_dead, revived=revived)
    logger.info("revived %s dead notification(s)", revived)
    return revived


def list_notifications(db: Database, *, status: str | None = None,
                       limit: int = 50) -> list[Notification]:
    """The newest outbox rows first, optionally only those of one status.

    Raises:
        InputError: ``status`` is not a known status.
    """
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown notification status {status!r}; allowed: "
                         f"{', '.join(STATUSES)}")
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Notification.status == status)
    with db.session() as session:
        return list(session.scalars(query).all())
