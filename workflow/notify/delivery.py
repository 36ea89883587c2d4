"""Delivery of the outbox: claim due rows under a lease, send them on their channels, record
the outcome; back off and dead-letter failures; list and revive rows.

A message is sent at most once unless a process died or a request's outcome is unknown (it
timed out). Before each send the batch renews the message's lease with one guarded
``UPDATE … WHERE id = ? AND lease_owner = me AND status = 'sending' AND lease_until > now``
(and, every third of the lease, the lease of the batch's other rows: the heartbeat); a
batch that finds its lease gone stops at once and gives back what it still holds. Each
outcome is recorded as it happens — a delivery in the same transaction as the next renewal —
by a guarded ``UPDATE … WHERE id = ? AND lease_owner = ? AND status = 'sending'``, so a
worker whose lease ran out never overwrites the row another worker now holds. A process
killed mid-batch therefore repeats at most the one message each of its threads had in
flight. The lease must outlast one send: ``minimum_lease`` states the rule, start-up checks
it. ``attempts`` counts delivery attempts started (it goes up when a row is taken), so a
message whose worker dies mid-send still reaches ``dead`` after ``max_attempts`` and cannot
loop forever. A row is marked ``sent`` only after its channel returned without an error.

A row is ``pending`` until leased (``sending``), then ``sent``, or ``pending`` again after a
failure, or ``dead`` after the last attempt (``notify.statuses``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, select, update

from workflow.clock import Clock, FrozenClock
from workflow.db import Database
from workflow.errors import InputError, PermanentDeliveryError
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
# The lease is renewed before each send, so it needs to outlast one send, not a batch:
# LEASE_FACTOR × (the longest channel timeout + SEND_MARGIN). A send can wait its timeout
# twice (connecting, then reading the answer), the margin covers the database round trips and
# small clock differences between machines. The default (60 s) holds for the default 10 s
# timeouts, and a dead worker's rows are taken up again within about a minute.
DEFAULT_LEASE = timedelta(seconds=60)
LEASE_FACTOR = 2
SEND_MARGIN = 1.0
HEARTBEAT_SHARE = 3  # the batch's other rows are renewed every third of the lease
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
        given_back: messages not sent because the batch found its lease gone; the rows it
            still held are due again at once.
    """

    sent: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0
    given_back: int = 0


def minimum_lease(channels: Mapping[str, Channel]) -> float:
    """The shortest lease (seconds) that outlasts one send on any of ``channels``:
    ``LEASE_FACTOR × (longest timeout + SEND_MARGIN)``."""
    longest = max((channel.timeout for channel in channels.values()), default=0.0)
    return LEASE_FACTOR * (longest + SEND_MARGIN)


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


_MESSAGE_COLUMNS = ("id", "dedupe_key", "recipient", "channel", "contact_id", "address",
                    "subject", "body", "kind", "level", "issue_id", "attempts")


def _messages(conn: Any, rows: list[Any]) -> list[OutgoingMessage]:
    rows = sorted(rows, key=lambda row: row.id)
    routes = _routes(conn, rows)
    messages = []
    for row in rows:
        address, options = routes.get(row.id, (row.address, {}))
        messages.append(OutgoingMessage(
            id=row.id, dedupe_key=row.dedupe_key, recipient=row.recipient,
            channel=row.channel, address=address, subject=row.subject, body=row.body,
            kind=row.kind, level=row.level, issue_id=row.issue_id, attempt=row.attempts,
            options=options))
    return messages


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


def _routes(conn: Any, rows: list[Any]) -> dict[int, tuple[str | None, dict[str, Any]]]:
    """Each row's address and contact options, read at send time, so a corrected address or
    secret applies to the next retry. A row refers to its contact (``contact_id``); rows
    from before the reference are matched by recipient, channel and address. A row whose
    contact is gone has no address, and its channel refuses it."""
    c = CONTACTS
    by_id = sorted({row.contact_id for row in rows if row.contact_id is not None})
    legacy = {(row.recipient, row.channel, row.address) for row in rows
              if row.contact_id is None and row.channel != LOG and row.address is not None}
    contacts: dict[int, tuple[str, dict[str, Any]]] = {}
    matched: dict[tuple[str, str, str], dict[str, Any]] = {}
    if by_id:
        for contact_id, address, options in conn.execute(
                select(c.c.id, c.c.address, c.c.options).where(c.c.id.in_(by_id))):
            contacts[contact_id] = (address, dict(options or {}))
    if legacy:
        for name, channel, address, options in conn.execute(
                select(c.c.name, c.c.channel, c.c.address, c.c.options)
                .where(c.c.name.in_(sorted({name for name, _, _ in legacy})))):
            if (name, channel, address) in legacy:
                matched[(name, channel, address)] = dict(options or {})
    routes: dict[int, tuple[str | None, dict[str, Any]]] = {}
    for row in rows:
        if row.contact_id is not None:
            routes[row.id] = contacts.get(row.contact_id, (None, {}))
        else:
            routes[row.id] = (row.address,
                              matched.get((row.recipient, row.channel, row.address), {}))
    return routes


