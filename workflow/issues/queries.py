"""Read queries over issues, their history, milestones and timers (no side effects), and the
read scope of an actor as the access policy (``policy``) gives it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.rows import LEDGER_RECORDED
from workflow.models import DefinitionRecord, Issue, IssueEvent, Milestone, Timer
from workflow.org.actors import Actor
from workflow.org.directory import sectors_of
from workflow.spec.registry import Registry
from workflow.spec.timers import LEASED, LIGHT_LABELS, PENDING

# Schedule statuses (workflow.supervision.monthly_reports) that show yellow.
BEHIND_STATUSES = ("behind", "missing")


@dataclass(frozen=True)
class IssueFilter:
    """Filters of ``issue list``; ``None`` means no filter on that column."""

    state: str | None = None
    unit: str | None = None
    leader: str | None = None
    plan: str | None = None
    overdue: bool = False
    light: str | None = None


def _open_states_clause(db: Database, registry: Registry) -> Any:
    """SQL condition: the issue is in a state whose rectification is not completed yet."""
    with db.session() as session:
        refs = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)).all()
    clauses = []
    for definition_id, version in refs:
        done = [s.key for s in registry.get(definition_id, version).definition.states
                if s.completed or s.terminal]
        clauses.append(and_(Issue.definition_id == definition_id,
                            Issue.definition_version == version, Issue.state.notin_(done)))
    return or_(*clauses) if clauses else false()


def list_issues(db: Database, registry: Registry, filters: IssueFilter, *,
                now: datetime) -> list[Issue]:
    """Issues matching ``filters``, ordered by plan and number."""
    query = select(Issue).order_by(Issue.plan, Issue.id)
    if filters.state:
        query = query.where(Issue.state == filters.state)
    if filters.unit:
        query = query.where(or_(Issue.unit == filters.unit, Issue.lead_unit == filters.unit))
    if filters.leader:
        query = query.where(Issue.leader == filters.leader)
    if filters.plan:
        query = query.where(Issue.plan == filters.plan)
    if filters.overdue:
        query = query.where(Issue.deadline_at < now, _open_states_clause(db, registry))
    if filters.light:
        query = query.where(_light_clause(db, registry, filters.light, now))
    with db.session() as session:
        return list(session.scalars(query))


def _light_clause(db: Database, registry: Registry, light: str, now: datetime) -> Any:
    """SQL condition for issues showing ``light`` now, in ``timers.light_of``'s order: red
    past the deadline, else yellow on a missed milestone or behind schedule, else blue near
    the deadline."""
    if light not in LIGHT_LABELS:
        raise InputError(f"unknown light {light!r}; lights: {', '.join(LIGHT_LABELS)}")
    red = Issue.due_at < now
    not_red = or_(Issue.due_at.is_(None), Issue.due_at >= now)
    behind = func.coalesce(Issue.schedule_status, "").in_(BEHIND_STATUSES)  # no NULL logic
    missed = and_(or_(_missed_milestone(now), behind),
                  _open_states_clause(db, registry))
    with db.session() as session:
        refs = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)).all()
    near_parts = []
    for definition_id, version in refs:
        offsets = registry.get(definition_id, version).definition.notices.reminder_offsets()
        if offsets:
            near_parts.append(and_(Issue.definition_id == definition_id,
                                   Issue.definition_version == version,
                                   Issue.due_at >= now, Issue.due_at <= now + offsets[0]))
    near = or_(*near_parts) if near_parts else false()
    return {"red": red, "yellow": and_(not_red, missed),
            "blue": and_(not_red, ~missed, near),
            "green": and_(not_red, ~missed, ~near)}[light]


def _missed_milestone(now: datetime) -> Any:
    return exists().where(Milestone.issue_id == Issue.id, Milestone.due_at < now,
                          Milestone.reached_at.is_(None))


def get_issue(db: Database, issue_id: int) -> Issue:
    with db.session() as session:
        issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFoundError(f"issue {issue_id} does not exist")
    return issue


def history(db: Database, issue_id: int) -> list[IssueEvent]:
    """The issue's events, oldest first."""
    get_issue(db, issue_id)
    with db.session() as session:
        return list(session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id)
                                    .order_by(IssueEvent.seq)))


def milestones(db: Database, issue_id: int) -> list[Milestone]:
    """The issue's milestones (阶段性节点), earliest first."""
    with db.session() as session:
        return list(session.scalars(select(Milestone).where(Milestone.issue_id == issue_id)
                                    .order_by(Milestone.due_at, Milestone.id)))


