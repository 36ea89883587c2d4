"""The working-day calendar: official holidays and make-up working days, deadlines computed in
Asia/Shanghai, provisional years, the override file and reverse scheduling (倒排工期).

Pure unit tests: no database. Override files are written to ``tmp_path``; the 2027 entries in
them are invented test data, not an official arrangement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from workflow.clock import SHANGHAI
from workflow.errors import InputError
from workflow.spec.durations import Duration, parse_duration
from workflow.spec.workdays import (
    CALENDAR_ENV,
    DEFAULT_CALENDAR_FILE,
    LAST_OFFICIAL_YEAR,
    WorkCalendar,
    load_calendar,
    parse_calendar,
)

CALENDAR = WorkCalendar()

# The State Council's arrangements (国务院办公厅关于部分节假日安排的通知), year by year: the
# days off, as (first, last) month-day pairs, and the make-up working days. 2019 includes the
# revised May Day break of March 2019; 2020 the Spring Festival extended to 2 February.
OFFICIAL_DAYS_OFF = {
    2019: [("01-01", "01-01"), ("02-04", "02-10"), ("04-05", "04-07"), ("05-01", "05-04"),
           ("06-07", "06-09"), ("09-13", "09-15"), ("10-01", "10-07")],
    2020: [("01-01", "01-01"), ("01-24", "02-02"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("06-25", "06-27"), ("10-01", "10-08")],
    2021: [("01-01", "01-03"), ("02-11", "02-17"), ("04-03", "04-05"), ("05-01", "05-05"),
           ("06-12", "06-14"), ("09-19", "09-21"), ("10-01", "10-07")],
    2022: [("01-01", "01-03"), ("01-31", "02-06"), ("04-03", "04-05"), ("04-30", "05-04"),
           ("06-03", "06-05"), ("09-10", "09-12"), ("10-01", "10-07")],
    2023: [("01-01", "01-02"), ("01-21", "01-27"), ("04-05", "04-05"), ("04-29", "05-03"),
           ("06-22", "06-24"), ("09-29", "10-06")],
    2024: [("01-01", "01-01"), ("02-10", "02-17"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("06-10", "06-10"), ("09-15", "09-17"), ("10-01", "10-07")],
    2025: [("01-01", "01-01"), ("01-28", "02-04"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("05-31", "06-02"), ("10-01", "10-08")],
    2026: [("01-01", "01-03"), ("02-15", "02-23"), ("04-04", "04-06"), ("05-01", "05-05"),
           ("06-19", "06-21"), ("09-25", "09-27"), ("10-01", "10-07")],
}
OFFICIAL_MAKE_UP_DAYS = {
    2019: ["02-02", "02-03", "04-28", "05-05", "09-29", "10-12"],
    2020: ["01-19", "04-26", "05-09", "06-28", "09-27", "10-10"],
    2021: ["02-07", "02-20", "04-25", "05-08", "09-18", "09-26", "10-09"],
    2022: ["01-29", "01-30", "04-02", "04-24", "05-07", "10-08", "10-09"],
    2023: ["01-28", "01-29", "04-23", "05-06", "06-25", "10-07", "10-08"],
    2024: ["02-04", "02-18", "04-07", "04-28", "05-11", "09-14", "09-29", "10-12"],
    2025: ["01-26", "02-08", "04-27", "09-28", "10-11"],
    2026: ["01-04", "02-14", "02-28", "05-09", "09-20", "10-10"],
}

# Invented arrangement for 2027 (test data only): New Year 1-4 January, one make-up Saturday.
OVERRIDE_2027 = """\
years:
  2027:
    notice: 测试通知（非官方）
    holidays:
      - 2027-01-01..2027-01-04
    working_days:
      - 2027-02-20
