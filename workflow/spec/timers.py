"""Durable timers: what an issue's deadline schedules, and the warning light it shows.

When an issue enters a state with a deadline, ``plan_timers`` lists the rows to write in the
same transaction: a reminder before the deadline for each ``notices.reminders_before`` offset,
then (when the state escalates) one row per escalation level past it. Their ``rank`` orders
them on one timeline, so a sweep after an outage can tell which one is current.

A step counted in days falls due at the reminder hour (``Settings.reminder_hour``, 09:00
Asia/Shanghai by default) of its local day: a reminder "7 days" before a deadline on 12-31
at 09:00 on 12-24, an escalation level at the first reminder hour at or after the deadline
plus its offset (the red notice for a deadline at 23:59:59 on 12-31 at 09:00 on 01-01). A step
counted in hours falls due exactly that many hours away. Day counts in notices are
Asia/Shanghai calendar days, or working days for a state whose deadline is in working days
(``days_left``, ``days_overdue``): never a fraction rounded up.

``state_words`` says, for each state of a definition, how its deadline is named in notices
(整改时限, 开始整改时限, 验收销号时限…), who gets its reminders and how its days are counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from workflow.clock import SHANGHAI, local
from workflow.config import DEFAULT_REMINDER_HOUR
from workflow.spec.definitions import (
    FROM_ISSUE,
    RECTIFICATION_DEADLINE_ZH,
    Notices,
    ProcessDefinition,
    StateSpec,
    TransitionSpec,
    is_hours,
)
from workflow.spec.durations import parse_duration

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
CALENDAR_DAYS, WORKING_DAYS = "days", "working_days"
_ZERO, _ONE_DAY = timedelta(0), timedelta(days=1)


@dataclass(frozen=True)
class Step:
    """One step of a deadline's timeline: a reminder before it or a level of the ladder past
    it, ``offset`` from the deadline; ``by_day`` when the offset is written in days (the step
    then falls due at the reminder hour of its local day)."""

    kind: str
    level: str
    offset: timedelta
    by_day: bool


@dataclass(frozen=True)
class PlannedTimer:
    kind: str
    level: str
    rank: int
    due_at: datetime


def reminder_level(offset_text: str) -> str:
    return f"{REMINDER}:{offset_text.strip()}"


def timeline(notices: Notices, *, escalate: bool = True) -> list[Step]:
    """Every step, in rank order: reminders from the farthest to the nearest, then the
    escalation levels."""
    reminders = sorted(zip(notices.reminders_before, notices.reminder_offsets_by_text(),
                           strict=True), key=lambda pair: -pair[1])
    steps = [Step(REMINDER, reminder_level(text), -offset, not is_hours(text))
             for text, offset in reminders]
    if escalate:
        steps += [Step(ESCALATION, level.key, level.offset,
                       level.after is None or not is_hours(level.after))
                  for level in notices.escalation]
    return steps


def step_due(step: Step, deadline: datetime, hour: int = DEFAULT_REMINDER_HOUR) -> datetime:
    """When ``step`` of ``deadline``'s timeline falls due (an aware UTC datetime).

    A reminder counted in days comes at ``hour`` on the local day that many days before the
    deadline's; a level of the ladder counted in days at the first ``hour`` at or after the
    deadline plus its offset; a step counted in hours exactly at the deadline plus its offset.
    """
    return _due_times([step], deadline, hour)[0]


def _due_times(steps: list[Step], deadline: datetime, hour: int) -> list[datetime]:
    deadline = deadline.astimezone(UTC)
    # Asia/Shanghai has kept one offset (UTC+8) since 1991: read it once, then count in UTC.
    shift = deadline.astimezone(SHANGHAI).utcoffset() or _ZERO
    at = timedelta(hours=hour) - shift
    midnight = (deadline + shift).replace(hour=0, minute=0, second=0, microsecond=0) - shift
    out = []
    for step in steps:
        moment = deadline + step.offset
        if not step.by_day:
            out.append(moment)
        elif step.offset < _ZERO:
            out.append(midnight + timedelta(days=step.offset.days, hours=hour))
        else:
            day = (moment + shift).replace(hour=0, minute=0, second=0, microsecond=0)
            out.append(day + at if day + at >= moment else day + _ONE_DAY + at)
    return out


def plan_timers(steps: list[Step], deadline: datetime, *,
                hour: int = DEFAULT_REMINDER_HOUR) -> list[PlannedTimer]:
    """The timers a deadline schedules for a ``timeline``, in rank order.

    Args:
        steps: the definition's timeline for the state (``CompiledDefinition.timelines``).
        deadline: the state's deadline (aware).
        hour: the local hour steps counted in days fall due at (``Settings.reminder_hour``).
    """
    return [PlannedTimer(step.kind, step.level, rank, due)
            for rank, (step, due) in enumerate(zip(steps, _due_times(steps, deadline, hour),
                                                   strict=True))]


def plan_milestone_timers(reminders: list[Step], name: str, due: datetime, *,
                          hour: int = DEFAULT_REMINDER_HOUR) -> list[PlannedTimer]:
    """A milestone's timeline: the reminders before it, then the missed notice (yellow) at
    the first reminder hour after it.

    Args:
        reminders: the reminder steps of the definition (``timeline(..., escalate=False)``).
        name: the milestone's name.
        due: when it is due.
        hour: the local hour steps counted in days fall due at.
    """
    steps = [*reminders, Step(MILESTONE, MISSED, timedelta(0), True)]
    return [PlannedTimer(MILESTONE, f"{name}{MILESTONE_SEP}{step.level}", rank, at)
            for rank, (step, at) in enumerate(zip(steps, _due_times(steps, due, hour),
                                                  strict=True))]


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
    if due_at is not None and offsets and _within(offsets[0], due_at, now):
        return "blue"
    return "green"


def _within(offset: timedelta, due_at: datetime, now: datetime) -> bool:
    """Whether ``now`` is within ``offset`` of ``due_at``: counted in Asia/Shanghai calendar
    days for an offset of whole days (the reminder "7 days" before 12-31 turns the light blue
    from 12-24 on), exactly for one in hours."""
    if offset % timedelta(days=1):
        return due_at - now <= offset
    return calendar_days(now, due_at) <= offset.days


def calendar_days(earlier: datetime, later: datetime) -> int:
    """Asia/Shanghai calendar days from ``earlier``'s local date to ``later``'s (negative when
    ``later`` is on an earlier day): 12-04 to 12-10 is 6, whatever the times of day."""
    return (local(later).date() - local(earlier).date()).days


def days_overdue(due_at: datetime | None, now: datetime) -> int:
    """Asia/Shanghai calendar days past the deadline's day (0 when not past it, and on the
    deadline's own day)."""
    if due_at is None or now <= due_at:
        return 0
    return max(0, calendar_days(due_at, now))


