"""Passwords: the rules a new one must meet, and Argon2id hashing (argon2-cffi)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from workflow.errors import InputError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # bounds the work one sign-in costs
_HASHER = PasswordHasher()  # Argon2id with the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """Verified when a login is unknown, so an unknown login costs as long as a wrong
    password; made at the first sign-in, not at import (a hash takes 64 MiB for a moment)."""
    return _HASHER.hash("rectify: no such account, no such password")


def check_new_password(password: str, *, login: str) -> None:
    """Refuse a password that is too short, too long, or the login itself.

    Raises:
        InputError: every problem at once.
    """
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"the password has {len(password)} characters; at least {MIN_LENGTH} "
                        "are needed")
    if len(password) > MAX_LENGTH:
        problems.append(f"the password is longer than {MAX_LENGTH} characters")
    if password.strip().casefold() == login.strip().casefold():
        problems.append("the password may not be the login")
    if problems:
        raise InputError("; ".join(problems))


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string, salt and parameters inside) of ``password``."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash; with no hash (an unknown login) a
    dummy hash is verified, so both take the same time, and False is returned."""
    try:
        matched = _HASHER.verify(stored or _dummy_hash(), password[:MAX_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and stored is not None


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than today's (rehash on sign-in)."""
    return _HASHER.check_needs_rehash(stored)
