"""The audit trail: append-only, hash-chained records of administrative changes.

Issue changes are kept in each issue's history; everything else an office does — registering
people, units and contacts, loading definitions, recomputing the calendar, retrying dead
letters, importing a ledger, moving a training database's clock — is appended here with who
did it, as which operating-system user, and when. The table refuses UPDATE and DELETE
(triggers on SQLite and PostgreSQL); one chain runs through all records, each ``hash`` covering
its content and the previous record's hash, so ``verify_audit`` finds any record altered,
removed or inserted out of turn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from workflow.db import Database
from workflow.models import AuditEvent

GENESIS = "0" * 64
_CHAIN_LOCK = 0x72656374  # PostgreSQL advisory lock: one writer appends to the chain at a time


@dataclass(frozen=True)
class AuditEntry:
    """What one record says: who (name, role, operating-system user), what and on what."""

    actor: str
    role: str
    os_user: str | None
    action: str
    subject: str
    details: dict[str, Any]


def audit_hash(*, at: datetime, entry: AuditEntry, prev_hash: str) -> str:
    """The hash of one record: sha256 of its canonical JSON (the one place to make it keyed)."""
    content = json.dumps(
        [at.isoformat(timespec="microseconds"), entry.actor, entry.role, entry.os_user,
         entry.action, entry.subject, entry.details, prev_hash],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def append_audit(session: Session, entry: AuditEntry, *, at: datetime) -> int:
    """Append ``entry`` at the chain's end inside the caller's write transaction (SQLite: the
    session holds the write lock; PostgreSQL: an advisory lock held to commit); returns its id.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    prev_hash = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc())
                               .limit(1)) or GENESIS
    row = AuditEvent(at=at, actor=entry.actor, role=entry.role, os_user=entry.os_user,
                     action=entry.action, subject=entry.subject, details=entry.details,
                     prev_hash=prev_hash, hash=audit_hash(at=at, entry=entry, prev_hash=prev_hash))
    session.add(row)
    session.flush()
    return int(row.id)


def record_audit(db: Database, entry: AuditEntry, *, at: datetime) -> int:
    """Append ``entry`` in a transaction of its own; returns its id."""
    with db.session(write=True) as session:
        return append_audit(session, entry, at=at)


def audit_events(db: Database, *, limit: int | None = None) -> list[AuditEvent]:
    """The trail, oldest first (the last ``limit`` records when given)."""
    with db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id.desc())
        rows = list(session.scalars(query.limit(limit) if limit else query))
    return rows[::-1]


def verify_audit(db: Database) -> str | None:
    """Walk the chain; the first problem found (altered, removed or out of turn), or None."""
    prev_hash = GENESIS
    with db.session() as session:
        for row in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            if row.prev_hash != prev_hash:
                return f"audit record {row.id}: broken link (a record before it is missing)"
            entry = AuditEntry(row.actor, row.role, row.os_user, row.action, row.subject,
                               row.details)
            if audit_hash(at=row.at, entry=entry, prev_hash=row.prev_hash) != row.hash:
                return f"audit record {row.id}: altered, its content no longer matches its hash"
            prev_hash = row.hash
    return None