@dataclass(frozen=True)
class StateWords:
    """How a state's deadline is spoken of in notices, and who gets its reminders.

    Attributes:
        label_zh, label_en: the deadline's name (整改时限 for the issue's own deadline).
        remind: the recipients of its reminders (unit, acceptor, leader, office).
        unit: how its days are counted, ``days`` (calendar) or ``working_days``.
        rectification: the state's deadline is the issue's own 整改时限.
        action_zh: the label of the transition that completes the state (开始整改,
            验收销号), for the reminder's request; None when nothing leaves the state.
    """

    label_zh: str
    label_en: str
    remind: tuple[str, ...]
    unit: str
    rectification: bool
    action_zh: str | None


def _forward(definition: ProcessDefinition, state: str) -> TransitionSpec | None:
    """The transition that completes ``state``: the first that leaves it for a completed
    (or terminal) state, else the first that leaves it at all."""
    completed = {s.key for s in definition.states if s.completed or s.terminal}
    leaving = [t for t in definition.transitions if state in t.source and t.dest != state]
    return next((t for t in leaving if t.dest in completed), leaving[0] if leaving else None)


def _default_remind(definition: ProcessDefinition, state: str) -> tuple[str, ...]:
    """``notices.remind``, with the acceptance unit in the unit's place in a state whose
    transitions the acceptor may fire and the unit may not (待验收)."""
    roles = {role for t in definition.transitions if state in t.source for role in t.roles}
    remind = list(definition.notices.remind)
    if "acceptor" in roles and "unit" not in roles:
        remind = ["acceptor" if role == "unit" else role for role in remind]
    return tuple(dict.fromkeys(remind))


def _words(definition: ProcessDefinition, spec: StateSpec) -> StateWords:
    forward = _forward(definition, spec.key)
    rectification = spec.deadline == FROM_ISSUE
    if spec.deadline_label_zh:
        label_zh = spec.deadline_label_zh
    elif rectification or forward is None:
        label_zh = RECTIFICATION_DEADLINE_ZH if rectification else f"{spec.label_zh}时限"
    else:
        label_zh = f"{forward.label_zh}时限"
    if spec.deadline_label_en:
        label_en = spec.deadline_label_en
    elif rectification:
        label_en = "Rectification deadline"
    else:
        label_en = f"{(forward.label_en if forward else spec.label_en)} deadline"
    unit = WORKING_DAYS if spec.deadline and not rectification and parse_duration(
        spec.deadline).unit == WORKING_DAYS else CALENDAR_DAYS
    return StateWords(label_zh, label_en,
                      tuple(spec.remind) if spec.remind else _default_remind(definition,
                                                                              spec.key),
                      unit, rectification, forward.label_zh if forward else None)


def state_words(definition: ProcessDefinition) -> dict[str, StateWords]:
    """The words of every state of ``definition`` (computed once per version)."""
    return {spec.key: _words(definition, spec) for spec in definition.states}
