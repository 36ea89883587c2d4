"""The throttle of failed sign-ins: after ``lockout_after`` failures within ``lockout_for``,
a login (known or not, so the answer says nothing of whether it exists) and a client address
are each locked for ``lockout_for``. A successful sign-in clears its login's count, not its
address's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from workflow.auth.settings import AuthSettings
from workflow.db import Database
from workflow.models import SignInThrottle

LOGIN = "login"
ADDRESS = "address"
_KEY_LENGTH = 200


def _keys(login: str, address: str | None) -> list[tuple[str, str]]:
    keys = [(LOGIN, login.strip().casefold()[:_KEY_LENGTH])]
    if address:
        keys.append((ADDRESS, address[:_KEY_LENGTH]))
    return keys


def locked_for(db: Database, login: str, address: str | None, *, now: datetime) -> int:
    """Seconds until sign-in opens again for this login or address; 0 when it is open."""
    keys = _keys(login, address)
    with db.session() as session:
        rows = session.scalars(select(SignInThrottle).where(
            SignInThrottle.kind.in_([kind for kind, _ in keys]),
            SignInThrottle.key.in_([key for _, key in keys])))
        waits = [int((row.locked_until - now).total_seconds()) + 1 for row in rows
                 if (row.kind, row.key) in keys and row.locked_until and row.locked_until > now]
    return max(waits, default=0)


def record_failure(db: Database, login: str, address: str | None, *, now: datetime,
                   settings: AuthSettings) -> bool:
    """Count one failed sign-in against the login and the address; True when this failure
    locked either of them."""
    for attempt in range(2):  # a first failure racing another may clash on the unique key
        try:
            return _count(db, _keys(login, address), now=now, settings=settings)
        except IntegrityError:
            if attempt:
                raise
    return False


def _count(db: Database, keys: list[tuple[str, str]], *, now: datetime,
           settings: AuthSettings) -> bool:
    locked = False
    with db.session(write=True) as session:
        for kind, key in keys:
            row = session.scalar(select(SignInThrottle).where(
                SignInThrottle.kind == kind, SignInThrottle.key == key).with_for_update())
            if row is None:
                row = SignInThrottle(kind=kind, key=key, failures=0, window_start=now)
                session.add(row)
            elif now - row.window_start > settings.lockout_for:
                row.failures, row.window_start = 0, now
            row.failures += 1
            if row.failures >= settings.lockout_after:
                row.locked_until = now + settings.lockout_for
                row.failures, row.window_start = 0, now
                locked = True
            session.flush()
    return locked


def clear_login(db: Database, login: str) -> None:
    """Forget the failed sign-ins of ``login`` (after it signed in)."""
    kind, key = _keys(login, None)[0]
    with db.session(write=True) as session:
        row = session.scalar(select(SignInThrottle).where(SignInThrottle.kind == kind,
                                                          SignInThrottle.key == key))
        if row is not None:
            row.failures = 0
