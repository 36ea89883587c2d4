"""Read queries over issues and their history (no side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import NotFoundError
from workflow.models import DefinitionRecord, Issue, IssueEvent
from workflow.registry import Registry


@dataclass(frozen=True)
class IssueFilter:
    """Filters of ``issue list``; ``None`` means no filter on that column."""

    state: str | None = None
    unit: str | None = None
    leader: str | None = None
    plan: str | None = None
    overdue: bool = False


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
    with db.session() as session:
        return list(session.scalars(query))


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


def issue_view(issue: Issue, registry: Registry, now: datetime) -> dict[str, Any]:
    """A JSON-ready view of an issue, with labels and times in Asia/Shanghai."""
    compiled = registry.get(issue.definition_id, issue.definition_version)
    state = compiled.definition.state(issue.state)
    return {
        "id": issue.id, "plan": issue.plan, "number": issue.number, "category": issue.category,
        "title": issue.title, "target": issue.target, "measures": issue.measures,
        "leader": issue.leader, "lead_unit": issue.lead_unit, "unit": issue.unit,
        "deadline": local(issue.deadline_at).date().isoformat() if issue.deadline_at else None,
        "long_term": issue.long_term, "state": issue.state, "state_label_zh": state.label_zh,
        "state_label_en": state.label_en, "version": issue.version,
        "definition": compiled.definition.ref, "days_overdue": days_overdue(issue, registry, now),
        "allowed_triggers": compiled.allowed_triggers(issue.state),
        "created_at": local(issue.created_at).isoformat(),
        "updated_at": local(issue.updated_at).isoformat(),
    }


def event_view(event: IssueEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "at": local(event.at).isoformat(), "actor": event.actor,
        "role": event.role, "trigger": event.trigger, "from": event.from_state,
        "to": event.to_state, "comment": event.comment, "payload": event.payload,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }
