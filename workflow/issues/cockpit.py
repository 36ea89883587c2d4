"""The figures of the leader cockpit (领导驾驶舱), counted in SQL over what the signed-in
person may read (``queries.read_scope``): issues by light, by state and by sector (问题类别)
× light, the leader's own (包保) issues, the overdue and 重点督办 lists, and the units'
ranking with its 红榜 and 黑榜.

Every figure carries the ledger query (``queries.LedgerQuery``) that gives exactly the issues
it counts: each is counted with the conditions of that query (``queries.ledger_conditions``)
inside the same read scope, so a figure and ``queries.ledger_count`` of its link agree by
construction. A unit counts the issues it works as the ledger's unit filter does
(``queries.works_unit``: lead, responsible or cooperating unit). A handful of statements
whatever the number of issues: grouped counts, two short lists and the units' tallies."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, case, cast, func, literal, select, true, union
from sqlalchemy.dialects.postgresql import JSONB

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


def _list_elements(db: Database, column: Any) -> Any:
    """The texts of a JSON list column, as a table with a ``value`` column to join."""
    if db.engine.dialect.name == "postgresql":
        as_json = cast(column, JSONB)
        listed = case((func.jsonb_typeof(as_json) == "array", as_json),
                      else_=cast(literal("[]"), JSONB))
        return func.jsonb_array_elements_text(listed).table_valued("value").render_derived()
    return func.json_each(column).table_valued("value")


def _items(db: Database, registry: Registry, scope: Any, where: Any, order: list[Any],
           now: datetime) -> list[dict[str, Any]]:
    with db.session() as session:
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
                      for k in LIGHTS), else_=None).label("light")
    overdue = _condition(db, registry, LedgerQuery(overdue=True), now)
    key = _condition(db, registry, LedgerQuery(key_supervision=True), now)
    mine = (Issue.leader == leader) if leader else literal(False)
    one = literal(1)

    # One grouped count: category × state × light × mine, with the overdue and 重点督办
    # issues of each group.
    flags = select(Issue.category.label("category"), Issue.state.label("state"),
                   light_of, case((mine, one), else_=0).label("mine"),
                   case((overdue, one), else_=0).label("late"),
                   case((key, one), else_=0).label("keyed")).where(scope).subquery()
    grouped = select(flags.c.category, flags.c.state, flags.c.light, flags.c.mine,
                     func.count(), func.sum(flags.c.late), func.sum(flags.c.keyed)
                     ).group_by(flags.c.category, flags.c.state, flags.c.light, flags.c.mine)
    with db.session() as session:
        rows = session.execute(grouped).all()
    total = overdue_count = key_count = unlit = unsorted = 0
    by_light: dict[str, int] = defaultdict(int)
    by_state: dict[str, int] = defaultdict(int)
    by_sector: dict[str, dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    mine_lights: dict[str | None, int] = defaultdict(int)
    for category, state, light, is_mine, count, late, keyed in rows:
        total += count
        overdue_count += late or 0
        key_count += keyed or 0
        by_state[state] += count
        if light is None:
            unlit += count
        else:
            by_light[light] += count
        if category and category == category.strip() and len(category) <= 200:
            by_sector[category][light] += count
        else:
            unsorted += count
        if is_mine:
            mine_lights[light] += count

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
                         [Issue.deadline_at.is_(None), Issue.deadline_at.asc(),
                          Issue.id.asc()], now),
        units=[], red_list=[], black_list=[],
        completed_labels=[labels[s] for s in labels if s in completed])
    if leader:
        result.mine = tallied(leader, mine_lights, LedgerQuery(leader=leader))
        result.my_sectors = [tallied(s, by_sector.get(s, {}), LedgerQuery(category=s))
                             for s in sorted(sectors)]
    result.units = _units(db, scope, overdue, labels, completed)
    result.red_list = sorted((u for u in result.units if u.overdue.count == 0),
                             key=lambda u: (-u.completion, -u.total.count, u.unit))[:ranked]
    result.black_list = sorted((u for u in result.units if u.overdue.count > 0),
                               key=lambda u: (-u.overdue_rate, -u.overdue.count,
                                              u.unit))[:ranked]
    return result


def _units(db: Database, scope: Any, overdue: Any, labels: dict[str, str],
           completed: set[str]) -> list[UnitRow]:
    """Each unit's tallies, a unit counting every issue it works (``queries.works_unit``),
    in order of completion rate, then overdue rate, then issues; by name last."""
    named = [select(Issue.id.label("issue_id"), column.label("name"))
             .where(scope, column.is_not(None), column != "")
             for column in (Issue.unit, Issue.lead_unit)]
    for column in (Issue.responsible_units, Issue.cooperating_units):
        elements = _list_elements(db, column)
        named.append(select(Issue.id.label("issue_id"), elements.c.value.label("name"))
                     .select_from(Issue).join(elements, true())
                     .where(scope, elements.c.value.is_not(None), elements.c.value != ""))
    pairs = union(*named).subquery()
    counted = (select(pairs.c.name, Issue.state, func.count(),
                      func.sum(case((overdue, literal(1)), else_=0)))
               .select_from(pairs).join(Issue, Issue.id == pairs.c.issue_id)
               .group_by(pairs.c.name, Issue.state))
    with db.session() as session:
        rows = session.execute(counted).all()
    tallies: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for name, state, count, late in rows:
        if name == name.strip() and len(name) <= 200:  # what the ledger's unit filter takes
            tallies[name][state] = [count, late or 0]
    found = []
    for name, states in tallies.items():
        total = sum(c for c, _ in states.values())
        late = sum(o for _, o in states.values())
        by_state = [(labels[s], Figure(states.get(s, [0])[0], LedgerQuery(unit=name, state=s)))
                    for s in labels if s in completed]
        cleared = sum(f.count for _, f in by_state)
        found.append(UnitRow(
            name, Figure(total, LedgerQuery(unit=name)), cleared, by_state,
            Figure(late, LedgerQuery(unit=name, overdue=True)),
            round(100 * cleared / total, 1) if total else 0.0,
            round(100 * late / total, 1) if total else 0.0))
    return sorted(found, key=lambda u: (-u.completion, u.overdue_rate, -u.total.count, u.unit))