"""


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def problems(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as caught:
        load_calendar(path)
    return str(caught.value)


# --- the official schedules ------------------------------------------------------------------

@pytest.mark.parametrize("year", sorted(OFFICIAL_DAYS_OFF))
def test_every_day_of_the_official_years_matches_the_notices(year: int) -> None:
    # Given the official days off and make-up days of the year
    off = {day for first, last in OFFICIAL_DAYS_OFF[year]
           for day in days(f"{year}-{first}", f"{year}-{last}")}
    make_up = {d(f"{year}-{md}") for md in OFFICIAL_MAKE_UP_DAYS[year]}
    # When every day of the year is asked about
    # Then the calendar agrees with the notice on each one
    wrong = [day for day in days(f"{year}-01-01", f"{year}-12-31")
             if CALENDAR.is_working_day(day)
             != (day in make_up or (day.weekday() < 5 and day not in off))]
    assert wrong == []
    assert not any(CALENDAR.is_provisional(day) for day in (d(f"{year}-01-01"),
                                                           d(f"{year}-12-31")))


def test_the_last_official_year_is_2026() -> None:
    # Given the built-in data
    # When the boundary of official years is read
    # Then 2026 is the last, so 2027 is provisional and 2026 is not
    assert LAST_OFFICIAL_YEAR == 2026 == max(OFFICIAL_DAYS_OFF)
    assert not CALENDAR.is_provisional(d("2026-12-31"))
    assert CALENDAR.is_provisional(d("2027-01-01"))


def test_spring_festival_2024() -> None:
    # Given the 2024 Spring Festival: 10-17 February off, Sundays 4 and 18 February worked
    # When the days around it are asked about
    # Then the break is off, both Sundays are working days, and New Year's Eve (9 February,
    # only "encouraged" as a day of leave) is a working day
    assert not any(CALENDAR.is_working_day(day) for day in days("2024-02-10", "2024-02-17"))
    assert CALENDAR.is_working_day(d("2024-02-04"))
    assert CALENDAR.is_working_day(d("2024-02-18"))
    assert CALENDAR.is_working_day(d("2024-02-09"))
    assert not CALENDAR.is_working_day(d("2024-02-03"))  # an ordinary Saturday
    # And working days are counted across it, the make-up Sundays included
    assert CALENDAR.add_working_days(d("2024-02-02"), 1) == d("2024-02-04")
    assert CALENDAR.add_working_days(d("2024-02-09"), 1) == d("2024-02-18")
    assert CALENDAR.add_working_days(d("2024-02-05"), 10) == d("2024-02-23")
    assert CALENDAR.working_days_between(d("2024-02-08"), d("2024-02-19")) == 3


def test_national_day_2024() -> None:
    # Given the 2024 National Day: 1-7 October off, Sunday 29 September and Saturday
    # 12 October worked
    # When working days are counted across it
    # Then the break is skipped and both make-up days count
    assert not any(CALENDAR.is_working_day(day) for day in days("2024-10-01", "2024-10-07"))
    assert CALENDAR.is_working_day(d("2024-09-29"))
    assert CALENDAR.is_working_day(d("2024-10-12"))
    assert CALENDAR.add_working_days(d("2024-09-27"), 1) == d("2024-09-29")
    assert CALENDAR.add_working_days(d("2024-09-30"), 1) == d("2024-10-08")
    assert CALENDAR.add_working_days(d("2024-09-30"), 5) == d("2024-10-12")
    assert CALENDAR.add_working_days(d("2024-10-11"), 1) == d("2024-10-12")


def test_spring_festival_2025() -> None:
    # Given the 2025 Spring Festival: 28 January-4 February off, Sunday 26 January and
    # Saturday 8 February worked
    # When working days are counted across it
    # Then 15 working days from Monday 20 January end on 14 February
    assert not any(CALENDAR.is_working_day(day) for day in days("2025-01-28", "2025-02-04"))
    assert CALENDAR.is_working_day(d("2025-01-26"))
    assert CALENDAR.is_working_day(d("2025-02-08"))
    assert CALENDAR.add_working_days(d("2025-01-24"), 1) == d("2025-01-26")
    assert CALENDAR.add_working_days(d("2025-01-27"), 1) == d("2025-02-05")
    assert CALENDAR.add_working_days(d("2025-02-07"), 1) == d("2025-02-08")
    assert CALENDAR.add_working_days(d("2025-01-20"), 15) == d("2025-02-14")


def test_national_day_and_mid_autumn_2025() -> None:
    # Given 2025's joint National Day and Mid-Autumn break: 1-8 October off, Sunday
    # 28 September and Saturday 11 October worked
    # When working days are counted across it
    # Then the eight days are skipped and both make-up days count
    assert not any(CALENDAR.is_working_day(day) for day in days("2025-10-01", "2025-10-08"))
    assert CALENDAR.is_working_day(d("2025-09-28"))
    assert CALENDAR.is_working_day(d("2025-10-11"))
    assert CALENDAR.add_working_days(d("2025-09-26"), 1) == d("2025-09-28")
    assert CALENDAR.add_working_days(d("2025-09-30"), 1) == d("2025-10-09")
    assert CALENDAR.add_working_days(d("2025-10-10"), 1) == d("2025-10-11")
    assert CALENDAR.working_days_between(d("2025-09-26"), d("2025-10-13")) == 7


def test_counting_is_the_inverse_of_adding() -> None:
    # Given every start day of 2024 and a count up to a year of working days
    for offset in range(0, 366, 7):
        start = d("2024-01-01") + timedelta(days=offset)
        for n in (1, 15, 250):
            # When n working days are added
            end = CALENDAR.add_working_days(start, n)
            # Then exactly n working days lie after the start up to the result, which is one
            assert CALENDAR.working_days_between(start, end) == n
            assert CALENDAR.working_days_between(end, start) == -n
            assert CALENDAR.is_working_day(end)


def test_wrong_arguments_are_refused() -> None:
    # Given the calendar
    # When a datetime is given for a day, or a count below one
    # Then the call is refused instead of answering about the wrong thing
    with pytest.raises(InputError, match="must be a date, not a datetime"):
        CALENDAR.is_working_day(datetime(2024, 10, 1, 12, tzinfo=UTC))
    with pytest.raises(InputError, match="1 or more, not 0"):
        CALENDAR.add_working_days(d("2024-10-01"), 0)
    with pytest.raises(InputError, match="years 1950 to 2100"):
        CALENDAR.is_working_day(d("2101-01-03"))


# --- deadlines -------------------------------------------------------------------------------

START = datetime(2024, 9, 30, 12, 0, tzinfo=UTC)  # 20:00 on Monday 30 September in Shanghai


def test_start_is_read_in_shanghai() -> None:
    # Given a start stored in UTC
    # When it is seen in Asia/Shanghai
    # Then 12:00 UTC is 20:00 local
    assert START.astimezone(SHANGHAI).replace(tzinfo=None) == datetime(2024, 9, 30, 20, 0)


def test_working_days_end_at_the_end_of_the_local_day() -> None:
    # Given a start on 30 September 2024, 20:00 in Shanghai
    # When one and five working days are added
    # Then the deadlines are 23:59:59 Shanghai time of 8 and 12 October, returned in UTC
    due, provisional = CALENDAR.deadline_after(START, parse_duration("1 working day"))
    assert due == datetime(2024, 10, 8, 23, 59, 59, tzinfo=SHANGHAI)
    assert due == datetime(2024, 10, 8, 15, 59, 59, tzinfo=UTC)
    assert due.utcoffset() == timedelta(0)
    assert provisional is False
    due, _ = CALENDAR.deadline_after(START, parse_duration("5 working days"))
    assert due == datetime(2024, 10, 12, 15, 59, 59, tzinfo=UTC)


def test_working_days_count_from_the_local_date_not_the_utc_date() -> None:
    # Given 17:00 UTC on Saturday 28 September 2024, which is 01:00 on Sunday 29 September,
    # a make-up working day, in Shanghai
    start = datetime(2024, 9, 28, 17, 0, tzinfo=UTC)
    # When one working day is added
    due, _ = CALENDAR.deadline_after(start, Duration(1, "working_days"))
    # Then it ends on Monday 30 September (counting from the UTC date would give the 29th)
    assert due == datetime(2024, 9, 30, 23, 59, 59, tzinfo=SHANGHAI)


def test_calendar_days_keep_the_local_time() -> None:
    # Given the start at 20:00 Shanghai time
    # When seven calendar days are added, across the National Day break
    due, provisional = CALENDAR.deadline_after(START, parse_duration("7 days"))
    # Then the deadline is 20:00 Shanghai time seven days later
    assert due == datetime(2024, 10, 7, 12, 0, tzinfo=UTC)
    assert provisional is False


def test_hours_are_elapsed_time() -> None:
    # Given the start at 20:00 Shanghai time
    # When 48 hours are added
    due, provisional = CALENDAR.deadline_after(START, parse_duration("48 hours"))
    # Then the deadline is 48 hours later, holidays or not
    assert due == datetime(2024, 10, 2, 12, 0, tzinfo=UTC)
    assert provisional is False


def test_a_naive_start_is_shanghai_time() -> None:
    # Given the same start written without a time zone
    # When a deadline is computed
    # Then it is the one of the aware start
    naive = datetime(2024, 9, 30, 20, 0)
    assert CALENDAR.deadline_after(naive, Duration(3, "days")) == \
        CALENDAR.deadline_after(START, Duration(3, "days"))


# --- provisional years and the override file ---------------------------------------------------

TURN_OF_YEAR = datetime(2026, 12, 25, 10, 0, tzinfo=SHANGHAI)  # a Friday


def test_a_deadline_counted_into_2027_is_provisional() -> None:
    # Given a start on Friday 25 December 2026 and no notice for 2027
    # When ten working days are added (the package's estimate: only 1 January off)
    due, provisional = CALENDAR.deadline_after(TURN_OF_YEAR, Duration(10, "working_days"))
    # Then the deadline is 11 January 2027 and marked provisional
    assert due == datetime(2027, 1, 11, 23, 59, 59, tzinfo=SHANGHAI)
    assert provisional is True
    # And a deadline still inside 2026 is not
    due, provisional = CALENDAR.deadline_after(TURN_OF_YEAR, Duration(3, "working_days"))
    assert due == datetime(2026, 12, 30, 23, 59, 59, tzinfo=SHANGHAI)
    assert provisional is False


def test_every_unit_is_provisional_once_it_counts_a_day_of_2027() -> None:
    # Given starts near the end of 2026
    # When calendar days or hours reach into 2027, or stay in 2026
    # Then only those reaching 2027 are provisional
    assert CALENDAR.deadline_after(TURN_OF_YEAR, Duration(7, "days"))[1] is True
    assert CALENDAR.deadline_after(TURN_OF_YEAR, Duration(6, "days"))[1] is False
    late = datetime(2026, 12, 31, 22, 0, tzinfo=SHANGHAI)
    assert CALENDAR.deadline_after(late, Duration(2, "hours"))[1] is True  # midnight: 2027
    assert CALENDAR.deadline_after(late, Duration(1, "hours"))[1] is False


def test_an_override_makes_2027_official_and_recomputes(tmp_path: Path) -> None:
    # Given an override file with a (test) notice for 2027 that adds 4 January as a day off
    calendar = load_calendar(write(tmp_path, OVERRIDE_2027))
    # When the same ten working days are added
    due, provisional = calendar.deadline_after(TURN_OF_YEAR, Duration(10, "working_days"))
    # Then the deadline moves one working day later and is no longer provisional
    assert due == datetime(2027, 1, 12, 23, 59, 59, tzinfo=SHANGHAI)
    assert provisional is False
    assert calendar.notice(2027) == "测试通知（非官方）"
    assert calendar.notice_years == [2027]
    assert not calendar.is_provisional(d("2027-06-30"))
    assert calendar.is_provisional(d("2028-01-01"))
    # And its make-up Saturday is a working day
    assert calendar.is_working_day(d("2027-02-20"))
    assert not CALENDAR.is_working_day(d("2027-02-20"))


def test_an_override_replaces_the_year_entirely(tmp_path: Path) -> None:
    # Given the package's estimate for 2027 has the Spring Festival off
    assert not CALENDAR.is_working_day(d("2027-02-08"))
    # When a notice for 2027 that lists only the New Year break is loaded
    calendar = load_calendar(write(tmp_path, OVERRIDE_2027))
    # Then nothing of the estimate is left for 2027
    assert calendar.is_working_day(d("2027-02-08"))
    assert calendar.is_working_day(d("2027-10-04"))


def test_an_override_for_an_official_year_replaces_it_too(tmp_path: Path) -> None:
    # Given a notice entered for 2024 that keeps only National Day (make-up days unlisted)
    calendar = load_calendar(write(tmp_path, """\
