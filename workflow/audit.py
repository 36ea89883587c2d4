"""The audit trail: append-only, keyed, hash-chained records of administrative changes.

Issue changes are kept in each issue's history; everything else an office does — registering
people, units, inspections, plans and contacts, loading definitions, recomputing the
calendar, retrying dead letters, importing a ledger, moving a training database's clock — is
appended here with who did it, as which operating-system user, and when, inside the change's
own write transaction (a change and its record commit together or not at all). The table
refuses UPDATE and DELETE (triggers on SQLite and PostgreSQL); one chain runs through all
records, each ``hash`` an HMAC-SHA256 under the history key (the record names it in
``key_id``; ``workflow.issues.keys``) of its content and the previous record's hash, so
``verify_audit`` finds any record altered, removed, inserted out of turn or forged by someone
holding the database alone. Records written before keying have no key id and a plain sha256;
they are accepted only before the chain's first keyed record.

The domain functions that make administrative changes take an ``Authority``: the check that
the actor may make the change and the writer of its record, both run on the change's own
connection (``workflow.org.directory.OfficeAct`` is the office's).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.orm import Session

from workflow.db import Database
from workflow.models import AuditEvent

GENESIS = "0" * 64
CHAIN_LOCK = 0x72656374  # PostgreSQL advisory lock: one writer appends to the chain at a time
AUDIT = AuditEvent.__table__


class AuditKey(Protocol):
    """The key a record is hashed under (``workflow.issues.keys.HistoryKey``)."""

    @property
    def id(self) -> str: ...

    def digest(self, message: bytes) -> str: ...


class AuditKeys(Protocol):
    """The keys records may name (``workflow.issues.keys.HistoryKeys``)."""

    def get(self, key_id: str) -> AuditKey | None: ...


class Authority(Protocol):
    """Who makes an administrative change: ``check`` refuses them unless they may make
    ``action``; ``record`` appends the change's audit record. Both run on the change's own
    write transaction."""

    def check(self, conn: Session | Connection, action: str) -> None: ...

    def record(self, conn: Session | Connection, action: str, subject: str, *, at: datetime,
               **details: Any) -> int: ...


@dataclass(frozen=True)
class AuditEntry:
    """What one record says: who (name, role, operating-system user), what and on what."""

    actor: str
    role: str
    os_user: str | None
    action: str
    subject: str
    details: dict[str, Any]


def audit_content(*, at: datetime, entry: AuditEntry, prev_hash: str) -> bytes:
    """What a record's hash covers: its canonical JSON (unchanged since the first release, so
    records written before keying still verify)."""
    return json.dumps(
        [at.isoformat(timespec="microseconds"), entry.actor, entry.role, entry.os_user,
         entry.action, entry.subject, entry.details, prev_hash],
        ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def audit_hash(*, at: datetime, entry: AuditEntry, prev_hash: str,
               key: AuditKey | None) -> str:
    """The hash of one record: HMAC-SHA256 under ``key``, or plain sha256 without one (the
    records written before keying)."""
    content = audit_content(at=at, entry=entry, prev_hash=prev_hash)
    return key.digest(content) if key is not None else hashlib.sha256(content).hexdigest()


def append_audit(conn: Session | Connection, entry: AuditEntry, *, at: datetime,
                 key: AuditKey) -> int:
    """Append ``entry`` at the chain's end inside the caller's write transaction (an ORM
    session or a Core connection; SQLite: it holds the write lock; PostgreSQL: an advisory
    lock held to commit), hashed under ``key``; returns its id."""
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    if bind.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    prev_hash = conn.scalar(select(AUDIT.c.hash).order_by(AUDIT.c.id.desc()).limit(1)) \
        or GENESIS
    at = at.astimezone(UTC)
    row = conn.execute(insert(AUDIT).returning(AUDIT.c.id), {
        "at": at, "actor": entry.actor, "role": entry.role, "os_user": entry.os_user,
        "action": entry.action, "subject": entry.subject, "details": entry.details,
        "prev_hash": prev_hash, "key_id": key.id,
        "hash": audit_hash(at=at, entry=entry, prev_hash=prev_hash, key=key)})
    return int(row.scalar_one())


def audit_events(db: Database, *, limit: int | None = None) -> list[AuditEvent]:
    """The trail, oldest first (the last ``limit`` records when given)."""
    with db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        rows = list(session.scalars(query.limit(limit) if limit else query))
    return rows[::-1]


@dataclass
class AuditCheck:
    """What ``verify_audit`` found: the problems (altered, removed, out of turn, forged, or
    under an unknown key), the records walked and those that predate keying."""

    records: int = 0
    unkeyed: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_audit(db: Database, keys: AuditKeys) -> AuditCheck:
    """Walk the chain under ``keys``; every record after the first keyed one must be keyed."""
    check = AuditCheck()
    prev_hash, keyed = GENESIS, False
    with db.session() as session:
        for row in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            check.records += 1
            problem = _record_problem(row, prev_hash, keys, keyed)
            if problem:
                check.problems.append(f"audit record {row.id}: {problem}")
            keyed = keyed or row.key_id is not None
            check.unkeyed += row.key_id is None
            prev_hash = row.hash
    return check


def _record_problem(row: AuditEvent, prev_hash: str, keys: AuditKeys,
                    keyed: bool) -> str | None:
    if row.prev_hash != prev_hash:
        return "broken link (a record before it is missing, or it was inserted out of turn)"
    key = None
    if row.key_id is not None:
        key = keys.get(row.key_id)
        if key is None:
            return (f"hashed with key {row.key_id}, which is not among the history keys "
                    "(give the key file or RECTIFY_HISTORY_KEY it was written under)")
    elif keyed:
        return ("no key id after keyed records: a plain sha256 record, which only someone "
                "writing to the database directly makes (forged)")
    entry = AuditEntry(row.actor, row.role, row.os_user, row.action, row.subject, row.details)
    if audit_hash(at=row.at, entry=entry, prev_hash=row.prev_hash, key=key) != row.hash:
        return "altered: its content no longer matches its hash"
    return None
