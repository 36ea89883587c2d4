"""Sign-in records on the audit trail: sign-ins, failures, lockouts, sign-outs, token use and
refused requests, each in a transaction of its own (a refusal is recorded though the request
changed nothing). Read with ``rectify audit list``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflow.audit import AuditEntry, AuditKey, append_audit
from workflow.db import Database

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
LOCKOUT = "lockout"
SIGN_IN_LOCKED = "sign_in_locked"
SIGN_OUT = "sign_out"
TOKEN_USE = "token_use"
REFUSED = "request_refused"
ANONYMOUS = "anonymous"
_SUBJECT_LENGTH = 64  # a login typed by anyone: kept short on the trail


def record_sign_in_event(db: Database, action: str, *, login: str, now: datetime,
                         key: AuditKey, person: str | None = None, role: str | None = None,
                         **details: Any) -> int:
    """Append one sign-in record, hashed under ``key`` (the history key): who (the account's
    person, or ``anonymous`` when the login is unknown or not yet established), which login,
    and the details (address, reason)."""
    entry = AuditEntry(person or ANONYMOUS, role or ANONYMOUS, None, action,
                       f"login {login[:_SUBJECT_LENGTH]}", details)
    with db.session(write=True) as session:
        return append_audit(session, entry, at=now, key=key)
