"""The identity-provider seam: a provider turns credentials into a registered person's
account. ``PasswordProvider`` (login, password, optional one-time code) is the one built; a
province's unified sign-in (统一身份认证, OIDC) would implement ``IdentityProvider`` and map
its users to accounts the same way.

Every outcome goes to the audit trail. A wrong password, an unknown login and a disabled
account get the same answer, and an unknown login is throttled like a known one, so the
answers never tell whether a login exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pyotp
from sqlalchemy import select

from workflow.audit import AuditKey
from workflow.auth import throttle
from workflow.auth.passwords import hash_password, needs_rehash, verify_password
from workflow.auth.settings import AuthSettings
from workflow.auth.trail import (
    LOCKOUT,
    SIGN_IN,
    SIGN_IN_FAILED,
    SIGN_IN_LOCKED,
    record_sign_in_event,
)
from workflow.db import Database
from workflow.errors import AuthenticationError, LockedOutError
from workflow.models import Account
from workflow.org.directory import ADMIN_ROLE

WRONG = "login or password is wrong"
TOTP_NEEDED = "this account signs in with a one-time code: give totp (6 digits) as well"
TOTP_WRONG = "the one-time code is wrong or was used already"
TOTP_REQUIRED = ("office accounts must sign in with a second factor (RECTIFY_REQUIRE_TOTP=1), "
                 "and this one has none; the office sets one up with "
                 "`rectify accounts totp LOGIN`")


@dataclass(frozen=True)
class SignedIn:
    """A registered person's account that proved who it is."""

    account_id: int
    login: str
    person: str
    role: str


class IdentityProvider(Protocol):
    """Turns credentials into the account of a registered person, or refuses them."""

    name: str

    def authenticate(self, credentials: Mapping[str, str], *, address: str | None,
                     now: datetime) -> SignedIn:
        """The account the credentials prove.

        Raises:
            AuthenticationError: not proven (LockedOutError: too many failures).
        """
        ...


class PasswordProvider:
    """Sign-in with a login, its Argon2id-hashed password and, where the account has one, a
    TOTP code (``credentials``: ``login``, ``password``, ``totp``)."""

    name = "password"

    def __init__(self, db: Database, settings: AuthSettings, *, key: AuditKey):
        self.db, self.settings, self.key = db, settings, key  # key: the sign-in audit's

    def authenticate(self, credentials: Mapping[str, str], *, address: str | None,
                     now: datetime) -> SignedIn:
        login = credentials.get("login") or ""
        wait = throttle.locked_for(self.db, login, address, now=now)
        if wait:
            record_sign_in_event(self.db, SIGN_IN_LOCKED,
                                 key=self.key, login=login, now=now, address=address)
            raise LockedOutError(retry_after=wait)
        with self.db.session() as session:
            account = session.scalar(select(Account).where(Account.login == login))
        password_ok = verify_password(account.password_hash if account else None,
                                      credentials.get("password") or "")
        if account is None or not password_ok or account.disabled:
            reason = "unknown login" if account is None else \
                "disabled" if password_ok else "wrong password"
            self._fail(login, address, now, account, reason)
            raise AuthenticationError(WRONG)
        self._second_factor(account, credentials.get("totp") or "", address, now)
        throttle.clear_login(self.db, login)
        if needs_rehash(account.password_hash):
            self._rehash(account.id, credentials["password"])
        record_sign_in_event(self.db, SIGN_IN,
                             key=self.key, login=login, now=now, person=account.person,
                             role=account.role, address=address, provider=self.name)
        return SignedIn(account.id, account.login, account.person, account.role)

    def _second_factor(self, account: Account, code: str, address: str | None,
                       now: datetime) -> None:
        if account.totp_secret is None:
            if self.settings.require_totp and account.role == ADMIN_ROLE:
                record_sign_in_event(self.db, SIGN_IN_FAILED,
                                     key=self.key, login=account.login, now=now,
                                     person=account.person, role=account.role,
                                     address=address, reason="second factor required")
                raise AuthenticationError(TOTP_REQUIRED)
            return
        if not code:
            raise AuthenticationError(TOTP_NEEDED)
        step = self._matching_step(account, code, now)
        if step is None:
            self._fail(account.login, address, now, account, "wrong one-time code")
            raise AuthenticationError(TOTP_WRONG)
        with self.db.session(write=True) as session:
            row = session.get(Account, account.id)
            if row is not None:
                row.totp_last_step = step

    @staticmethod
    def _matching_step(account: Account, code: str, now: datetime) -> int | None:
        """The time step ``code`` belongs to (this one or either neighbour, for clock
        drift), None when it matches none or was used already (no replay)."""
        totp = pyotp.TOTP(account.totp_secret or "")
        current = totp.timecode(now)
        for step in (current, current - 1, current + 1):
            if account.totp_last_step is not None and step <= account.totp_last_step:
                continue
            if pyotp.utils.strings_equal(totp.generate_otp(step), code.strip()):
                return step
        return None

    def _fail(self, login: str, address: str | None, now: datetime, account: Account | None,
              reason: str) -> None:
        locked = throttle.record_failure(self.db, login, address, now=now,
                                         settings=self.settings)
        who = {"person": account.person, "role": account.role} if account else {}
        record_sign_in_event(self.db, SIGN_IN_FAILED,
                             key=self.key, login=login, now=now, address=address,
                             reason=reason, **who)
        if locked:
            record_sign_in_event(self.db, LOCKOUT,
                                 key=self.key, login=login, now=now, address=address,
                                 minutes=int(self.settings.lockout_for.total_seconds() // 60),
                                 **who)

    def _rehash(self, account_id: int, password: str) -> None:
        with self.db.session(write=True) as session:
            row = session.get(Account, account_id)
            if row is not None:
                row.password_hash = hash_password(password)