def record_failure(db: Database, message: OutgoingMessage, error: str, *, owner: str,
                   now: datetime, max_attempts: int = MAX_ATTEMPTS,
                   permanent: bool = False) -> str | None:
    """Record a failed attempt: back to ``pending`` after the back-off, or ``dead`` once
    ``max_attempts`` were made, or at once when the failure is ``permanent`` (a retry cannot
    succeed, e.g. a contact whose host was taken off the webhook allowlist).

    Returns:
        The new status, or None when the lease is no longer ``owner``'s.
    """
    t = NOTIFICATIONS
    status = DEAD if permanent or message.attempt >= max_attempts else PENDING
    with db.transaction() as conn:
        done = conn.execute(
            update(t).where(t.c.id == message.id, t.c.lease_owner == owner,
                            t.c.status == SENDING)
            .values(status=status, last_error=error[:ERROR_TEXT_LIMIT],
                    next_attempt_at=now + backoff(message.attempt), lease_owner=None,
                    lease_until=None)).rowcount
    return status if done == 1 else None


# The two statements of every message, built once (their compiled form is cached by
# SQLAlchemy; building a statement costs more than running it).
_T = NOTIFICATIONS
_RENEW = (update(_T)
          .where(_T.c.id.in_(bindparam("ids", expanding=True)),
                 _T.c.lease_owner == bindparam("owner"), _T.c.lease_until > bindparam("now"))
          .values(lease_until=bindparam("until")).returning(_T.c.id))
_MARK_SENT = (update(_T)
              .where(_T.c.id == bindparam("message_id"), _T.c.lease_owner == bindparam("owner"),
                     _T.c.lease_until.is_not(None))
              .values(status=SENT, sent_at=bindparam("sent_at"), lease_until=None))


def _renew(conn: Any, ids: list[int], *, owner: str, now: datetime,
           lease: timedelta) -> set[int]:
    """Extend the lease of those of ``ids`` that ``owner`` still holds; returns them.

    Only a row being sent has a ``lease_until`` (every other status clears it), so no status
    is compared here or in ``_mark_sent``: with one, PostgreSQL walks the status index
    through every row in flight instead of taking the few rows by their ids."""
    return set(conn.execute(_RENEW, {"ids": ids, "owner": owner, "now": now,
                                     "until": now + lease}).scalars())


def _mark_sent(conn: Any, message_id: int, *, owner: str, now: datetime) -> bool:
    return conn.execute(_MARK_SENT, {"message_id": message_id, "owner": owner,
                                     "sent_at": now}).rowcount == 1


def _give_back(db: Database, ids: list[int], *, owner: str) -> int:
    """Rows of a batch that lost its lease and were not attempted: due again at once, the
    attempt ``take_batch`` counted for them taken back."""
    t = NOTIFICATIONS
    with db.transaction() as conn:
        return conn.execute(
            update(t).where(t.c.id.in_(ids), t.c.lease_owner == owner, t.c.status == SENDING)
            .values(status=PENDING, lease_owner=None, lease_until=None,
                    attempts=t.c.attempts - 1)).rowcount


class _Batch:
    """The lease of one batch while it sends: what it records and renews per message."""

    def __init__(self, db: Database, conn: Connection, messages: list[OutgoingMessage], *,
                 clock: Clock, owner: str, lease: timedelta, report: DeliveryReport):
        self.db, self.conn, self.clock, self.owner, self.lease = db, conn, clock, owner, lease
        self.report = report
        self.unsent = [message.id for message in messages]
        self.delivered: int | None = None  # sent, not yet recorded
        self.heartbeat = clock.now()  # the claim just leased every row

    def _record(self, conn: Any, now: datetime) -> None:
        if self.delivered is None:
            return
        if _mark_sent(conn, self.delivered, owner=self.owner, now=now):
            self.report.sent += 1
        else:
            self.report.lost += 1
            logger.warning("notification %s was sent but its lease had passed to another "
                           "worker; the receiver drops the repeat by its idempotency key",
                           self.delivered)
        self.delivered = None

    def hold(self, message: OutgoingMessage) -> bool:
        """Record the previous delivery and renew ``message``'s lease, in one transaction
        (every third of the lease, the batch's other rows too). False: the batch lost its
        lease; nothing more may be sent, and the rows it still holds are given back."""
        now = self.clock.now()
        self.unsent.remove(message.id)
        wanted = [message.id]
        if now - self.heartbeat >= self.lease / HEARTBEAT_SHARE:
            wanted += self.unsent
        with self.conn.begin():
            self._record(self.conn, now)
            held = _renew(self.conn, wanted, owner=self.owner, now=now, lease=self.lease)
        if len(wanted) > 1:
            self.heartbeat = now
        if len(held) == len(wanted):
            return True
        left = [message.id, *self.unsent]
        self.report.given_back += _give_back(self.db, left, owner=self.owner)
        logger.warning("batch %s lost its lease; %s message(s) left unsent for another batch",
                       self.owner, len(left))
        self.unsent = []
        return False

    def finish(self) -> None:
        if self.delivered is not None:
            with self.conn.begin():
                self._record(self.conn, self.clock.now())


