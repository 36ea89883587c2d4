"""The leader cockpit (领导驾驶舱): on a ledger of mixed lights, states, units and sectors,
every figure equals the ledger count of the query its link names (for the office and for a
leader, on SQLite and PostgreSQL); and in Debian's Chromium on a real `rectify web`, a
leader sees its counts, sees an issue move after a reload, follows a figure to exactly that
many ledger rows, instructs (批示) on an issue from the cockpit, while a unit is refused the
cockpit; the page passes the axe-core label and contrast rules."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlparse

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import delete

from tests.api_support import OFFICE as OFFICE_NAME
from tests.api_support import PASSWORD, UNIT_A, UNIT_B, Server
from tests.support import LEADER, OFFICE, office_act
from tests.test_pages import browser, shot  # noqa: F401  (fixture)
from tests.test_pages_a11y import violations
from tests.test_pages_journeys import sign_in
from workflow.clock import FrozenClock
from workflow.documents.briefing import ranking
from workflow.documents.figures import Progress, Tally
from workflow.issues import cockpit, queries
from workflow.issues.engine import Engine
from workflow.models import Issue, Milestone
from workflow.org.actors import Actor
from workflow.org.directory import add_person, add_unit

SECTORS = ["大气污染防治", "水污染防治"]
CATEGORIES = [*SECTORS, "生态保护", None]
UNITS = ["相山区人民政府", "杜集区人民政府", "市城管局"]
ON_TIME = "市水务局"  # a unit with nothing overdue, for the 红榜
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
    for n, state in enumerate(["cleared", "in_progress", "follow_up"]):
        rows.append({**rows[0], "title": f"按期问题{n}", "state": state, "unit": ON_TIME,
                     "lead_unit": None, "responsible_units": [ON_TIME],
                     "cooperating_units": [], "due_at": now + timedelta(days=60),
                     "deadline_at": now + timedelta(days=60)})
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
    for unit in [*UNITS, ON_TIME]:
        add_unit(engine.db, unit, by=by)
    add_person(engine.db, LEADER.name, by=by, roles=["leader"], sectors=SECTORS)
    now = clock.now()
    mixed_ledger(engine, now)
    # When the cockpit is counted
    board = cockpit.cockpit(engine.db, engine.registry, actor, now=now, ranked=2)
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
    assert {u.unit for u in board.units} >= set(UNITS)
    assert len(board.overdue_items) == min(board.overdue.count, cockpit.LISTED)
    assert [i["days_overdue"] for i in board.overdue_items] == sorted(
        (i["days_overdue"] for i in board.overdue_items), reverse=True)
    assert all(i["key_supervision"] for i in board.key_items)
    report = Progress(as_of=now, by_unit={u.unit: Tally(u.total.count, u.cleared, u.overdue.count)
                                          for u in board.units})
    red, black = ranking(report)
    assert board.red_list and board.black_list
    assert [u.unit for u in board.red_list] == [r["unit"] for r in red][:2]
    assert [u.unit for u in board.black_list] == [r["unit"] for r in black][:2]
    for unit in board.units:
        assert unit.cleared == sum(f.count for _, f in unit.cleared_by_state)
        assert unit.completion == round(100 * unit.cleared / unit.total.count, 1)
    if actor.role == "leader":
        assert board.mine is not None and board.mine.total.query.leader == LEADER.name
        assert [s.name for s in board.my_sectors] == sorted(SECTORS)
    else:
        assert board.mine is None and board.my_sectors == []


# The leader's journey in the browser: a training database, the server running after the
# deadline so the leader's issues are overdue (red) and on the cockpit's list.

AFTER = datetime(2028, 1, 10, 9, 0)  # Asia/Shanghai; the issues are due 2027-12-31
SECTOR = "大气污染防治"


def figure(page: Any, selector: str) -> int:
    return int(page.inner_text(selector).removesuffix(" 项").strip())


@pytest.mark.processes
@pytest.mark.training
def test_a_leader_follows_its_issues_on_the_cockpit(
        browser: Browser, start_server: Callable[..., Server]) -> None:  # noqa: F811
    server = start_server(args=("--now", AFTER.isoformat(), "--as", OFFICE_NAME))
    # Given a leader with a sector, the issue it supervises and another of its sector
    server.cli("people", "add", LEADER.name, "--role", "leader", "--sector", SECTOR,
               "--as", OFFICE_NAME)
    server.cli("accounts", "add", "wang.fs", "--person", LEADER.name, "--password-stdin",
               "--as", OFFICE_NAME, stdin=PASSWORD + "\n")
    mine = "燃煤锅炉未淘汰"
    for title, unit, leader in ((mine, UNIT_A, ("--leader", LEADER.name)),
                                ("工地扬尘未苫盖", UNIT_B, ())):
        server.cli("issue", "create", "--title", title, "--unit", unit, "--category", SECTOR,
                   "--deadline", "2027-12-31", *leader, "--as", OFFICE_NAME)
    # When the leader opens the cockpit, it sees its two issues (not the other two), both
    # assigned and overdue, one of them its own
    context, page = sign_in(browser, server, "wang.fs")
    assert page.url.endswith("/cockpit")  # a leader lands on its cockpit
    assert page.title().startswith("领导驾驶舱")
    assert figure(page, "#total") == 2 and figure(page, "#mine-total") == 1
    state = "#by-state table a[data-state={}]"
    assert figure(page, state.format("assigned")) == 2
    assert figure(page, state.format("in_progress")) == 0
    assert figure(page, "#by-light table a[data-light=red]") == 2
    assert page.inner_text("#my-sectors tbody th") == SECTOR
    assert mine in page.inner_text("#overdue-table") and "查看全部 2 项" in page.inner_text(
        "#overdue")
    assert "完成率 = 已销号 ÷ 问题总数" in page.inner_text("#formula")
    assert violations(page) == []
    # And after the unit starts its issue, a reload shows it moved to 整改中
    server.cli("issue", "fire", "3", "start", "--as", "张科长")
    page.reload()
    assert figure(page, state.format("assigned")) == 1
    assert figure(page, state.format("in_progress")) == 1
    shot(page, "cockpit")
    # When it clicks the 整改中 bar, the ledger shows exactly that one issue
    page.locator("#by-state .bars a[data-state=in_progress]").click()
    page.wait_for_url("**/ledger?state=in_progress")
    assert page.locator("#rows tbody tr").count() == 1 and "共 1 项" in page.inner_text("#rows")
    assert mine in page.inner_text("#rows")
    # And a unit's figure leads to the ledger of that unit's issues
    page.go_back()
    total = page.locator(f"#units-table tr[data-unit='{UNIT_A}'] td a").first
    expected = int(total.inner_text())
    total.click()
    page.wait_for_url("**/ledger?unit=*")
    assert page.locator("#rows tbody tr[data-id]").count() == expected
    # When it instructs (批示) on its overdue issue from the cockpit's list
    page.goto("/cockpit")
    page.get_by_role("link", name=f"批示：{mine}").click()
    page.wait_for_url("**/issues/3#instruct-form")
    page.get_by_label("批示内容").fill("请于本月底前完成淘汰，逐周报告进展")
    page.get_by_role("button", name="批示", exact=True).click()
    page.wait_for_url("**done=instruct*")
    # Then the instruction is on the issue's timeline
    assert "请于本月底前完成淘汰" in page.inner_text("#timeline")
    assert page.problems == []  # type: ignore[attr-defined]
    context.close()

    # Someone not signed in is sent to sign in; a unit opening the cockpit is refused and
    # sees no figure
    answer = httpx.get(server.url + "/cockpit", follow_redirects=False,
                       headers={"accept": "text/html"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    context, page = sign_in(browser, server, "zhang")
    answer = page.goto("/cockpit")
    assert answer is not None and answer.status == 403
    assert "仅供包保领导和整改办" in page.inner_text("[role=alert]")
    assert page.locator("#by-light, #total").count() == 0
    page.problems.clear()  # type: ignore[attr-defined]  (the 403 of /cockpit)
    context.close()

    # The office sees every issue on its cockpit, which passes the label and contrast rules
    context, page = sign_in(browser, server, "office")
    page.goto("/cockpit")
    assert figure(page, "#total") == 4 and page.locator("#mine").count() == 0
    assert violations(page) == []
    shot(page, "cockpit-office")
    assert page.problems == []  # type: ignore[attr-defined]
    context.close()
