"""Durations, as plain functions.

A definition writes its periods as text: ``"15 working days"``, ``"7 days"`` or ``"48 hours"``
for deadlines, stages and offsets (``parse_duration``), and ``"6 months"`` for look-back marks
(``parse_months``). Working days themselves are the calendar's (``workdays.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DURATION_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s+(?P<unit>days?|working days?|hours?)\s*$")
MONTHS_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s+months?\s*$")


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
    match = DURATION_PATTERN.match(text) if isinstance(text, str) else None
    if not match or int(match["count"]) <= 0:
        raise ValueError(
            f"bad duration {text!r}: expected a positive whole number followed by "
            "'days', 'working days' or 'hours' (e.g. '7 days', '15 working days')"
        )
    unit = match["unit"].rstrip("s")
    kinds = {"day": "days", "working day": "working_days", "hour": "hours"}
    return Duration(int(match["count"]), kinds[unit])  # type: ignore[arg-type]


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
