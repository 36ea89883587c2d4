"""Accounts of registered people: adding, listing, disabling, resetting a password and
setting up TOTP, each by an office actor and appended to the audit trail in the same
transaction. An account acts as its person in one of the person's roles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from workflow.auth.passwords import check_new_password, hash_password
from workflow.db import Database, add_unique
from workflow.errors import InputError, NotFoundError
from workflow.models import Account, ApiToken, Person, WebSession
from workflow.org.directory import OfficeAct, resolve_actor

MANAGE_ACCOUNTS = "manage sign-in accounts"
TOTP_ISSUER = "rectify"
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")


@dataclass(frozen=True)
class AccountView:
    """What ``accounts list`` shows of an account (never its hash or secret)."""

    id: int
    login: str
    person: str
    role: str
    totp: bool
    disabled: bool
    created_at: datetime


def check_login(login: str) -> str:
    """The login, or an InputError saying what a login may be."""
    if not _LOGIN.match(login):
        raise InputError(f"login {login!r} is not allowed: 3 to 64 characters, letters, digits "
                         "and . _ @ - , starting with a letter or digit")
    return login


def check_office(db: Database, by: OfficeAct) -> None:
    """Refuse ``by`` unless the office manages accounts (``OfficeAct.check``).

    Raises:
        InputError: an empty directory. ActionDeniedError: ``by`` is not the office.
    """
    with db.session() as session:
        by.check(session, MANAGE_ACCOUNTS)


def _account(session: Session, login: str) -> Account:
    account = session.scalar(select(Account).where(Account.login == login))
    if account is None:
        raise NotFoundError(f"there is no account {login!r}; see `rectify accounts list`")
    return account


def add_account(db: Database, login: str, *, person: str, password: str, by: OfficeAct,
                now: datetime, role: str | None = None) -> int:
    """Add an account for a registered ``person`` acting in ``role`` (default: their only
    role); returns its id.

    Raises:
        InputError: a bad login or password, a person not registered, a role not theirs, a
            login taken. ActionDeniedError: ``by`` is not the office.
    """
    check_office(db, by)
    check_login(login)
    check_new_password(password, login=login)
    with db.session() as session:
        if session.scalar(select(Person.id).where(Person.name == person)) is None:
            raise InputError(f"{person!r} is not a registered person; register them first with "
                             "`rectify people add`")
    try:
        acting = resolve_actor(db, person, role)
    except InputError as exc:  # its advice names --role, which is --account-role here
        raise InputError(f"{exc} (for the account: --account-role)") from None
    with db.session(write=True) as session:
        account_id = add_unique(session, Account(
            login=login, person=person, role=acting.role, password_hash=hash_password(password),
            disabled=False, created_at=now, password_changed_at=now), f"account {login!r}")
        by.record(session, "account_add", f"login {login}", person=person, role=acting.role,
                  at=now)
    return account_id


def list_accounts(db: Database) -> list[AccountView]:
    with db.session() as session:
        return [AccountView(a.id, a.login, a.person, a.role, a.totp_secret is not None,
                            a.disabled, a.created_at)
                for a in session.scalars(select(Account).order_by(Account.login))]


def _end_sign_ins(session: Session, account_id: int, now: datetime) -> None:
    """Revoke every live session and token of the account."""
    session.execute(update(WebSession).where(WebSession.account_id == account_id,
                                             WebSession.revoked_at.is_(None))
                    .values(revoked_at=now))
    session.execute(update(ApiToken).where(ApiToken.account_id == account_id,
                                           ApiToken.revoked_at.is_(None)).values(revoked_at=now))


def disable_account(db: Database, login: str, *, by: OfficeAct, now: datetime) -> bool:
    """Disable an account and end its sessions and tokens; False when it was disabled already.

    Raises:
        NotFoundError: no such account. ActionDeniedError: ``by`` is not the office.
    """
    check_office(db, by)
    with db.session(write=True) as session:
        account = _account(session, login)
        if account.disabled:
            return False
        account.disabled = True
        _end_sign_ins(session, account.id, now)
        by.record(session, "account_disable", f"login {login}", at=now)
    return True


def reset_password(db: Database, login: str, *, password: str, by: OfficeAct,
                   now: datetime) -> None:
    """Give an account a new password and end its sessions (its tokens stay).

    Raises:
        InputError: a password the rules refuse. NotFoundError: no such account.
        ActionDeniedError: ``by`` is not the office.
    """
    check_office(db, by)
    check_new_password(password, login=login)
    with db.session(write=True) as session:
        account = _account(session, login)
        account.password_hash = hash_password(password)
        account.password_changed_at = now
        session.execute(update(WebSession).where(WebSession.account_id == account.id,
                                                 WebSession.revoked_at.is_(None))
                        .values(revoked_at=now))
        by.record(session, "account_reset_password", f"login {login}", at=now)


def set_up_totp(db: Database, login: str, *, by: OfficeAct, now: datetime) -> str:
    """Give the account a new TOTP secret (replacing any earlier one); returns the
    provisioning URI (``otpauth://``) to show once, e.g. as a QR code.

    Raises:
        NotFoundError: no such account. ActionDeniedError: ``by`` is not the office.
    """
    check_office(db, by)
    secret = pyotp.random_base32()
    with db.session(write=True) as session:
        account = _account(session, login)
        account.totp_secret, account.totp_last_step = secret, None
        by.record(session, "account_totp", f"login {login}", at=now)
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=TOTP_ISSUER)


def account_by_id(db: Database, account_id: int) -> Account | None:
    with db.session() as session:
        return session.get(Account, account_id)


def account_by_login(db: Database, login: str) -> Account | None:
    with db.session() as session:
        return session.scalar(select(Account).where(Account.login == login))
