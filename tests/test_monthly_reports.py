"""Monthly progress reports (月度进展): who may report, the light they set, missing months
marked once by the monthly job, and long-term items that keep reporting after clearance."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import ACCEPTOR, OFFICE, UNIT, fire_valid, new_issue
from workflow.clock import SHANGHAI, FrozenClock
from workflow.errors import ActionDeniedError, InputError, OutOfScopeError
from workflow.issues import queries, views
from workflow.issues.engine import Engine
from workflow.models import IssueEvent, Notification
from workflow.org.actors import Actor
from workflow.supervision import monthly_reports
from workflow.supervision.monthly_reports import NewProgress


def light(engine: Engine, issue_id: int) -> str:
    issue = queries.get_issue(engine.db, issue_id)
    return views.issue_view(engine.db, issue, engine.registry, engine.clock.now())["light"]


def triggers(engine: Engine, issue_id: int) -> list[str]:
    return [e.trigger for e in queries.history(engine.db, issue_id)]


def test_unit_reports_its_own_issue_and_behind_schedule_turns_yellow(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    assert light(engine, issue_id) == "green"

    monthly_reports.report(engine, issue_id, NewProgress("2026-01", "已完成方案编制", 20, False),
                    actor=UNIT)

    assert light(engine, issue_id) == "yellow"
    [entry] = monthly_reports.reports(engine, issue_id)
    assert (entry.month, entry.percent, entry.on_schedule, entry.reported_by) == (
        "2026-01", 20, False, UNIT.name)
    last = queries.history(engine.db, issue_id)[-1]
    assert (last.trigger, last.comment, last.payload) == (
        "progress", "已完成方案编制", {"month": "2026-01", "percent": 20, "on_schedule": False})
    assert [i.id for i in queries.list_issues(engine.db, engine.registry,
                                              queries.IssueFilter(light="yellow"),
                                              now=clock.now())] == [issue_id]
    # Back on schedule the next month: green again
    clock.advance(timedelta(days=31))
    monthly_reports.report(engine, issue_id, NewProgress("2026-02", "主体工程完工", 60), actor=UNIT)
    assert light(engine, issue_id) == "green"


def test_who_may_report_and_what_is_refused(engine: Engine, evidence_file: Path) -> None:
    issue_id = new_issue(engine)
    other_unit = Actor("杜集区人民政府", "unit")
    with pytest.raises(ActionDeniedError, match="role 'acceptor' may not report monthly "
                                                "progress; roles allowed: unit, office"):
        monthly_reports.report(engine, issue_id, NewProgress("2026-01", "x", 10), actor=ACCEPTOR)
    with pytest.raises(OutOfScopeError, match="the issue belongs to 相山区人民政府"):
        monthly_reports.report(engine, issue_id, NewProgress("2026-01", "x", 10), actor=other_unit)
    with pytest.raises(InputError, match="must look like YYYY-MM"):
        monthly_reports.report(engine, issue_id, NewProgress("2026/01", "x", 10), actor=UNIT)
    with pytest.raises(InputError, match=r"text .* is empty; percent 120 must be between 0 "
                                         r"and 100"):
        monthly_reports.report(engine, issue_id, NewProgress("2026-01", " ", 120), actor=UNIT)
    with pytest.raises(InputError, match="has not begun"):
        monthly_reports.report(engine, issue_id, NewProgress("2026-05", "x", 10), actor=UNIT)
    monthly_reports.report(engine, issue_id, NewProgress("2026-01", "推进中", 10), actor=OFFICE)
    with pytest.raises(InputError, match="has a progress report for 2026-01 already"):
        monthly_reports.report(engine, issue_id, NewProgress("2026-01", "再报", 20), actor=UNIT)
    assert triggers(engine, issue_id) == ["create", "progress"]


def test_monthly_job_marks_missing_reports_once_and_a_late_report_fills_them(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given two open issues in January; only one reports for January
    reporting, silent = new_issue(engine, number="1"), new_issue(engine, number="2")
    for issue_id in (reporting, silent):
        fire_valid(engine, issue_id, "start", evidence_file)
    monthly_reports.report(engine, reporting, NewProgress("2026-01", "按计划推进", 30), actor=UNIT)

    # When the monthly job runs on 1 February, twice
    clock.set(datetime(2026, 2, 1, 8, 30, tzinfo=SHANGHAI))
    assert [i.id for i in monthly_reports.owing(engine, "2026-01")] == [silent]
    assert monthly_reports.flag_missing(engine, "2026-01") == 1
    assert monthly_reports.flag_missing(engine, "2026-01") == 0

    # Then the silent issue is yellow, its history says so, and its unit got one reminder
    assert light(engine, silent) == "yellow" and light(engine, reporting) == "green"
    assert triggers(engine, silent)[-1] == "missing_report"
    with engine.db.session() as session:
        [notice] = session.scalars(select(Notification)).all()
    assert notice.recipient == UNIT.name and notice.level == "missing_report"
    assert "2026年1月整改进展未报送" in notice.subject

    # When the unit reports January late, the month is filled and the light follows
    monthly_reports.report(engine, silent, NewProgress("2026-01", "补报", 25), actor=UNIT)
    [entry] = monthly_reports.reports(engine, silent)
    assert (entry.status, entry.text) == ("submitted", "补报")
    assert queries.history(engine.db, silent)[-1].payload["late"] is True
    assert light(engine, silent) == "green"


def test_long_term_items_keep_reporting_after_clearance(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given a long-term item (长期坚持) and a time-bound one, both cleared in January
    long_term = new_issue(engine, number="1", deadline=None, long_term=True)
    bounded = new_issue(engine, number="2")
    for issue_id in (long_term, bounded):
        for trigger in ("start", "apply_acceptance", "clear"):
            fire_valid(engine, issue_id, trigger, evidence_file)

    # Then only the long-term item still owes January's report
    clock.set(datetime(2026, 2, 1, 8, 30, tzinfo=SHANGHAI))
    assert [i.id for i in monthly_reports.owing(engine, "2026-01")] == [long_term]
    with pytest.raises(InputError, match=r"only long-term items .* keep reporting"):
        monthly_reports.report(engine, bounded, NewProgress("2026-01", "x", 100), actor=UNIT)
    monthly_reports.report(engine, long_term, NewProgress("2026-01", "持续巡查", 100), actor=UNIT)
    with engine.db.session() as session:
        events = session.scalars(select(IssueEvent.trigger)
                                 .where(IssueEvent.issue_id == long_term)).all()
    assert events[-1] == "progress"
