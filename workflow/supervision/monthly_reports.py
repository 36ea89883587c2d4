"""Monthly progress reports (月度进展) by the responsible unit.

Each month an issue owes a report — the text, the percentage done and whether it is on
schedule (序时进度) — while it is open, and a long-term item (长期坚持) keeps owing them after
clearance. A report appends a ``progress`` event to the issue's history. The monthly job
marks every report still owed for the month before as ``missing``: a ``missing_report`` event,
a reminder to the unit, and the yellow light (预警), as being behind schedule does. A late
report fills the missing month and the light follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from workflow.clock import local
from workflow.config import Settings
from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft, IssueRow
from workflow.issues.transaction import IssueTx
from workflow.models import Issue, ProgressReport
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import Notice, enqueue
from workflow.org.actors import Actor
from workflow.org.directory import sectors_of
from workflow.spec.durations import month_end, month_of, parse_month

ON, BEHIND, MISSING = "on", "behind", "missing"


@dataclass(frozen=True)
class NewProgress:
    """One month's report: what was done, the percentage, and whether it is on schedule."""

    month: str
    text: str
    percent: int
    on_schedule: bool = True


def _owes_reports(engine: Engine, row: IssueRow | Issue, long_term: bool) -> str | None:
    """Why the issue owes no report, or None when it does."""
    spec = engine.registry.get(row.definition_id, row.definition_version).states[row.state]
    if spec.terminal:
        return f"it has ended (state {row.state})"
    if spec.completed and not long_term:
        return (f"it is {spec.label_zh} ({row.state}); only long-term items (长期坚持) keep "
                "reporting after clearance")
    return None


def report(engine: Engine, issue_id: int, new: NewProgress, *, actor: Actor) -> None:
    """Record a unit's monthly report and note it in the issue's history.

    Raises:
        ActionDeniedError: the role may not report, or a unit reports on another's issue.
        InputError: a bad month, text or percentage; a month reported already; an issue
            that owes no reports.
        NotFoundError: no such issue.
    """
    policy.check_action(actor, policy.REPORT_PROGRESS)
    month = parse_month(new.month)
    problems = []
    if not new.text.strip():
        problems.append("the report text (整改进展) is empty")
    if not 0 <= new.percent <= 100:
        problems.append(f"percent {new.percent} must be between 0 and 100")
    if problems:
        raise InputError("; ".join(problems))
    now = engine.clock.now()
    sectors = sectors_of(engine.db, actor)
    if month > month_of(now):
        raise InputError(f"month {month} has not begun; reports are for this month or "
                         "earlier ones")
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        policy.check_act_scope(actor, row, issue_id=issue_id,
                               action="report its monthly progress", sectors=sectors)
        with engine.db.session() as session:
            long_term = bool(session.scalar(select(Issue.long_term)
                                            .where(Issue.id == issue_id)))
        why_not = _owes_reports(engine, row, long_term)
        if why_not:
            raise InputError(f"issue {issue_id} owes no progress report: {why_not}")
        values = {"text": new.text.strip(), "percent": new.percent,
                  "on_schedule": new.on_schedule, "reported_by": actor.name,
                  "reported_at": now}
        existing = tx.progress_of(issue_id, month)
        late = False
        if existing is None:
            tx.add_progress({"issue_id": issue_id, "month": month,
                                      "status": "submitted", **values})
        elif existing[1] == MISSING:
            tx.fill_missing_progress(existing[0], values)
            late = True
        else:
            raise InputError(f"issue {issue_id} has a progress report for {month} already")
        payload = {"month": month, "percent": new.percent, "on_schedule": new.on_schedule}
        if late:
            payload["late"] = True
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                   now=now, due=Due.of(row), event=EventDraft(
                       actor.name, actor.role, "progress", row.state, row.state,
                       new.text.strip(), payload, os_user=actor.os_user))
        # The light follows the newest month on record: a late report for an older month
        # leaves a newer missing month yellow.
        tx.refresh_schedule_status(issue_id)


def owing(engine: Engine, month: str) -> list[Issue]:
    """Issues that owe a report for ``month`` and have none: created before the month
    ended, still open (or long-term), nothing submitted or marked for that month."""
    month = parse_month(month)
    reported = select(ProgressReport.issue_id).where(ProgressReport.month == month)
    with engine.db.session() as session:
        issues = list(session.scalars(
            select(Issue).where(and_(Issue.created_at < month_end(month),
                                     Issue.id.not_in(reported))).order_by(Issue.id)))
    return [issue for issue in issues if _owes_reports(engine, issue, issue.long_term) is None]


def flag_missing(engine: Engine, month: str) -> int:
    """Mark each report still owed for ``month`` as missing: history event, reminder to the
    unit, yellow light. Returns how many issues were marked (0 when run again)."""
    now = engine.clock.now()
    contacts = Contacts(engine.db)
    marked = 0
    for issue in owing(engine, month):
        with engine.transaction() as tx:
            row = tx.read_issue(issue.id)
            if row is None or tx.progress_of(issue.id, month) is not None:
                continue  # reported meanwhile
            tx.add_progress({"issue_id": issue.id, "month": month,
                                      "status": MISSING, "flagged_at": now})
            tx.record(issue_id=issue.id, old_version=row.version,
                       prev_hash=row.head_hash, now=now, due=Due.of(row), event=EventDraft(
                           "rectify", "system", "missing_report", row.state, row.state, None,
                           {"month": month, "light": "yellow"}))
            tx.set_schedule_status(issue.id, MISSING)
            _remind(tx, contacts, row, issue.id, month, now, engine.settings)
        marked += 1
    return marked


def _remind(tx: IssueTx, contacts: Contacts, row: IssueRow, issue_id: int, month: str,
            now: datetime, settings: Settings) -> None:
    unit = row.unit or row.lead_unit
    if not unit:
        return
    enqueue(tx, contacts, Notice(
        template="missing_report", kind="notice", level="missing_report", issue_id=issue_id,
        timer_id=None, context={"unit": unit, "title": row.title, "month": month},
        recipients=(unit,), key=f"missing-report:{issue_id}:{month}"),
        now=now, settings=settings)


def report_view(report: ProgressReport) -> dict[str, Any]:
    """A monthly report (or missing month) as JSON-ready fields, times in Asia/Shanghai."""
    return {"month": report.month, "status": report.status, "percent": report.percent,
            "on_schedule": report.on_schedule, "text": report.text,
            "reported_by": report.reported_by,
            "reported_at": local(report.reported_at).isoformat() if report.reported_at
            else None}


def reports(engine: Engine, issue_id: int) -> list[ProgressReport]:
    """The issue's monthly reports and missing months, oldest month first."""
    with engine.db.session() as session:
        return list(session.scalars(select(ProgressReport)
                                    .where(ProgressReport.issue_id == issue_id)
                                    .order_by(ProgressReport.month)))