def send_messages(db: Database, channels: Mapping[str, Channel],
                  messages: list[OutgoingMessage], *, clock: Clock, owner: str,
                  lease: timedelta = DEFAULT_LEASE,
                  max_attempts: int = MAX_ATTEMPTS) -> DeliveryReport:
    """Send claimed messages, each on its channel, recording each outcome as it happens.

    Before each send the message's lease is renewed (``_Batch.hold``); a batch that lost its
    lease stops there. A delivery is recorded with the next renewal (or at the end), a
    failure at once, so a worker that dies mid-batch repeats at most the message it was
    sending, and that with the message's idempotency key.

    Args:
        db: the database.
        channels: channels by name.
        messages: messages claimed (leased) to ``owner`` just now.
        clock: the current time, read before each send.
        owner: the lease name the messages were claimed for.
        lease: how long each renewal holds (at least ``minimum_lease(channels)``).
        max_attempts: attempts after which a message is given up (``dead``).
    """
    report = DeliveryReport()
    if not messages:
        return report
    with db.outbox_writer() as conn:
        _send_all(db, conn, channels, messages, clock=clock, owner=owner, lease=lease,
                  max_attempts=max_attempts, report=report)
    return report


def _send_all(db: Database, conn: Connection, channels: Mapping[str, Channel],
              messages: list[OutgoingMessage], *, clock: Clock, owner: str, lease: timedelta,
              max_attempts: int, report: DeliveryReport) -> None:
    batch = _Batch(db, conn, messages, clock=clock, owner=owner, lease=lease, report=report)
    for message in messages:
        if not batch.hold(message):
            break
        try:
            channel = channels.get(message.channel)
            if channel is None:
                raise DeliveryError(f"no channel {message.channel!r} is configured (configured: "
                                    f"{', '.join(sorted(channels)) or 'none'})")
            channel.send(message)
        except PermanentDeliveryError as exc:
            error, permanent = str(exc), True
        except DeliveryError as exc:
            error, permanent = str(exc), False
        except Exception as exc:
            # A bug or an unexpected library error must not stop the batch; it is kept on
            # the row like any failure so that it shows in the dead letters.
            logger.exception("channel %s crashed on notification %s", message.channel,
                             message.id)
            error, permanent = f"{type(exc).__name__}: {exc}", False
        else:
            batch.delivered = message.id
            continue
        _count_failure(report, message, error, record_failure(
            db, message, error, owner=owner, now=clock.now(), max_attempts=max_attempts,
            permanent=permanent))
    batch.finish()


def _count_failure(report: DeliveryReport, message: OutgoingMessage, error: str,
                   status: str | None) -> None:
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


def deliver_due(db: Database, channels: Mapping[str, Channel], *, now: datetime,
                owner: str, limit: int = DEFAULT_BATCH, lease: timedelta = DEFAULT_LEASE,
                max_attempts: int = MAX_ATTEMPTS, clock: Clock | None = None) -> DeliveryReport:
    """Claim due messages and send them (``claim_due_notifications`` + ``send_messages``).

    Args:
        db: the database.
        channels: channels by name (``channels_from_env()``); a message whose channel is
            missing fails like a refused delivery and is retried.
        now: the current time (aware).
        owner: this worker's lease name.
        limit: most messages to send in this call.
        lease: how long the claim, and each renewal before a send, holds.
        max_attempts: attempts after which a message is given up (``dead``).
        clock: the time read before each send; by default time stands still at ``now``.
    """
    messages = claim_due_notifications(db, now=now, limit=limit, owner=owner, lease=lease,
                                       max_attempts=max_attempts)
    return send_messages(db, channels, messages, clock=clock or FrozenClock(now), owner=owner,
                         lease=lease, max_attempts=max_attempts)


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
