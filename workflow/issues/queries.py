"""Read queries over issues, their history, milestones and timers (no side effects); the
read scope of an actor as the access policy (``policy``) gives it, in Python and as a SQL
condition; and the ledger query behind ``GET /api/v1/issues`` (filters, sorts, keyset
pages, a capped count), all in SQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, and_, exists, false, func, literal, or_, select, true, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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
                                   # IS NOT NULL first: FALSE, not NULL, without a due time,
                                   # so that ``~near`` holds for it (green, as light_of says)
                                   Issue.due_at.is_not(None),
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


def subtasks(db: Database, issue_id: int) -> list[Issue]:
    """The issue's sub-tasks (配合任务, ``Engine.create_subtasks``), in the order made."""
    with db.session() as session:
        return list(session.scalars(select(Issue).where(Issue.parent_id == issue_id)
                                    .order_by(Issue.id)))


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


class json_list_has(FunctionElement[bool]):
    """SQL condition: the JSON list column (first argument) holds the text (second), the
    same on SQLite (``json_each``) and PostgreSQL (``jsonb @>``, which the GIN indexes of
    migration 0022 serve)."""

    type = Boolean()
    inherit_cache = True
    name = "json_list_has"


@compiles(json_list_has)
def _json_list_has_sqlite(element: json_list_has, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


@compiles(json_list_has, "postgresql")
def _json_list_has_postgresql(element: json_list_has, compiler: SQLCompiler,
                              **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({column} AS JSONB) @> jsonb_build_array(CAST({value} AS TEXT)))"


def works_unit(unit: str) -> Any:
    """SQL condition: ``unit`` works the issue (``policy.working_units``: lead, responsible
    or cooperating unit)."""
    if not unit:
        return false()
    return or_(Issue.unit == unit, Issue.lead_unit == unit,
               json_list_has(Issue.responsible_units, unit),
               json_list_has(Issue.cooperating_units, unit))


def read_scope(actor: Actor, *, sectors: Collection[str] = frozenset()) -> Any:
    """SQL condition: ``actor`` may read the issue. The same rule as ``policy.may_read``,
    role by role (tests/test_api_list.py checks that they agree on generated issues)."""
    if actor.role in policy.READ_ALL_ROLES:
        return true()
    if actor.role == "unit":
        return works_unit(actor.organisation)
    if actor.role == "acceptor":
        return Issue.acceptance_unit == actor.organisation
    if actor.role == "leader":
        supervised = Issue.leader == actor.name
        return or_(supervised, Issue.category.in_(sorted(sectors))) if sectors else supervised
    return false()


@dataclass(frozen=True)
class LedgerQuery:
    """Filters of the ledger query (``GET /api/v1/issues``); ``None`` means no filter.
    ``overdue`` True keeps the issues past their deadline and not completed, False the
    others; ``q`` is text the title (反馈问题) contains."""

    state: str | None = None
    step: str | None = None
    light: str | None = None
    unit: str | None = None
    leader: str | None = None
    plan: str | None = None
    category: str | None = None
    overdue: bool | None = None
    long_term: bool | None = None
    q: str | None = None
    key_supervision: bool | None = None  # 重点督办

    def fingerprint(self, sort: str) -> str:
        """A short digest of the filters and the sort, which a page cursor carries so that
        it continues only the query that gave it."""
        text = json.dumps([sort, [getattr(self, f.name) for f in fields(self)]],
                          ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SortOrder:
    """One order of the ledger query: its key columns before the id tie-breaker, the
    direction of all of them, the Python type of each key value, and how to read them off a
    loaded issue. Issues without a key value come last, in either direction."""

    keys: tuple[Any, ...] = ()
    descending: bool = False
    kinds: tuple[type, ...] = ()
    key_of: Callable[[Issue], tuple[Any, ...]] = lambda issue: ()

    @property
    def nullable(self) -> bool:
        return bool(self.keys)


def _number_key(issue: Issue) -> tuple[Any, ...]:
    return (None, None) if issue.number is None else (len(issue.number), issue.number)


# The orders the ledger query offers; the name is what ``sort=`` takes.
SORTS: dict[str, SortOrder] = {
    "id": SortOrder(),
    "-id": SortOrder(descending=True),
    "due_at,id": SortOrder((Issue.due_at,), False, (datetime,), lambda i: (i.due_at,)),
    "-due_at,-id": SortOrder((Issue.due_at,), True, (datetime,), lambda i: (i.due_at,)),
    "deadline_at,id": SortOrder((Issue.deadline_at,), False, (datetime,),
                                lambda i: (i.deadline_at,)),
    "-deadline_at,-id": SortOrder((Issue.deadline_at,), True, (datetime,),
                                  lambda i: (i.deadline_at,)),
    # 序号 as numbers: shorter first, so 2 comes before 10.
    "number,id": SortOrder((func.length(Issue.number), Issue.number), False, (int, str),
                           _number_key),
}
DEFAULT_SORT = "id"
COUNT_CAP = 10_000


@dataclass(frozen=True)
class PagePosition:
    """Where a page continues: after the issue ``after_id`` whose key values are ``keys``,
    or, with ``in_nulls``, after it among the issues that have no key value."""

    after_id: int
    keys: tuple[Any, ...] = ()
    in_nulls: bool = False


@dataclass(frozen=True)
class LedgerPage:
    issues: list[Issue]
    next_position: PagePosition | None


def allowed_states(db: Database, registry: Registry) -> list[str]:
    """Every state key of the loaded definitions."""
    return sorted({s.key for d in _definitions(db, registry) for s in d.states})


def allowed_steps(db: Database, registry: Registry) -> list[str]:
    """Every stage key (a step inside a state) of the loaded definitions."""
    return sorted({stage.key for d in _definitions(db, registry) for s in d.states
                   for stage in s.stages})


def _definitions(db: Database, registry: Registry) -> list[Any]:
    with db.session() as session:
        refs = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)).all()
    return [registry.get(definition_id, version).definition for definition_id, version in refs]


