"""Injected time: the engine never calls ``datetime.now`` itself, so tests can move time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (for tests and replays)."""

    def __init__(self, at: datetime):
        self._at = to_utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = to_utc(at)


def to_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; a naive value is taken to be Asia/Shanghai local time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def local(value: datetime) -> datetime:
    """Return an aware datetime converted to Asia/Shanghai for display."""
    return to_utc(value).astimezone(SHANGHAI)


class RunningClock:
    """A clock that starts at a given time and runs on with the real one: a training
    server's rehearsal time (``rectify web --now``)."""

    def __init__(self, at: datetime):
        self._at, self._started = to_utc(at), time.monotonic()

    def now(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._started)
