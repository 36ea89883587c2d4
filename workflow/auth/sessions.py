"""Browser sessions kept on the server. The cookie carries a random id; the database keeps
only its sha256 and the sha256 of the session's CSRF token. A session ends when unused for
``session_idle``, ``session_max`` after sign-in, when its account is disabled, or at sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from workflow.auth.settings import AuthSettings
from workflow.db import Database
from workflow.models import Account, WebSession


def digest(secret: str) -> str:
    """sha256 hex of a session id, CSRF token or API token: what the database keeps."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """What the client is given once: the session id (the cookie) and its CSRF token."""

    session_id: str
    csrf_token: str


@dataclass(frozen=True)
class LiveSession:
    """A session found live for a request: its row id, its CSRF digest and the account."""

    id: int
    csrf_hash: str
    account: Account

    def csrf_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(digest(token or ""), self.csrf_hash)


def start_session(db: Database, account_id: int, *, address: str | None, now: datetime,
                  settings: AuthSettings) -> NewSession:
    """Open a session for a signed-in account."""
    new = NewSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    with db.session(write=True) as session:
        session.add(WebSession(id_hash=digest(new.session_id), csrf_hash=digest(new.csrf_token),
                               account_id=account_id, address=address, created_at=now,
                               last_seen_at=now, expires_at=now + settings.session_max))
    return new


def live_session(db: Database, session_id: str, *, now: datetime,
                 settings: AuthSettings) -> LiveSession | None:
    """The live session the cookie names, its last use moved to ``now``; None when there is
    none, or it is revoked, idle too long, past its end, or its account disabled."""
    with db.session(write=True) as session:
        row = session.scalar(select(WebSession).where(WebSession.id_hash == digest(session_id)))
        if row is None or row.revoked_at is not None or now >= row.expires_at or \
                now - row.last_seen_at >= settings.session_idle:
            return None
        account = session.get(Account, row.account_id)
        if account is None or account.disabled:
            return None
        row.last_seen_at = now
        return LiveSession(row.id, row.csrf_hash, account)


def end_session(db: Database, session_row_id: int, *, now: datetime) -> None:
    """Revoke a session (sign-out): its cookie is worth nothing from now on."""
    with db.session(write=True) as session:
        row = session.get(WebSession, session_row_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now
