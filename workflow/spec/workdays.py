"""The working-day calendar (工作日): public holidays, make-up working days and deadlines.

China's days off are set each year by a notice of the General Office of the State Council
(国务院办公厅关于某年部分节假日安排的通知): the statutory holidays, joined to weekends into
longer breaks, and make-up working days (调休上班) on Saturdays or Sundays. Years up to
``LAST_OFFICIAL_YEAR`` come from the ``holidays`` package, which carries those notices; later
years are the package's estimate (statutory holidays, no make-up days) and every deadline that
counts a day in them is *provisional* until an office enters the year's notice in the override
file ``definitions/calendar.yaml`` (see ``docs/calendar.md``).

Deadlines are computed in Asia/Shanghai and returned as aware UTC datetimes.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import holidays
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from workflow.clock import SHANGHAI, to_utc
from workflow.config import PROJECT_ROOT
from workflow.errors import DefinitionError, DefinitionFault, InputError
from workflow.spec.definitions import CALENDAR_FILE_NAME
from workflow.spec.durations import Duration
from workflow.spec.source import format_key, parse_yaml

LAST_OFFICIAL_YEAR = 2026
"""The last year whose notice is built in, checked day for day
by the tests; raise it only together with the table of official schedules in the tests."""

CALENDAR_ENV = "RECTIFY_CALENDAR"
DEFAULT_CALENDAR_FILE = PROJECT_ROOT / "definitions" / CALENDAR_FILE_NAME
END_OF_DAY = time(23, 59, 59)
FIRST_YEAR = holidays.China.start_year
LAST_YEAR = holidays.China.end_year

_ONE_DAY = timedelta(days=1)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY = r"\d{4}-\d{2}-\d{2}"
_DAY_OR_RANGE = re.compile(rf"^\s*(?P<first>{_DAY})\s*(?:\.\.\s*(?P<last>{_DAY})\s*)?$")


@dataclass(frozen=True)
class YearNotice:
    """One year's arrangement as published by the State Council, entered in the override file.

    Attributes:
        year: the year the notice is for.
        notice: its reference, e.g. ``国务院办公厅关于2026年部分节假日安排的通知``.
        holidays: every day off it lists (weekend days inside a break included).
        working_days: the make-up working days (调休上班), all Saturdays or Sundays.
    """

    year: int
    notice: str
    holidays: frozenset[date]
    working_days: frozenset[date]


@dataclass(frozen=True)
class _Year:
    """The days of one calendar year that differ from the plain Monday-to-Friday week."""

    holidays: frozenset[date]
    working_days: frozenset[date]


@cache
def _package_year(year: int) -> _Year:
    """The ``holidays`` package's days off and make-up days of ``year``, built once per year.

    The package keeps make-up days in ``weekend_workdays``; they are filled in when a year is
    populated (a notice's make-up day in the previous December is filled in by every instance),
    so only the days of ``year`` itself are kept.
    """
    china = holidays.China(years=year)
    return _Year(frozenset(day for day in china if day.year == year),
                 frozenset(day for day in china.weekend_workdays if day.year == year))


def _day(value: date, name: str = "day") -> date:
    # A datetime is a date too, but would never equal the dates in the sets: refuse it rather
    # than silently treat every holiday as a working day.
    if isinstance(value, datetime):
        raise InputError(f"{name} must be a date, not a datetime ({value.isoformat()}); take "
                         "its Asia/Shanghai local date first")
    return value


class WorkCalendar:
    """Working days of mainland China and deadline arithmetic over them.

    A day is a working day when it is a Monday to Friday that is not a holiday, or a Saturday
    or Sunday that is a make-up working day. Each year's data is built once and cached.
    """

    def __init__(self, notices: Iterable[YearNotice] = (), *,
                 last_official_year: int = LAST_OFFICIAL_YEAR):
        """Build a calendar.

        Args:
            notices: year notices from the override file; each replaces the package's data
                for its year (and, where it lists days of the previous December, those days).
            last_official_year: the last year the package carries an official notice for.
        """
        self._notices = {notice.year: notice for notice in notices}
        self.last_official_year = last_official_year
        self._years: dict[int, _Year] = {}
        # (start, n) → the n-th working day after start: a calendar is fixed once built, and
        # every transition into a state with a working-day deadline asks for one.
        self._after: dict[tuple[date, int], date] = {}

    @property
    def notice_years(self) -> list[int]:
        """The years whose data comes from the override file, in order."""
        return sorted(self._notices)

    def notice(self, year: int) -> str | None:
        """The notice reference entered for ``year``, or None when the year is not overridden."""
        entry = self._notices.get(year)
        return entry.notice if entry else None

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise InputError(f"no working-day calendar for {year}: years {FIRST_YEAR} to "
                             f"{LAST_YEAR} are supported")
        own = self._notices.get(year)
        base = _Year(own.holidays, own.working_days) if own else _package_year(year)
        days_off, make_up = set(base.holidays), set(base.working_days)
        # The New Year break of the next year's notice may begin, or have its make-up day, in
        # this December (as in the notice for 2019); the later notice decides those days.
        following = self._notices.get(year + 1)
        if following:
            for day in following.holidays:
                if day.year == year:
                    days_off.add(day)
                    make_up.discard(day)
            for day in following.working_days:
                if day.year == year:
                    make_up.add(day)
                    days_off.discard(day)
        cached = self._years[year] = _Year(frozenset(days_off), frozenset(make_up))
        return cached

    def _works(self, day: date) -> bool:
        year = self._year(day.year)
        if day.weekday() >= 5:
            return day in year.working_days
        return day not in year.holidays

    def _provisional_year(self, year: int) -> bool:
        return year > self.last_official_year and year not in self._notices

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (工作日), make-up working days included."""
        return self._works(_day(day))

    def is_provisional(self, day: date) -> bool:
        """Whether ``day`` lies in a year whose official arrangement is not known yet.

        That is a year after ``last_official_year`` that the override file does not cover;
        its holidays are the package's estimate and it has no make-up working days.
        """
        return self._provisional_year(_day(day).year)

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start`` (``start`` itself is not counted).

        Raises:
            InputError: ``n`` is less than 1, or the result lies outside the supported years.
        """
        day = _day(start, "start")
        if n < 1:
            raise InputError(f"a number of working days must be 1 or more, not {n}")
        cached = self._after.get((day, n))
        if cached is not None:
            return cached
        first, left = day, n
        while left:
            day += _ONE_DAY
            if self._works(day):
                left -= 1
        self._after[(first, n)] = day
        return day

    def working_days_between(self, a: date, b: date) -> int:
        """How many working days come after ``a`` up to and including ``b``.

        So ``working_days_between(a, add_working_days(a, n)) == n``. When ``b`` is before
        ``a`` the count of ``(b, a]`` is returned negated, like a difference of dates.
        """
        first, last = _day(a, "a"), _day(b, "b")
        if last < first:
            return -self.working_days_between(last, first)
        count, day = 0, first
        while day < last:
            day += _ONE_DAY
            count += self._works(day)
        return count

    def deadline_after(self, start: datetime, duration: Duration) -> tuple[datetime, bool]:
        """The deadline ``duration`` after ``start``, and whether it is provisional.

        Computed in Asia/Shanghai: calendar days keep the local time of day N days later;
        working days end at 23:59:59 of the N-th working day after the start's local date;
        hours are N elapsed hours. The deadline is provisional when any day counted (the days
        after the start's local date up to the deadline's) lies in a provisional year, so
        deadlines are marked alike whatever their unit.

        Args:
            start: when the period begins; a naive value is taken as Asia/Shanghai time.
            duration: a parsed duration (``parse_duration``).

        Returns:
            the deadline as an aware UTC datetime, and the provisional flag.
        """
        begin = to_utc(start).astimezone(SHANGHAI)
        if duration.count < 1:
            raise InputError(f"a duration must be 1 or more, not {duration.count}")
        if duration.unit == "days":
            # Adding a timedelta to an aware datetime keeps its wall-clock time of day.
            end = begin + timedelta(days=duration.count)
        elif duration.unit == "working_days":
            last_day = self.add_working_days(begin.date(), duration.count)
            end = datetime.combine(last_day, END_OF_DAY, tzinfo=SHANGHAI)
        elif duration.unit == "hours":
            end = (to_utc(start) + timedelta(hours=duration.count)).astimezone(SHANGHAI)
        else:
            raise InputError(f"unknown duration unit {duration.unit!r}: expected days, "
                             "working_days or hours")
        first_counted = min(begin.date() + _ONE_DAY, end.date())
        provisional = any(self._provisional_year(year)
                          for year in range(first_counted.year, end.date().year + 1))
        return end.astimezone(UTC), provisional

    def _begin_of(self, due: date, duration: Duration) -> date:
        """The day after which a stage of ``duration`` must start to end on ``due``."""
        if duration.unit == "working_days":
            # The stage's N working days are the last N on or before ``due``; it begins after
            # the working day before them, which is when the previous stage is due.
            seen, day = 0, due
            while True:
                if self._works(day):
                    seen += 1
                    if seen > duration.count:
                        return day
                day -= _ONE_DAY
        if duration.unit == "days":
            return due - timedelta(days=duration.count)
        # A schedule by date has no hours: a stage of hours takes whole days, rounded up.
        return due - timedelta(days=math.ceil(duration.count / 24))

    def reverse_schedule(self, final_deadline: date, stages: Sequence[tuple[str, Duration]],
                         start: date | None = None) -> list[tuple[str, date]]:
        """Schedule stages backwards from a final deadline (倒排工期).

        The last stage is due on ``final_deadline``; each earlier stage is due on the day the
        next one begins after. A stage of N working days gets the last N working days on or
        before its due date, so the stage before it is due on the working day before them;
        a stage of N calendar days begins N days before its due date; hours count as whole
        days, rounded up.

        Args:
            final_deadline: when the last stage (and the whole work) is due.
            stages: (name, duration) in the order the stages are worked.
            start: when work can begin at the earliest; the first stage may begin after it.

        Returns:
            (name, due date) for each stage, in the order given.

        Raises:
            InputError: the stages would have to begin before ``start``.
        """
        due = _day(final_deadline, "final_deadline")
        schedule: list[tuple[str, date]] = []
        for name, duration in reversed(stages):
            if duration.count < 1:
                raise InputError(f"stage {name!r}: a duration must be 1 or more, not "
                                 f"{duration.count}")
            schedule.append((name, due))
            due = self._begin_of(due, duration)
        schedule.reverse()
        if start is not None and due < _day(start, "start"):
            first = stages[0][0]
            raise InputError(
                f"the stages do not fit between {start} and {final_deadline}: stage {first!r} "
                f"would have to begin after {due}, {(start - due).days} day(s) before the "
                "start; move the final deadline later or shorten a stage")
        return schedule


# --- the override file -----------------------------------------------------------------------

def _day_span(value: Any) -> tuple[date, date]:
    """A single day or a range ``FIRST..LAST`` (both included) as (first, last)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value, value
    match = _DAY_OR_RANGE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{value!r} is not a day: expected YYYY-MM-DD or a range "
                         "YYYY-MM-DD..YYYY-MM-DD")
    days = []
    for text in (match["first"], match["last"] or match["first"]):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{text} is not a date in the calendar") from None
    if days[1] < days[0]:
        raise ValueError(f"range {value!r} ends before it begins")
    return days[0], days[1]


