"""Read queries over issues and their history (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, or_, select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import ActionDeniedError, InputError, NotFoundError, OutOfScopeError
from workflow.issues.rows import LEDGER_RECORDED
from workflow.models import DefinitionRecord, Issue, IssueEvent, Milestone, Person, Timer
from workflow.spec.registry import Registry
from workflow.spec.timers import LEASED, LIGHT_LABELS, PENDING, light_of

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


def days_overdue(issue: Issue, registry: Registry, now: datetime) -> int:
    """Whole days past the deadline (0 when not overdue or the rectification is completed)."""
    if issue.deadline_at is None or issue.deadline_at >= now:
        return 0
    state = registry.get(issue.definition_id, issue.definition_version).definition.state(
        issue.state)
    if state.completed or state.terminal:
        return 0
    return (now - issue.deadline_at).days + 1


def issue_view(db: Database, issue: Issue, registry: Registry, now: datetime) -> dict[str, Any]:
    """A JSON-ready view of an issue, with labels and times in Asia/Shanghai."""
    return _view(issue, registry, now, milestones(db, issue.id))


def issue_views(db: Database, issues: list[Issue], registry: Registry,
                now: datetime) -> list[dict[str, Any]]:
    """``issue_view`` of many issues, their milestones read in a few queries (ledger export,
    disclosure list)."""
    stages: dict[int, list[Milestone]] = {}
    ids = [issue.id for issue in issues]
    with db.session() as session:
        for start in range(0, len(ids), 500):
            for milestone in session.scalars(
                    select(Milestone).where(Milestone.issue_id.in_(ids[start:start + 500]))
                    .order_by(Milestone.due_at, Milestone.id)):
                stages.setdefault(milestone.issue_id, []).append(milestone)
    return [_view(issue, registry, now, stages.get(issue.id, [])) for issue in issues]


def _view(issue: Issue, registry: Registry, now: datetime,
          stages: list[Milestone]) -> dict[str, Any]:
    compiled = registry.get(issue.definition_id, issue.definition_version)
    state = compiled.definition.state(issue.state)
    light = light_of(due_at=issue.due_at, completed=state.completed or state.terminal,
                     notices=compiled.definition.notices, now=now,
                     milestone_missed=any(m.reached_at is None and m.due_at < now
                                          for m in stages),
                     behind_schedule=issue.schedule_status in BEHIND_STATUSES)
    return {
        "id": issue.id, "plan": issue.plan, "number": issue.number, "category": issue.category,
        "title": issue.title, "target": issue.target, "measures": issue.measures,
        "leader": issue.leader, "lead_unit": issue.lead_unit, "unit": issue.unit,
        "responsible_units": list(issue.responsible_units or []),
        "cooperating_units": list(issue.cooperating_units or []),
        "acceptance_unit": issue.acceptance_unit,
        "accepted_by": issue.accepted_by, "accepted_unit": issue.accepted_unit,
        "deadline": local(issue.deadline_at).date().isoformat() if issue.deadline_at else None,
        "long_term": issue.long_term, "state": issue.state, "state_label_zh": state.label_zh,
        "state_label_en": state.label_en, "version": issue.version,
        "definition": compiled.definition.ref, "days_overdue": days_overdue(issue, registry, now),
        "allowed_triggers": compiled.allowed_triggers(issue.state, stage=issue.stage),
        "light": light, "light_label_zh": LIGHT_LABELS[light][0],
        "light_label_en": LIGHT_LABELS[light][1],
        "due": local(issue.due_at).isoformat() if issue.due_at else None,
        "due_provisional": issue.due_provisional, "escalation_level": issue.escalation_level,
        "key_supervision": issue.key_supervision, "schedule_status": issue.schedule_status,
        "stage": issue.stage,
        "stage_label_zh": stage.label_zh if (stage := state.stage(issue.stage)) else None,
        "stage_label_en": stage.label_en if stage else None,
        "stage_until": local(issue.stage_until).isoformat() if issue.stage_until else None,
        "parent_id": issue.parent_id,
        "milestones": [{"name": m.name, "due": local(m.due_at).date().isoformat(),
                        "reached_at": local(m.reached_at).isoformat() if m.reached_at else None,
                        "missed": m.reached_at is None and m.due_at < now} for m in stages],
        "created_at": local(issue.created_at).isoformat(),
        "updated_at": local(issue.updated_at).isoformat(),
    }


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


def event_view(event: IssueEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "at": local(event.at).isoformat(), "actor": event.actor,
        "role": event.role, "trigger": event.trigger, "from": event.from_state,
        "to": event.to_state, "comment": event.comment, "payload": event.payload,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }


# --- who may read what -------------------------------------------------------------------------

# The fields the public sees (信息公开): no people, contacts, notes or evidence.
PUBLIC_FIELDS = ("id", "plan", "number", "category", "title", "measures", "unit",
                 "responsible_units", "deadline", "long_term", "state", "state_label_zh",
                 "state_label_en", "cleared_on")


def readable(db: Database, actor: Any) -> Any:
    """A predicate saying whether ``actor`` may read an issue: the office and discipline
    read all; a unit the issues it works; an acceptor those it accepts; a leader those they
    supervise or whose category is one of their sectors; the public every issue, through
    ``public_view`` only."""
    if actor.role in ("office", "discipline", "public"):
        return lambda issue: True
    if actor.role == "unit":
        return lambda issue: actor.organisation in {
            issue.unit, issue.lead_unit, *(issue.responsible_units or []),
            *(issue.cooperating_units or [])}
    if actor.role == "acceptor":
        return lambda issue: issue.acceptance_unit == actor.organisation
    if actor.role == "leader":
        with db.session() as session:
            sectors = set(session.scalar(select(Person.sectors)
                                         .where(Person.name == actor.name)) or [])
        return lambda issue: issue.leader == actor.name or issue.category in sectors
    return lambda issue: False


HISTORY_READERS = ("office", "unit", "acceptor", "leader", "discipline")


def check_readable(db: Database, actor: Any, issue: Issue, *, history: bool = False) -> None:
    """Refuse ``actor`` an issue (or its history) outside their reading scope.

    Raises:
        ActionDeniedError: the public asks for a history (internal records: people, notes,
            evidence).
        OutOfScopeError: the issue is not one the actor's role may read.
    """
    if history and actor.role not in HISTORY_READERS:
        raise ActionDeniedError(action="read an issue's history (internal records)",
                                role=actor.role, roles=HISTORY_READERS)
    if readable(db, actor)(issue):
        return
    owners = {"unit": [issue.unit, issue.lead_unit, *(issue.responsible_units or []),
                       *(issue.cooperating_units or [])],
              "acceptor": [issue.acceptance_unit], "leader": [issue.leader]}.get(actor.role, [])
    raise OutOfScopeError(issue_id=issue.id, action="read it" if not history else
                          "read its history", actor=actor.organisation, role=actor.role,
                          owners=sorted({o for o in owners if o}))


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


def public_view(db: Database, issue: Issue, registry: Registry,
                now: datetime) -> dict[str, Any]:
    """The disclosed fields of an issue (序号, 问题, 整改措施, 责任单位, 整改时限, 整改状态,
    销号日期) and nothing else."""
    return public_views(db, [issue], registry, now)[0]


def public_views(db: Database, issues: list[Issue], registry: Registry,
                 now: datetime) -> list[dict[str, Any]]:
    """``public_view`` of many issues in a few queries."""
    cleared = cleared_dates(db, registry, issues)
    views = []
    for issue, view in zip(issues, issue_views(db, issues, registry, now), strict=True):
        view["cleared_on"] = cleared.get(issue.id)
        views.append({key: view[key] for key in PUBLIC_FIELDS})
    return views
