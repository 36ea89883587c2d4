"""Durations and calendar months, as plain functions.

A definition writes its periods as text: ``"15 working days"``, ``"7 days"`` or ``"48 hours"``
for deadlines, stages and offsets (``parse_duration``), and ``"6 months"`` for look-back marks
(``parse_months``). Monthly reports and briefings name a month as ``YYYY-MM`` and count in
Asia/Shanghai months. Working days themselves are the calendar's (``workdays.py``).
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from workflow.clock import SHANGHAI, local
from workflow.errors import InputError

DURATION_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s+(?P<unit>days?|working days?|hours?)\s*$")
MONTHS_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s+months?\s*$")
MONTH_PATTERN = re.compile(r"^(?P<year>\d{4})-(?P<month>0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Duration:
    """A parsed duration: ``count`` of ``unit`` (calendar days, working days 工作日, or hours)."""

    count: int
    unit: Literal["days", "working_days", "hours"]


def parse_duration(text: str) -> Duration:
    """Parse ``"7 days"``, ``"15 working days"`` or ``"48 hours"``.

    Raises:
        ValueError: the text is not one of those forms or the count is not positive.
    """
    if isinstance(text, str):
        return _parse_duration(text)
    raise ValueError(_bad_duration(text))


@functools.lru_cache(maxsize=256)  # a definition's few durations, parsed on every transition
def _parse_duration(text: str) -> Duration:
    match = DURATION_PATTERN.match(text)
    if not match or int(match["count"]) <= 0:
        raise ValueError(_bad_duration(text))
    unit = match["unit"].rstrip("s")
    kinds = {"day": "days", "working day": "working_days", "hour": "hours"}
    return Duration(int(match["count"]), kinds[unit])  # type: ignore[arg-type]


def _bad_duration(text: object) -> str:
    return (f"bad duration {text!r}: expected a positive whole number followed by "
            "'days', 'working days' or 'hours' (e.g. '7 days', '15 working days')")


def parse_months(text: str) -> int:
    """Parse ``"6 months"`` (calendar months, for look-back marks).

    Raises:
        ValueError: the text is not a positive whole number of months.
    """
    match = MONTHS_PATTERN.match(text) if isinstance(text, str) else None
    if not match or int(match["count"]) <= 0:
        raise ValueError(f"bad look-back mark {text!r}: expected a positive whole number of "
                         "months, e.g. '6 months'")
    return int(match["count"])


def last_day_of_month(year: int, month: int) -> date:
    """The last day of ``month`` (1 to 12) of ``year``.

    Raises:
        ValueError: the month is not 1 to 12.
    """
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months (minus, when ``months`` is negative); the 31st becomes the
    month's last day when that month is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, last_day_of_month(year, month).day))


def parse_month(text: str) -> str:
    """``2021-03`` as given (without surrounding blanks); anything else is refused.

    Raises:
        InputError: not ``YYYY-MM``.
    """
    if not MONTH_PATTERN.match(text.strip()):
        raise InputError(f"month {text!r} must look like YYYY-MM, e.g. 2021-03")
    return text.strip()


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of ``month``, a ``YYYY-MM`` that ``MONTH_PATTERN`` matches."""
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), last_day_of_month(year, number)


def month_end(month: str) -> datetime:
    """The first instant after ``month`` (``YYYY-MM``) in Asia/Shanghai, as an aware datetime."""
    _, last = month_days(month)
    return datetime.combine(last + timedelta(days=1), time(0), SHANGHAI)


def _month_text(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_of(moment: datetime) -> str:
    """The ``YYYY-MM`` month that ``moment`` falls in, in Asia/Shanghai."""
    return _month_text(local(moment).date())


def previous_month(moment: datetime) -> str:
    """The ``YYYY-MM`` month before the one ``moment`` falls in, in Asia/Shanghai."""
    return _month_text(add_months(local(moment).date().replace(day=1), -1))
