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

import json
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Text, and_, case, cast, func, literal, select, text, true
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
    total = overdue_count = key_count = unsorted = 0
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
        unsorted=unsorted,
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
    """The two grouped counts from one statement over one pass of the issues (each issue's
    light worked out once): the issues grouped by everything a figure tells them apart by
    — category, state, light, the leader's own, overdue, 重点督办 and the unit columns —
    which leaves a few rows per unit and category whatever the size of the ledger; then
    summed here by category and state (the issues of each light, the leader's own by
    light, the overdue and the 重点督办 ones) and by unit and state (the issues and the
    overdue ones, a unit counting every issue it works, ``queries.works_unit``, once
    whichever of its columns name it)."""
    one = literal(1)
    columns = [Issue.category, Issue.state, light_of, case((mine, one), else_=0),
               case((overdue, one), else_=0), case((key, one), else_=0), Issue.unit,
               Issue.lead_unit, cast(Issue.responsible_units, Text),
               cast(Issue.cooperating_units, Text)]
    flags = select(*(c.label(f"c{n}") for n, c in enumerate(columns))).where(scope).subquery()
    grouped = select(*flags.c, func.count()).group_by(*flags.c)
    with _counting(db) as session:
        found = session.execute(grouped).all()
    by_category: dict[tuple[Any, str], list[int]] = defaultdict(lambda: [0] * (4 + 2 * len(LIGHTS)))
    by_unit: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for category, state, light, own, late, keyed, unit, lead, listed, cooperating, n in found:
        tally = by_category[(category, state)]
        tally[0] += n
        tally[1] += late * n
        tally[2] += own * n
        tally[3] += keyed * n
        if light in LIGHTS:
            tally[4 + LIGHTS.index(light)] += n
            if own:
                tally[4 + len(LIGHTS) + LIGHTS.index(light)] += n
        for name in dict.fromkeys((unit, lead, *_names(listed), *_names(cooperating))):
            if name:
                counted = by_unit[(name, state)]
                counted[0] += n
                counted[1] += late * n
    return ([(category, state, *tally) for (category, state), tally in by_category.items()],
            [(name, state, *counted) for (name, state), counted in by_unit.items()])


def _names(listed: str | None) -> list[str]:
    """The unit names of a JSON list column as stored (text)."""
    if not listed:
        return []
    names = json.loads(listed)
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


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