def ledger_conditions(db: Database, registry: Registry, query: LedgerQuery, *,
                      now: datetime) -> list[Any]:
    """SQL conditions of ``query``'s filters.

    Raises:
        InputError: a state, step or light that is not one of the definitions', naming
            those allowed.
    """
    conditions: list[Any] = []
    if query.state is not None:
        states = allowed_states(db, registry)
        if query.state not in states:
            raise InputError(f"unknown state {query.state!r}; states: {', '.join(states)}")
        conditions.append(Issue.state == query.state)
    if query.step is not None:
        steps = allowed_steps(db, registry)
        if query.step not in steps:
            raise InputError(f"unknown step {query.step!r}; steps: "
                             f"{', '.join(steps) or 'none'}")
        conditions.append(Issue.stage == query.step)
    if query.light is not None:
        conditions.append(_light_clause(db, registry, query.light, now))
    if query.unit is not None:
        conditions.append(works_unit(query.unit))
    for column, value in ((Issue.leader, query.leader), (Issue.plan, query.plan),
                          (Issue.category, query.category), (Issue.long_term, query.long_term),
                          (Issue.key_supervision, query.key_supervision)):
        if value is not None:
            conditions.append(column == value)
    if query.overdue is not None:
        open_states = _open_states_clause(db, registry)
        overdue = and_(Issue.deadline_at < now, open_states)
        conditions.append(overdue if query.overdue else or_(
            Issue.deadline_at.is_(None), Issue.deadline_at >= now, ~open_states))
    if query.q:
        conditions.append(Issue.title.contains(query.q, autoescape=True))
    return conditions


def ledger_page_statements(conditions: list[Any], sort: SortOrder, *,
                           position: PagePosition | None, limit: int) -> list[Any]:
    """The statements of one page, run in turn until ``limit + 1`` rows are found: the
    issues with a key value after ``position`` in key order, then those without one in id
    order. Each is a plain keyset range, so it walks an index from where the page starts."""
    order = [c.desc() if sort.descending else c.asc() for c in (*sort.keys, Issue.id)]
    by_id = Issue.id.desc() if sort.descending else Issue.id.asc()

    def after(columns: tuple[Any, ...], values: tuple[Any, ...]) -> Any:
        left, right = tuple_(*columns), tuple_(*values)
        return left < right if sort.descending else left > right

    if not sort.nullable:
        where = [] if position is None else [after((Issue.id,), (position.after_id,))]
        return [select(Issue).where(*conditions, *where).order_by(by_id).limit(limit + 1)]
    statements = []
    if position is None or not position.in_nulls:
        keyed = [c.is_not(None) for c in sort.keys[-1:]]
        if position is not None:
            values = tuple(literal(v, type_=c.type) for c, v in zip(sort.keys, position.keys,
                                                                     strict=True))
            keyed.append(after((*sort.keys, Issue.id), (*values, position.after_id)))
        statements.append(select(Issue).where(*conditions, *keyed).order_by(*order)
                          .limit(limit + 1))
    unkeyed = [c.is_(None) for c in sort.keys[-1:]]
    if position is not None and position.in_nulls:
        unkeyed.append(after((Issue.id,), (position.after_id,)))
    statements.append(select(Issue).where(*conditions, *unkeyed).order_by(by_id)
                      .limit(limit + 1))
    return statements


def ledger_page(db: Database, registry: Registry, query: LedgerQuery, *, actor: Actor,
                sort: str = DEFAULT_SORT, position: PagePosition | None = None,
                limit: int = 50, now: datetime) -> LedgerPage:
    """One page of the ledger: the issues ``actor`` may read (``read_scope``) that match
    ``query``, in ``sort`` order (one of ``SORTS``), after ``position``; and where the next
    page starts (None on the last)."""
    order = SORTS[sort]
    conditions = [read_scope(actor, sectors=sectors_of(db, actor)),
                  *ledger_conditions(db, registry, query, now=now)]
    found: list[Issue] = []
    with db.session() as session:
        for statement in ledger_page_statements(conditions, order, position=position,
                                                limit=limit):
            found.extend(session.scalars(statement.limit(limit + 1 - len(found))))
            if len(found) > limit:
                break
    if len(found) <= limit:
        return LedgerPage(found, None)
    last = found[limit - 1]
    keys = order.key_of(last)
    return LedgerPage(found[:limit], PagePosition(
        last.id, keys, in_nulls=order.nullable and keys[-1] is None))


def ledger_count(db: Database, registry: Registry, query: LedgerQuery, *, actor: Actor,
                 now: datetime, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many issues ``actor`` may read match ``query``, counted up to ``cap``; and
    whether there are more than ``cap``."""
    conditions = [read_scope(actor, sectors=sectors_of(db, actor)),
                  *ledger_conditions(db, registry, query, now=now)]
    capped = select(Issue.id).where(*conditions).limit(cap + 1).subquery()
    with db.session() as session:
        counted = session.scalar(select(func.count()).select_from(capped)) or 0
    return min(counted, cap), counted > cap