years:
  2024:
    notice: 测试通知（非官方）
    holidays: [2024-10-01..2024-10-07]
"""))
    # When days of 2024 are asked about
    # Then the entry decides: the Spring Festival is gone and 12 October is a Saturday again
    assert calendar.is_working_day(d("2024-02-14"))
    assert not calendar.is_working_day(d("2024-10-12"))
    assert not calendar.is_working_day(d("2024-10-07"))


def test_a_new_year_break_may_begin_in_the_previous_december(tmp_path: Path) -> None:
    # Given a notice for 2027 whose New Year break starts on 31 December 2026 with a make-up
    # day on Sunday 27 December 2026 (test data)
    calendar = load_calendar(write(tmp_path, """\
years:
  2027:
    notice: 测试通知（非官方）
    holidays: [2026-12-31..2027-01-02]
    working_days: [2026-12-27]
"""))
    # When those December days are asked about
    # Then the later notice decides them, and 2026 stays official
    assert not calendar.is_working_day(d("2026-12-31"))
    assert calendar.is_working_day(d("2026-12-27"))
    assert CALENDAR.is_working_day(d("2026-12-31"))
    assert not CALENDAR.is_working_day(d("2026-12-27"))
    assert not calendar.is_provisional(d("2026-12-31"))


def test_the_shipped_file_has_no_notices() -> None:
    # Given the repository's definitions/calendar.yaml
    # When it is loaded
    calendar = load_calendar(DEFAULT_CALENDAR_FILE)
    # Then it enters no year (no notice after 2026 exists yet), so 2027 is provisional
    assert calendar.notice_years == []
    assert calendar.is_provisional(d("2027-01-01"))


def test_the_example_in_the_shipped_file_is_the_2026_notice() -> None:
    # Given the commented example in definitions/calendar.yaml
    text = DEFAULT_CALENDAR_FILE.read_text(encoding="utf-8").splitlines()
    start = text.index("# years:")
    example = "\n".join(line.removeprefix("#").removeprefix(" ")
                        for line in text[start:] if line.startswith("#"))
    # When it is parsed
    calendar = WorkCalendar(parse_calendar(example, "example"))
    # Then it is valid and agrees with the built-in 2026 on every day
    assert calendar.notice(2026) == "国务院办公厅关于2026年部分节假日安排的通知"
    assert [day for day in days("2026-01-01", "2026-12-31")
            if calendar.is_working_day(day) != CALENDAR.is_working_day(day)] == []


def test_the_file_can_be_named_by_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Given RECTIFY_CALENDAR naming an override file
    monkeypatch.setenv(CALENDAR_ENV, str(write(tmp_path, OVERRIDE_2027)))
    # When the calendar is loaded without a path
    # Then that file is used
    assert load_calendar().notice_years == [2027]
    # And a named file that does not exist is an error, not an empty calendar
    monkeypatch.setenv(CALENDAR_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(InputError, match=r"missing\.yaml does not exist"):
        load_calendar()


def test_an_empty_file_enters_nothing(tmp_path: Path) -> None:
    # Given an override file with only comments
    # When it is loaded
    # Then the calendar has no notices
    assert load_calendar(write(tmp_path, "# nothing yet\n")).notice_years == []


# --- override validation -----------------------------------------------------------------------

def test_a_date_that_does_not_exist_is_named_with_its_line(tmp_path: Path) -> None:
    # Given an entry with 30 February
    text = OVERRIDE_2027.replace("2027-01-01..2027-01-04", "2027-02-30")
    # When the file is loaded
    message = problems(tmp_path, text)
    # Then the file, line, year and bad value are named
    line = line_of(text, "2027-02-30")
    assert f"calendar.yaml:{line}: years.2027.holidays[0]: 2027-02-30 is not a date" in message


def test_a_value_that_is_not_a_day_is_refused(tmp_path: Path) -> None:
    # Given entries that are not days: a number, a reversed range
    text = OVERRIDE_2027.replace("2027-01-01..2027-01-04", "20270101") \
        .replace("- 2027-02-20", "- 2027-02-21..2027-02-20")
    # When the file is loaded
    message = problems(tmp_path, text)
    # Then each is reported with its line
    assert f":{line_of(text, '20270101')}: years.2027.holidays[0]: 20270101 is not a day" \
        in message
    assert f":{line_of(text, '2027-02-21..')}: years.2027.working_days[0]: range " \
        "'2027-02-21..2027-02-20' ends before it begins" in message
    assert message.startswith("2 problem(s) in the calendar file")


def test_a_date_outside_its_year_is_refused(tmp_path: Path) -> None:
    # Given a 2027 entry listing a day of 2028 and one of November 2026
    text = OVERRIDE_2027.replace("- 2027-02-20", "- 2028-01-08\n      - 2026-11-28")
    # When the file is loaded
    message = problems(tmp_path, text)
    # Then both are refused (only December of the previous year is accepted)
    assert f":{line_of(text, '2028-01-08')}: years.2027.working_days[0]: 2028-01-08 is not " \
        "in 2027" in message
    assert f":{line_of(text, '2026-11-28')}: years.2027.working_days[1]: 2026-11-28 is not " \
        "in 2027" in message


def test_a_day_both_off_and_worked_is_refused(tmp_path: Path) -> None:
    # Given a Saturday listed both as a holiday and a make-up working day
    text = OVERRIDE_2027.replace("- 2027-02-20", "- 2027-01-02")
    # When the file is loaded
    message = problems(tmp_path, text)
    # Then the working-day item is named, pointing at the holiday item
    assert f":{line_of(text, '- 2027-01-02')}: years.2027.working_days[0]: 2027-01-02 is " \
        "listed both as a holiday (holidays[0]) and as a make-up working day" in message


def test_a_make_up_day_on_a_weekday_is_refused(tmp_path: Path) -> None:
    # Given a make-up working day on a Wednesday
    text = OVERRIDE_2027.replace("- 2027-02-20", "- 2027-02-17")
    # When the file is loaded
    # Then it is refused as a likely typo
    assert "2027-02-17 is a Wednesday, a working day anyway" in problems(tmp_path, text)


def test_structural_faults_are_all_reported(tmp_path: Path) -> None:
    # Given a bad year key, a misspelt key, a missing and an empty notice reference, days that
    # are not a list, and an unknown top-level key
    text = """\