def list_timers(db: Database, *, now: datetime, due: bool = False, issue_id: int | None = None,
                pending_only: bool = True, limit: int = 500) -> list[dict[str, Any]]:
    """Timers as JSON-ready dicts, soonest first."""
    query = select(Timer).order_by(Timer.due_at, Timer.id).limit(limit)
    if pending_only:
        query = query.where(Timer.status.in_([PENDING, LEASED]))
    if due:
        query = query.where(Timer.due_at <= now)
    if issue_id is not None:
        query = query.where(Timer.issue_id == issue_id)
    with db.session() as session:
        return [{"id": t.id, "issue_id": t.issue_id, "state": t.state, "kind": t.kind,
                 "level": t.level, "rank": t.rank, "deadline_at": local(t.deadline_at).isoformat(),
                 "due_at": local(t.due_at).isoformat(), "status": t.status,
                 "attempts": t.attempts, "last_error": t.last_error}
                for t in session.scalars(query)]


def readable(db: Database, actor: Actor) -> Callable[[Issue], bool]:
    """Whether ``actor`` may read an issue (``policy.may_read``), with what the policy needs
    of the actor loaded once: the public reads every issue, through ``views.public_view``
    only."""
    sectors = sectors_of(db, actor)
    return lambda issue: policy.may_read(actor, issue, sectors=sectors)


def check_readable(db: Database, actor: Actor, issue: Issue, *, history: bool = False) -> None:
    """Refuse ``actor`` an issue (or its history) outside their reading scope
    (``policy.check_read_scope``).

    Raises:
        ActionDeniedError: the public asks for a history.
        OutOfScopeError: the issue is not one the actor's role may read.
    """
    policy.check_read_scope(actor, issue, issue_id=issue.id, history=history,
                            sectors=sectors_of(db, actor))


def number_order(number: str | None) -> tuple[int, int, str]:
    """Sort key of a 序号: numbers in numeric order (2 before 10), then any other text."""
    text = number or ""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def cleared_on(db: Database, issue: Issue, registry: Registry) -> str | None:
    """The Asia/Shanghai date the issue entered its current completed state, if it is in one."""
    return cleared_dates(db, registry, [issue]).get(issue.id)


def cleared_dates(db: Database, registry: Registry, issues: list[Issue]) -> dict[int, str]:
    """销号日期 of those ``issues`` in a completed state: the Asia/Shanghai day they entered it,
    or for one recorded from a ledger the date the ledger gives (payload ``cleared_on``);
    none when the ledger gave none (never the day of the import)."""
    wanted = {i.id: i.state for i in issues if registry.get(
        i.definition_id, i.definition_version).states[i.state].completed}
    found: dict[int, str] = {}
    ids = list(wanted)
    with db.session() as session:
        for start in range(0, len(ids), 500):
            for event in session.scalars(
                    select(IssueEvent).where(IssueEvent.issue_id.in_(ids[start:start + 500]))
                    .order_by(IssueEvent.issue_id, IssueEvent.seq)):
                if event.to_state != wanted[event.issue_id] or \
                        event.from_state == event.to_state:
                    continue
                payload = event.payload or {}
                if payload.get("recorded") == LEDGER_RECORDED:
                    found.pop(event.issue_id, None)
                    if payload.get("cleared_on"):
                        found[event.issue_id] = payload["cleared_on"]
                else:
                    found[event.issue_id] = payload.get("cleared_on") or \
                        local(event.at).date().isoformat()
    return found


def assigned_dates(db: Database, issues: list[Issue]) -> dict[int, str]:
    """交办日期 of ``issues``: the Asia/Shanghai day each was created, or for one recorded
    from a ledger the date the ledger (or its plan's feedback) gives; none when unknown."""
    found: dict[int, str] = {}
    ids = [i.id for i in issues]
    with db.session() as session:
        for start in range(0, len(ids), 500):
            for event in session.scalars(
                    select(IssueEvent).where(IssueEvent.issue_id.in_(ids[start:start + 500]),
                                             IssueEvent.seq == 1)):
                payload = event.payload or {}
                if payload.get("recorded") != LEDGER_RECORDED:
                    found[event.issue_id] = local(event.at).date().isoformat()
                elif payload.get("assigned_on"):
                    found[event.issue_id] = payload["assigned_on"]
    return found


def issue_page(db: Database, *, after: int | None, limit: int, keep: Callable[[Issue], bool],
               chunk: int = 500) -> tuple[list[Issue], bool]:
    """Keyset pagination by id: up to ``limit`` issues with an id above ``after`` that
    ``keep`` accepts (the reader's scope, ``readable``), in id order, and whether more
    follow. Rows are read ``chunk`` at a time, so a narrow scope costs a few more reads."""
    found: list[Issue] = []
    last = after or 0
    while True:
        with db.session() as session:
            rows = list(session.scalars(select(Issue).where(Issue.id > last)
                                        .order_by(Issue.id).limit(chunk)))
        for issue in rows:
            if keep(issue):
                if len(found) == limit:
                    return found, True
                found.append(issue)
        if len(rows) < chunk:
            return found, False
        last = rows[-1].id