_DaySpan = Annotated[tuple[date, date], BeforeValidator(_day_span)]


class _NoticeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    notice: str = Field(min_length=1, description="the notice's reference or title")
    holidays: list[_DaySpan] = Field(min_length=1)
    working_days: list[_DaySpan] = Field(default_factory=list)


_MESSAGES = {
    "extra_forbidden": "unknown key; allowed keys here: notice, holidays, working_days",
    "missing": "required key is missing",
    "list_type": "expected a list of days (YYYY-MM-DD or ranges YYYY-MM-DD..YYYY-MM-DD)",
    "model_type": "expected a mapping with the keys notice, holidays and working_days",
}


class _Loader(yaml.SafeLoader):
    """Safe YAML that leaves dates as text, so that a non-existent date is reported with its
    line instead of failing inside the YAML library."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_calendar(source: str, path: str) -> list[YearNotice]:
    """Validate the override file's text and return its year notices.

    Raises:
        InputError: naming every fault with the file, line, key (year) and bad value.
    """
    faults: list[DefinitionFault] = []
    try:
        parsed = parse_yaml(source, path, _Loader)
    except DefinitionError as exc:
        raise _calendar_error(path, exc.faults) from None
    raw = parsed.value

    def fault(loc: Sequence[Any], message: str) -> None:
        # Parts compared as text: a key read as a number (``5:``) is text in the file.
        faults.append(DefinitionFault(path, parsed.line(loc, by_text=True), format_key(loc),
                                      message))

    for key, line, first in parsed.repeated:
        # The calendar prints a repeated key's path all as text, list indices included.
        faults.append(DefinitionFault(path, line, format_key([str(part) for part in key]),
                                      f"repeated (first at line {first}); each year and key "
                                      "may appear once"))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        fault((), "expected a mapping with the key 'years' at the top level")
        raise _calendar_error(path, faults)
    for key in raw:
        if key != "years":
            fault((key,), "unknown key; allowed keys here: years")
    years = raw.get("years") or {}
    if not isinstance(years, dict):
        fault(("years",), "expected a mapping of year → entry (notice, holidays, working_days)")
        years = {}

    notices = []
    for key, value in years.items():
        # A quoted year ("2027") is as good as a plain one.
        year = int(key) if isinstance(key, str) and key.strip().isdigit() else \
            key if isinstance(key, int) and not isinstance(key, bool) else None
        if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
            fault(("years", str(key)), f"{key!r} is not a year: expected a year from {FIRST_YEAR} "
                  f"to {LAST_YEAR}")
            continue
        try:
            entry = _NoticeEntry.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors():
                loc = ("years", str(year), *error["loc"])
                message = _MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))
                if error["type"] == "too_short":
                    message = "list at least one day off"
                elif error["type"] == "string_too_short":
                    message = ("give the notice's reference or title, e.g. "
                               "国务院办公厅关于2027年部分节假日安排的通知")
                fault(loc, message)
            continue
        notice, notice_faults = _checked_notice(year, entry)
        for loc, message in notice_faults:
            fault(("years", str(year), *loc), message)
        notices.append(notice)
    if faults:
        raise _calendar_error(path, faults)
    return notices


def _checked_notice(year: int, entry: _NoticeEntry,
                    ) -> tuple[YearNotice, list[tuple[tuple[Any, ...], str]]]:
    """Expand one year's entry into days; list what is wrong with it as (key path, message)."""
    faults: list[tuple[tuple[Any, ...], str]] = []
    listed: dict[str, dict[date, int]] = {"holidays": {}, "working_days": {}}
    for key, spans in (("holidays", entry.holidays), ("working_days", entry.working_days)):
        for index, (first, last) in enumerate(spans):
            day = first
            while day <= last:
                # A New Year break may begin in the December before the year (notice for 2019:
                # 2018-12-30 off, 2018-12-29 a make-up day), so that December is accepted.
                if day.year != year and not (day.year == year - 1 and day.month == 12):
                    faults.append(((key, index), f"{day} is not in {year}: a year's notice "
                                   f"lists days of {year} (and of December {year - 1} for a "
                                   "New Year break that begins early)"))
                    break
                if key == "working_days" and day.weekday() < 5:
                    faults.append(((key, index), f"{day} is a {_WEEKDAYS[day.weekday()]}, a "
                                   "working day anyway; make-up working days (调休上班) are "
                                   "Saturdays or Sundays"))
                    break
                listed[key].setdefault(day, index)
                day += _ONE_DAY
    for day, index in listed["working_days"].items():
        if (holiday := listed["holidays"].get(day)) is not None:
            faults.append((("working_days", index),
                           f"{day} is listed both as a holiday (holidays[{holiday}]) and as a "
                           "make-up working day; a day is one or the other"))
    notice = YearNotice(year, entry.notice.strip(), frozenset(listed["holidays"]),
                        frozenset(listed["working_days"]))
    return notice, faults


def _calendar_error(path: str, faults: Sequence[DefinitionFault]) -> InputError:
    ordered = sorted(set(faults), key=lambda item: (item.line, item.key, item.message))
    lines = "\n".join(f"  {item}" for item in ordered)
    return InputError(f"{len(ordered)} problem(s) in the calendar file {path}:\n{lines}")


def load_calendar(path: Path | None = None) -> WorkCalendar:
    """Build the working-day calendar with the override file's year notices.

    The file is ``path``, else ``$RECTIFY_CALENDAR``, else ``definitions/calendar.yaml`` of
    this repository. A missing default file means no overrides; a file named by ``path`` or
    the variable must exist.

    Raises:
        InputError: the file is missing (when named) or has faults.
    """
    named = path or (Path(value) if (value := os.environ.get(CALENDAR_ENV)) else None)
    file = named or DEFAULT_CALENDAR_FILE
    try:
        source = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named is None:
            return WorkCalendar()
        raise InputError(f"calendar file {file} does not exist (named by "
                         f"{'the caller' if path else CALENDAR_ENV})") from None
    return WorkCalendar(parse_calendar(source, str(file)))