years:
  twenty:
    notice: x
    holidays: [2027-01-01]
  2028:
    holiday: [2028-01-01]
  "2029":
    notice: " "
    holidays: 2029-01-01
year: 2030
"""
    # When the file is loaded
    message = problems(tmp_path, text)
    # Then every fault is listed with its line
    assert ":2: years.twenty: 'twenty' is not a year" in message
    assert ":5: years.2028.notice: required key is missing" in message
    assert ":6: years.2028.holiday: unknown key; allowed keys here: notice, holidays, " \
        "working_days" in message
    assert ":8: years.2029.notice: give the notice's reference or title" in message
    assert ":9: years.2029.holidays: expected a list of days" in message
    assert ":10: year: unknown key; allowed keys here: years" in message


def test_a_repeated_year_and_broken_yaml_are_reported(tmp_path: Path) -> None:
    # Given a year entered twice, and a file that is not YAML
    repeated = OVERRIDE_2027 + OVERRIDE_2027.removeprefix("years:\n")
    # When each is loaded
    # Then the repetition and the syntax error are named with their lines
    assert ":8: years.2027: repeated (first at line 2)" in problems(tmp_path, repeated)
    assert "not valid YAML" in problems(tmp_path, "years: [unclosed\n")
    assert "expected a mapping with the key 'years'" in problems(tmp_path, "- 2027\n")


# --- reverse scheduling (倒排工期) ---------------------------------------------------------------

STAGES = [("调查核实", parse_duration("5 working days")),
          ("整改实施", parse_duration("10 working days")),
          ("验收销号", parse_duration("3 working days"))]


def test_reverse_schedule_over_mid_autumn_and_national_day_2024() -> None:
    # Given a final deadline of Friday 18 October 2024 and three working-day stages
    # When the stages are scheduled backwards
    schedule = CALENDAR.reverse_schedule(d("2024-10-18"), STAGES)
    # Then the last ends on the deadline and each earlier one when the next begins, skipping
    # National Day (1-7 October) and Mid-Autumn (15-17 September) and counting the make-up
    # days 29 September and 12 October
    assert schedule == [("调查核实", d("2024-09-26")), ("整改实施", d("2024-10-15")),
                        ("验收销号", d("2024-10-18"))]
    # And counting forwards from the first stage's start gives the same dates
    begin, dates = d("2024-09-19"), []
    for _, duration in STAGES:
        begin = CALENDAR.add_working_days(begin, duration.count)
        dates.append(begin)
    assert dates == [due for _, due in schedule]


def test_reverse_schedule_with_calendar_days_and_hours() -> None:
    # Given a final deadline on a Sunday and stages in calendar days and hours
    stages = [("整改", Duration(3, "working_days")), ("公示", Duration(7, "days")),
              ("复核", Duration(36, "hours"))]
    # When the stages are scheduled backwards
    schedule = CALENDAR.reverse_schedule(d("2024-10-20"), stages)
    # Then 36 hours take two whole days and 7 days are calendar days
    assert schedule == [("整改", d("2024-10-11")), ("公示", d("2024-10-18")),
                        ("复核", d("2024-10-20"))]


def test_reverse_schedule_that_does_not_fit_is_refused() -> None:
    # Given the stages need to begin after 19 September 2024
    # When the earliest start is 19 September, it fits; when it is the 20th, it does not
    assert CALENDAR.reverse_schedule(d("2024-10-18"), STAGES, start=d("2024-09-19"))
    with pytest.raises(InputError) as caught:
        CALENDAR.reverse_schedule(d("2024-10-18"), STAGES, start=d("2024-09-20"))
    # Then the error says when the first stage would have to begin and how far before
    assert "stage '调查核实' would have to begin after 2024-09-19, 1 day(s) before the start" \
        in str(caught.value)
    assert CALENDAR.reverse_schedule(d("2024-10-18"), []) == []
