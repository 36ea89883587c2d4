"""The sign-in settings, read once from the environment: session timeouts, the lockout, the
second factor required of office accounts, and whether to trust ``X-Forwarded-Proto``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from workflow.errors import ConfigurationError, InputError

_SPAN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TRUE = ("1", "true", "yes", "on")


def parse_span(text: str, what: str) -> timedelta:
    """A span like ``90d``, ``12h``, ``30m`` or ``2s`` (a whole number and one unit).

    Raises:
        InputError: anything else, or a span of zero.
    """
    match = _SPAN.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise InputError(f"{what} {text!r} is not a span of time; use a whole number and one "
                         "of s, m, h, d, e.g. 90d, 12h, 30m")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class AuthSettings:
    """How sign-in behaves (defaults in brackets):

    - ``RECTIFY_SESSION_IDLE`` [30m]: a session unused this long ends;
    - ``RECTIFY_SESSION_MAX`` [12h]: a session ends this long after sign-in, used or not;
    - ``RECTIFY_LOCKOUT_AFTER`` [5] failed sign-ins lock a login or an address for
      ``RECTIFY_LOCKOUT_FOR`` [15m];
    - ``RECTIFY_REQUIRE_TOTP`` [0]: office accounts must sign in with a one-time code;
    - ``RECTIFY_TRUST_FORWARDED_PROTO`` [0]: behind a reverse proxy that sets
      ``X-Forwarded-Proto``, believe it (the cookie is then ``Secure`` for https);
    - ``RECTIFY_OBJECTION_LIMIT`` [5/1h]: objections from the public (sent without sign-in)
      one address may send per span; ``N`` alone means per hour.
    """

    session_idle: timedelta = timedelta(minutes=30)
    session_max: timedelta = timedelta(hours=12)
    lockout_after: int = 5
    lockout_for: timedelta = timedelta(minutes=15)
    require_totp: bool = False
    trust_forwarded_proto: bool = False
    objection_limit: int = 5
    objection_window: timedelta = timedelta(hours=1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthSettings:
        """The settings the environment gives.

        Raises:
            ConfigurationError: a value that is not a span or a positive number.
        """
        env = os.environ if env is None else env
        try:
            spans = {name: parse_span(env[var], var) for name, var in (
                ("session_idle", "RECTIFY_SESSION_IDLE"), ("session_max", "RECTIFY_SESSION_MAX"),
                ("lockout_for", "RECTIFY_LOCKOUT_FOR")) if env.get(var)}
        except InputError as exc:
            raise ConfigurationError(str(exc)) from None
        after = env.get("RECTIFY_LOCKOUT_AFTER", "5")
        if not after.isdigit() or int(after) < 1:
            raise ConfigurationError(f"RECTIFY_LOCKOUT_AFTER {after!r} must be a whole number "
                                     "of failed sign-ins, at least 1 (default 5)")
        limit, window = _objection_limit(env.get("RECTIFY_OBJECTION_LIMIT", "5/1h"))
        return cls(**spans, lockout_after=int(after),
                   objection_limit=limit, objection_window=window,
                   require_totp=env.get("RECTIFY_REQUIRE_TOTP", "").lower() in _TRUE,
                   trust_forwarded_proto=env.get("RECTIFY_TRUST_FORWARDED_PROTO", "").lower()
                   in _TRUE)


def _objection_limit(text: str) -> tuple[int, timedelta]:
    count, _, span = text.partition("/")
    count = count.strip()
    try:
        window = parse_span(span, "RECTIFY_OBJECTION_LIMIT") if span else timedelta(hours=1)
    except InputError:
        window = None
    if not count.isdigit() or int(count) < 1 or window is None:
        raise ConfigurationError(f"RECTIFY_OBJECTION_LIMIT {text!r} must be a whole number of "
                                 "objections, at least 1, optionally per span: 5/1h, 20/1d "
                                 "(default 5/1h)")
    return int(count), window
