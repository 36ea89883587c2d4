"""API tokens for integrations: created by the office for an account, shown once, stored as
their sha256, with a scope (``read``: safe methods only; ``write``), an optional expiry,
revocation and the time of last use."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from workflow.auth.accounts import check_office
from workflow.auth.sessions import digest
from workflow.db import Database
from workflow.errors import InputError, NotFoundError
from workflow.models import Account, ApiToken
from workflow.org.directory import OfficeAct

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
PREFIX = "rt_"



@dataclass(frozen=True)
class TokenView:
    """What ``tokens list`` shows of a token (never the token)."""

    id: int
    login: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenUse:
    """A token accepted for a request: its id, scope and account, and whether this use is
    one to put on the audit trail."""

    id: int
    scope: str
    account: Account
    record_use: bool


def create_token(db: Database, login: str, *, scope: str, expires: timedelta | None,
                 by: OfficeAct, now: datetime) -> tuple[int, str]:
    """A new token for the account ``login``; returns its id and the token (shown once).

    Raises:
        InputError: an unknown scope, or a disabled account. NotFoundError: no such account.
        ActionDeniedError: ``by`` is not the office.
    """
    if scope not in SCOPES:
        raise InputError(f"unknown scope {scope!r}; scopes: {', '.join(SCOPES)}")
    check_office(db, by)
    token = PREFIX + secrets.token_urlsafe(32)
    with db.session(write=True) as session:
        account = session.scalar(select(Account).where(Account.login == login))
        if account is None:
            raise NotFoundError(f"there is no account {login!r}; see `rectify accounts list`")
        if account.disabled:
            raise InputError(f"account {login!r} is disabled; a disabled account gets no token")
        row = ApiToken(token_hash=digest(token), account_id=account.id, scope=scope,
                       created_at=now, expires_at=now + expires if expires else None)
        session.add(row)
        session.flush()
        by.record(session, "token_create", f"login {login}", token=row.id, scope=scope,
                  expires_at=row.expires_at and row.expires_at.isoformat(), at=now)
        return int(row.id), token


def list_tokens(db: Database) -> list[TokenView]:
    with db.session() as session:
        rows = session.execute(select(ApiToken, Account.login)
                               .join(Account, Account.id == ApiToken.account_id)
                               .order_by(ApiToken.id)).all()
    return [TokenView(t.id, login, t.scope, t.created_at, t.expires_at, t.revoked_at,
                      t.last_used_at) for t, login in rows]


def revoke_token(db: Database, token_id: int, *, by: OfficeAct, now: datetime) -> bool:
    """Revoke a token; False when it was revoked already.

    Raises:
        NotFoundError: no such token. ActionDeniedError: ``by`` is not the office.
    """
    check_office(db, by)
    with db.session(write=True) as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFoundError(f"there is no token {token_id}; see `rectify tokens list`")
        if row.revoked_at is not None:
            return False
        row.revoked_at = now
        by.record(session, "token_revoke", f"token {token_id}", at=now)
    return True


def use_token(db: Database, token: str, *, now: datetime) -> TokenUse | None:
    """The token's use for a request, its last use moved to ``now``; None when it is
    unknown, revoked, expired or its account disabled."""
    with db.session(write=True) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
        if row is None or row.revoked_at is not None or \
                (row.expires_at is not None and now >= row.expires_at):
            return None
        account = session.get(Account, row.account_id)
        if account is None or account.disabled:
            return None
        record = row.last_used_at is None or _hour(row.last_used_at) != _hour(now)
        row.last_used_at = now
        return TokenUse(row.id, row.scope, account, record)


def _hour(at: datetime) -> datetime:
    """Token use goes to the audit trail once per clock hour in which it is used, so a
    polling integration does not flood the trail; ``last_used_at`` moves on every use."""
    return at.replace(minute=0, second=0, microsecond=0)
