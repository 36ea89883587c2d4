"""The leader cockpit (领导驾驶舱): on a ledger of mixed lights, states, units and sectors,
every figure equals the ledger count of the query its link names (for the office and for a
leader, on SQLite and PostgreSQL); and in Debian's Chromium on a real `rectify web`, a
leader sees its counts, sees an issue move after a reload, follows a figure to exactly that
many ledger rows, instructs (批示) on an issue from the cockpit, while a unit is refused the
cockpit; the page passes the axe-core label and contrast rules."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest
from sqlalchemy import delete

from tests.support import LEADER, OFFICE, office_act
from workflow.clock import FrozenClock
from workflow.issues import cockpit, queries
from workflow.issues.engine import Engine
from workflow.models import Issue, Milestone
from workflow.org.actors import Actor
from workflow.org.directory import add_person, add_unit

SECTORS = ["大气污染防治", "水污染防治"]
CATEGORIES = [*SECTORS, "生态保护", None]
UNITS = ["相山区人民政府", "杜集区人民政府", "市城管局"]
STATES = ["assigned", "in_progress", "acceptance", "cleared", "follow_up"]


def mixed_ledger(engine: Engine, now: Any, count: int = 90) -> None:
    """Issues of every light, state, sector and unit combination the cockpit tells apart:
    past, near and far deadlines, none (长期坚持), missed milestones, lead, responsible and
    cooperating units, the leader's own, 重点督办."""
    chosen = random.Random(15)
    rows = []
    for n in range(count):
        due = chosen.choice([now - timedelta(days=9), now + timedelta(days=2),
                             now + timedelta(days=60), None])
        deadline = None if due is None else due + chosen.choice([timedelta(0),
                                                                 timedelta(days=-20)])
        rows.append({
            "title": f"问题{n}", "definition_id": "rectification", "definition_version": 1,
            "state": chosen.choice(STATES), "version": 1, "head_hash": "0" * 64,
            "created_at": now, "updated_at": now, "long_term": due is None,
            "due_provisional": False, "key_supervision": chosen.random() < 0.3,
            "due_at": due, "deadline_at": deadline, "category": chosen.choice(CATEGORIES),
            "leader": chosen.choice([LEADER.name, "李副市长", None]),
            "unit": chosen.choice([*UNITS, None]), "lead_unit": chosen.choice([*UNITS, None]),
            "responsible_units": chosen.choice([[], [UNITS[0]], UNITS[1:], None]),
            "cooperating_units": chosen.choice([[], [UNITS[2]], [UNITS[0], UNITS[2]]]),
            "schedule_status": chosen.choice([None, "behind", "on_track"]),
        })
    with engine.db.transaction() as conn:
        conn.execute(delete(Issue))
        conn.execute(Issue.__table__.insert(), rows)
        ids = [r[0] for r in conn.execute(Issue.__table__.select().with_only_columns(
            Issue.id))]
        conn.execute(Milestone.__table__.insert(), [
            {"issue_id": i, "name": "阶段一", "due_at": now - timedelta(days=1),
             "reached_at": None if i % 3 else now - timedelta(days=2)}
            for i in ids if i % 4 == 0])


def figures(board: cockpit.Cockpit) -> list[cockpit.Figure]:
    """Every linked figure of the cockpit."""
    found = [board.total, board.overdue, board.key]
    found += [f for _, _, f in board.by_light] + [f for _, _, f in board.by_state]
    for row in [*board.by_sector, *board.my_sectors, *([board.mine] if board.mine else [])]:
        found += [row.total, *(f for _, _, f in row.lights)]
    for unit in board.units:
        found += [unit.total, unit.overdue, *(f for _, f in unit.cleared_by_state)]
    return found


def query_of(href: str) -> queries.LedgerQuery:
    """The ledger query a link names, read as the ledger page reads its address."""
    parsed = urlparse(href)
    assert parsed.path == "/ledger"
    params = dict(parse_qsl(parsed.query))
    flags = {name: {"1": True, "0": False}[params.pop(name)]
             for name in ("overdue", "long_term", "key_supervision") if name in params}
    return queries.LedgerQuery(**params, **flags)


@pytest.mark.parametrize("actor", [OFFICE, LEADER], ids=["office", "leader"])
def test_every_figure_is_the_ledger_count_of_its_link(engine: Engine, clock: FrozenClock,
                                                      actor: Actor) -> None:
    # Given a ledger of mixed issues and a leader supervising two sectors
    by = office_act(engine.db)
    for unit in UNITS:
        add_unit(engine.db, unit, by=by)
    add_person(engine.db, LEADER.name, by=by, roles=["leader"], sectors=SECTORS)
    now = clock.now()
    mixed_ledger(engine, now)
    # When the cockpit is counted
    board = cockpit.cockpit(engine.db, engine.registry, actor, now=now)
    # Then each figure is what the ledger counts for the query its link names
    shown = figures(board)
    assert len(shown) > 30 and sum(f.count for f in shown) > 0
    for figure in shown:
        assert query_of(figure.href) == figure.query
        count, capped = queries.ledger_count(engine.db, engine.registry, figure.query,
                                             actor=actor, now=now)
        assert (figure.href, figure.count) == (figure.href, count) and not capped
    # And every light, state and unit is there, the lists ranked as briefing's ranking
    assert all(f.count for _, _, f in board.by_light)
    assert {k for k, _, f in board.by_state if f.count} == set(STATES)
    assert {u.unit for u in board.units} == set(UNITS)
    assert len(board.overdue_items) == min(board.overdue.count, cockpit.LISTED)
    assert [i["days_overdue"] for i in board.overdue_items] == sorted(
        (i["days_overdue"] for i in board.overdue_items), reverse=True)
    assert all(i["key_supervision"] for i in board.key_items)
    assert all(u.overdue.count == 0 for u in board.red_list)
    assert all(u.overdue.count > 0 for u in board.black_list)
    for unit in board.units:
        assert unit.cleared == sum(f.count for _, f in unit.cleared_by_state)
        assert unit.completion == round(100 * unit.cleared / unit.total.count, 1)
    if actor.role == "leader":
        assert board.mine is not None and board.mine.total.query.leader == LEADER.name
        assert [s.name for s in board.my_sectors] == sorted(SECTORS)
    else:
        assert board.mine is None and board.my_sectors == []
