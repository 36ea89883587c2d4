"""The figures of the leader cockpit (领导驾驶舱), counted in SQL over what the signed-in
person may read (``queries.read_scope``): issues by light, by state and by sector (问题类别)
× light, the leader's own (包保) issues, the overdue and 重点督办 lists, and the units'
ranking with its 红榜 and 黑榜.

Every figure carries the ledger query (``queries.LedgerQuery``) that gives exactly the issues
it counts: each is counted with the conditions of that query (``queries.ledger_conditions``)
inside the same read scope, so a figure and ``queries.ledger_count`` of its link agree by
construction. A unit counts the issues it works as the ledger's unit filter does
(``queries.works_unit``: lead, responsible or cooperating unit). A handful of statements
whatever the number of issues: one grouped statement over one pass of the issues and the
two short lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Text, and_, case, cast, func, literal, or_, select, text, true, union_all
from sqlalchemy.orm import Session

from workflow.db import Database
from workflow.issues import queries, views
from workflow.issues.queries import LedgerQuery
from workflow.models import DefinitionRecord, Issue
from workflow.org.actors import Actor
from workflow.org.directory import sectors_of
from workflow.spec.registry import Registry
from workflow.spec.timers import LIGHT_LABELS

LISTED = 20  # issues on each of the overdue and 重点督办 lists
LIGHTS = ("red", "yellow", "blue", "green")  # most urgent first


def ledger_href(query: LedgerQuery) -> str:
    """The ledger page's address that names ``query``'s filters (yes/no as 1/0)."""
    params = [(f.name, getattr(query, f.name)) for f in fields(query)]
    text = urlencode([(name, ("1" if value else "0") if isinstance(value, bool) else value)
                      for name, value in params if value is not None])
    return "/ledger" + (f"?{text}" if text else "")


@dataclass(frozen=True)
class Figure:
    """How many issues the ledger query ``query`` gives the person."""

    count: int
    query: LedgerQuery

    @property
    def href(self) -> str:
        return ledger_href(self.query)


@dataclass(frozen=True)
class Tallied:
    """A row of figures by light: ``total`` and one figure per light (``LIGHTS`` order)."""

    name: str
    total: Figure
    lights: list[tuple[str, str, Figure]]


@dataclass(frozen=True)
class UnitRow:
    """One unit's line of the ranking: its issues, those cleared (one figure per completed
    state), those overdue, and the two rates in percent (one decimal)."""

    unit: str
    total: Figure
    cleared: int
    cleared_by_state: list[tuple[str, Figure]]
    overdue: Figure
    completion: float
    overdue_rate: float


@dataclass
class Cockpit:
    """Everything the cockpit shows."""

    total: Figure
    by_light: list[tuple[str, str, Figure]]
    by_state: list[tuple[str, str, Figure]]
    by_sector: list[Tallied]
    unsorted: int  # issues with no 问题类别 (the ledger cannot select them by category)
    unlit: int  # issues showing no light (no due time): in no light's figure
    overdue: Figure
    overdue_items: list[dict[str, Any]]
    key: Figure
    key_items: list[dict[str, Any]]
    units: list[UnitRow]
    red_list: list[UnitRow]
    black_list: list[UnitRow]
    completed_labels: list[str]
    mine: Tallied | None = None  # a leader's 包保 issues (leader = the leader)
    my_sectors: list[Tallied] = field(default_factory=list)  # a leader's 分管领域


def _condition(db: Database, registry: Registry, query: LedgerQuery, now: datetime) -> Any:
    return and_(true(), *queries.ledger_conditions(db, registry, query, now=now))


def _state_labels(db: Database, registry: Registry) -> tuple[dict[str, str], set[str]]:
    """Each state key's Chinese label (the latest definition's first) and the keys of the
    completed states (已销号, 回头看), over the loaded definitions."""
    with db.session() as session:
        refs = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)
                               .order_by(DefinitionRecord.version.desc())).all()
    labels: dict[str, str] = {}
    completed: set[str] = set()
    for definition_id, version in refs:
        for state in registry.get(definition_id, version).definition.states:
            labels.setdefault(state.key, state.label_zh)
            if state.completed:
                completed.add(state.key)
    return labels, completed


@contextmanager
def _counting(db: Database) -> Iterator[Session]:
    """A read session for the cockpit's statements. On PostgreSQL without JIT compilation
    in it (the light conditions make the planner's estimates large enough to compile, which
    takes seconds where the counting itself takes milliseconds) and with the memory to group
    a whole ledger without spilling to disk."""
    with db.session() as session:
        if db.engine.dialect.name == "postgresql":
            session.execute(text("SET LOCAL jit = off"))
            session.execute(text("SET LOCAL work_mem = '32MB'"))
        yield session


def _items(db: Database, registry: Registry, scope: Any, where: Any, order: list[Any],
           now: datetime) -> list[dict[str, Any]]:
    with _counting(db) as session:
        found = list(session.scalars(select(Issue).where(scope, where).order_by(*order)
                                     .limit(LISTED)))
    return views.issue_views(db, found, registry, now)


def cockpit(db: Database, registry: Registry, actor: Actor, *, now: datetime,
            ranked: int = 5) -> Cockpit:
    """The cockpit of ``actor`` (a leader or the office) at ``now``, ``ranked`` units on each
    of the 红榜 and 黑榜 (ranked as ``workflow.documents.briefing.ranking`` ranks them: 红榜
    the units with nothing overdue by completion rate, then issues; 黑榜 those with overdue
    issues by overdue rate, then overdue issues; by name last)."""
    sectors = sectors_of(db, actor)
    scope = queries.read_scope(actor, sectors=sectors)
    leader = actor.name if actor.role == "leader" else None
    light_of = case(*((_condition(db, registry, LedgerQuery(light=k), now), k)
                      for k in LIGHTS), else_=None)
    overdue = _condition(db, registry, LedgerQuery(overdue=True), now)
    key = _condition(db, registry, LedgerQuery(key_supervision=True), now)
    mine = (Issue.leader == leader) if leader else literal(False)
    rows, unit_rows = _count(db, scope, light_of, mine, overdue, key)
    total = overdue_count = key_count = unlit = unsorted = 0
    by_light: dict[str, int] = defaultdict(int)
    by_state: dict[str, int] = defaultdict(int)
    by_sector: dict[str, dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    mine_lights: dict[str | None, int] = defaultdict(int)
    for category, state, count, late, mine_count, keyed, *sums in rows:
        lights = dict(zip(LIGHTS, (int(n or 0) for n in sums[:len(LIGHTS)]), strict=True))
        own = dict(zip(LIGHTS, (int(n or 0) for n in sums[len(LIGHTS):]), strict=True))
        total += count
        overdue_count += int(late or 0)
        key_count += int(keyed or 0)
        by_state[state] += count
        unlit += count - sum(lights.values())
        sector = by_sector[category] if category and category == category.strip() and \
            len(category) <= 200 else None
        if sector is None:
            unsorted += count
        for k, n in [*lights.items(), (None, count - sum(lights.values()))]:
            by_light[k] += n
            if sector is not None:
                sector[k] += n
        for k, n in [*own.items(), (None, int(mine_count or 0) - sum(own.values()))]:
            mine_lights[k] += n

    def tallied(name: str, counts: dict[str | None, int], base: LedgerQuery) -> Tallied:
        return Tallied(name, Figure(sum(counts.values()), base),
                       [(k, LIGHT_LABELS[k][0], Figure(counts.get(k, 0), replace(base, light=k)))
                        for k in LIGHTS])

    labels, completed = _state_labels(db, registry)
    result = Cockpit(
        total=Figure(total, LedgerQuery()),
        by_light=[(k, LIGHT_LABELS[k][0], Figure(by_light.get(k, 0), LedgerQuery(light=k)))
                  for k in LIGHTS],
        by_state=[(k, labels.get(k, k), Figure(by_state.get(k, 0), LedgerQuery(state=k)))
                  for k in [*labels, *sorted(set(by_state) - set(labels))]],
        by_sector=[tallied(c, by_sector[c], LedgerQuery(category=c)) for c in sorted(by_sector)],
        unsorted=unsorted, unlit=unlit,
        overdue=Figure(overdue_count, LedgerQuery(overdue=True)),
        overdue_items=_items(db, registry, scope, overdue,
                             [Issue.deadline_at.asc(), Issue.id.asc()], now),
        key=Figure(key_count, LedgerQuery(key_supervision=True)),
        key_items=_items(db, registry, scope, key,
                         [Issue.deadline_at.asc().nulls_last(), Issue.id.asc()], now),
        units=[], red_list=[], black_list=[],
        completed_labels=[labels[s] for s in labels if s in completed])
    if leader:
        result.mine = tallied(leader, mine_lights, LedgerQuery(leader=leader))
        result.my_sectors = [tallied(s, by_sector.get(s, {}), LedgerQuery(category=s))
                             for s in sorted(sectors)]
    result.units = _units(unit_rows, labels, completed)
    result.red_list = sorted((u for u in result.units if u.overdue.count == 0),
                             key=lambda u: (-u.completion, -u.total.count, u.unit))[:ranked]
    result.black_list = sorted((u for u in result.units if u.overdue.count > 0),
                               key=lambda u: (-u.overdue_rate, -u.overdue.count,
                                              u.unit))[:ranked]
    return result


def _count(db: Database, scope: Any, light_of: Any, mine: Any, overdue: Any,
           key: Any) -> tuple[list[Any], list[Any]]:
    """The two grouped counts, in one statement over one pass of the issues (each issue's
    light worked out once): by category and state, the issues of each light, the leader's
    own by light, the overdue and the 重点督办 ones; and by unit and state, the issues and
    the overdue ones, a unit counting every issue it works (``queries.works_unit``) once
    whichever of its columns name it (a list names a unit once: the engine keeps the lists
    without repeats)."""
    one = literal(1)
    late = case((overdue, one), else_=0).label("late")
    flags = select(Issue.category, Issue.state, light_of.label("light"),
                   case((mine, one), else_=0).label("mine"), late,
                   case((key, one), else_=0).label("keyed"), Issue.unit, Issue.lead_unit
                   ).where(scope).cte("flags").prefix_with("MATERIALIZED", dialect="postgresql")
    lit = [func.sum(case((flags.c.light == k, one), else_=0)) for k in LIGHTS]
    lit_mine = [func.sum(case((and_(flags.c.mine == 1, flags.c.light == k), one), else_=0))
                for k in LIGHTS]
    by_category = select(literal("category").label("kind"), flags.c.category.label("name"),
                         flags.c.state, func.count().label("issues"),
                         func.sum(flags.c.late).label("late"), func.sum(flags.c.mine),
                         func.sum(flags.c.keyed), *lit, *lit_mine
                         ).group_by(flags.c.category, flags.c.state)

    def named(name: Any, *others: Any) -> list[Any]:
        """``name`` when it is a unit's name the columns before it (``others``) do not name:
        each (issue, unit) counts once, without a sort to drop the repeats."""
        return [name.is_not(None), name != "",
                *(or_(other.is_(None), other != name) for other in others)]

    c = flags.c
    branches = [select(c.state, c.late, c.unit.label("name")).where(*named(c.unit)),
                select(c.state, c.late, c.lead_unit.label("name"))
                .where(*named(c.lead_unit, c.unit))]
    for column in (Issue.responsible_units, Issue.cooperating_units):
        if db.engine.dialect.name == "postgresql":  # a set-returning column: no join per issue
            text_of = func.ltrim(cast(column, Text))
            listed = select(Issue.state, late, Issue.unit, Issue.lead_unit,
                            Issue.responsible_units,
                            func.json_array_elements_text(column).label("name")
                            ).where(scope, func.left(text_of, 1) == "[", text_of != "[]"
                                    ).subquery()
            value, rows_of = listed.c.name, listed.c
            statement = select(rows_of.state, rows_of.late, value.label("name"))
        else:
            elements = func.json_each(column).table_valued("value")
            value, rows_of = elements.c.value, Issue
            statement = select(Issue.state, late, value.label("name")).select_from(Issue) \
                .join(elements, true()).where(scope)
        conditions = named(value, rows_of.unit, rows_of.lead_unit)
        if column is Issue.cooperating_units:
            conditions.append(~queries.json_list_has(rows_of.responsible_units, value))
        branches.append(statement.where(*conditions))
    pairs = union_all(*branches).subquery()
    zeros = [literal(0)] * (2 + 2 * len(LIGHTS))
    by_unit = select(literal("unit"), pairs.c.name, pairs.c.state, func.count(),
                     func.sum(pairs.c.late), *zeros).group_by(pairs.c.name, pairs.c.state)
    with _counting(db) as session:
        rows = session.execute(union_all(by_category, by_unit)).all()
    return ([r[1:] for r in rows if r[0] == "category"],
            [r[1:5] for r in rows if r[0] == "unit"])


def _units(rows: list[Any], labels: dict[str, str], completed: set[str]) -> list[UnitRow]:
    """Each unit's line of the ranking from its counts by state, in order of completion
    rate, then overdue rate, then issues; by name last."""
    tallies: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for name, state, count, overdue_count in rows:
        if name == name.strip() and len(name) <= 200:  # what the ledger's unit filter takes
            tallies[name][state] = [count, int(overdue_count or 0)]
    found = []
    for name, states in tallies.items():
        total = sum(c for c, _ in states.values())
        overdue_total = sum(o for _, o in states.values())
        by_state = [(labels[s], Figure(states.get(s, [0])[0], LedgerQuery(unit=name, state=s)))
                    for s in labels if s in completed]
        cleared = sum(f.count for _, f in by_state)
        found.append(UnitRow(
            name, Figure(total, LedgerQuery(unit=name)), cleared, by_state,
            Figure(overdue_total, LedgerQuery(unit=name, overdue=True)),
            round(100 * cleared / total, 1) if total else 0.0,
            round(100 * overdue_total / total, 1) if total else 0.0))
    return sorted(found, key=lambda u: (-u.completion, u.overdue_rate, -u.total.count, u.unit))
