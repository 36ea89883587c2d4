"""Durable timers: what an issue's deadline schedules, and the warning light it shows.

When an issue enters a state with a deadline, ``plan_timers`` lists the rows to write in the
same transaction: a reminder before the deadline for each ``notices.reminders_before`` offset,
then (when the state escalates) one row per escalation level past it. Their ``rank`` orders
them on one timeline, so a sweep after an outage can tell which one is current.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from workflow.spec.definitions import Notices

Light = Literal["green", "blue", "yellow", "red"]
LIGHT_LABELS: dict[str, tuple[str, str]] = {
    "green": ("正常", "On schedule"), "blue": ("提醒", "Reminder"),
    "yellow": ("预警", "Warning"), "red": ("督办", "Overdue"),
}
REMINDER = "reminder"
ESCALATION = "escalation"
MILESTONE = "milestone"
MISSED = "missed"
MILESTONE_SEP = "|"  # a milestone timer's level is "<milestone name>|<step>"
PENDING, LEASED, DONE, SKIPPED, CANCELLED = "pending", "leased", "done", "skipped", "cancelled"


@dataclass(frozen=True)
class PlannedTimer:
    kind: str
    level: str
    rank: int
    due_at: datetime


def reminder_level(offset_text: str) -> str:
    return f"{REMINDER}:{offset_text.strip()}"


def timeline(notices: Notices, *, escalate: bool = True) -> list[tuple[str, str, timedelta]]:
    """(kind, level, offset from the deadline) for every step, in rank order: reminders from
    the farthest to the nearest, then the escalation levels."""
    reminders = sorted(zip(notices.reminders_before, notices.reminder_offsets_by_text(),
                           strict=True), key=lambda pair: -pair[1])
    steps = [(REMINDER, reminder_level(text), -offset) for text, offset in reminders]
    if escalate:
        steps += [(ESCALATION, level.key, level.offset) for level in notices.escalation]
    return steps


def plan_timers(steps: list[tuple[str, str, timedelta]], deadline: datetime) -> list[PlannedTimer]:
    """The timers a deadline schedules for a ``timeline``, in rank order."""
    return [PlannedTimer(kind, level, rank, deadline + offset)
            for rank, (kind, level, offset) in enumerate(steps)]


def plan_milestone_timers(reminders: list[tuple[str, str, timedelta]], name: str,
                          due: datetime) -> list[PlannedTimer]:
    """A milestone's timeline: the reminders before it, then the missed notice (yellow) at it.

    Args:
        reminders: the reminder steps of the definition (``timeline(..., escalate=False)``).
        name: the milestone's name.
        due: when it is due.
    """
    steps = [*(level for _, level, _ in reminders), MISSED]
    offsets = [*(offset for _, _, offset in reminders), timedelta(0)]
    return [PlannedTimer(MILESTONE, f"{name}{MILESTONE_SEP}{step}", rank, due + offset)
            for rank, (step, offset) in enumerate(zip(steps, offsets, strict=True))]


def milestone_of(level: str) -> str:
    """The milestone name in a milestone timer's level."""
    return level.rsplit(MILESTONE_SEP, 1)[0]


def light_of(*, due_at: datetime | None, completed: bool, notices: Notices, now: datetime,
             milestone_missed: bool = False, behind_schedule: bool = False) -> Light:
    """The warning light: red past the deadline, yellow on a missed milestone or when behind
    schedule (未达序时进度, or a monthly report missing), blue within the farthest reminder of
    the deadline, green otherwise (and always once completed)."""
    if completed:
        return "green"
    if due_at is not None and now > due_at:
        return "red"
    if milestone_missed or behind_schedule:
        return "yellow"
    offsets = notices.reminder_offsets()
    if due_at is not None and offsets and due_at - now <= offsets[0]:
        return "blue"
    return "green"


def days_overdue(due_at: datetime | None, now: datetime) -> int:
    """Started days past the deadline (0 when not past it)."""
    if due_at is None or now <= due_at:
        return 0
    return (now - due_at) // timedelta(days=1) + 1
