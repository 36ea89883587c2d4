"""The ledger query behind ``GET /api/v1/issues``: the read scope in SQL agrees with
``policy.may_read``; over a real `rectify web` on SQLite and PostgreSQL, every filter, every
sort across pages with ties (no row lost or repeated), a unit's scope under every filter, the
capped count, and bad input as problems naming what is allowed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.api_support import OFFICE, PROBLEM, UNIT_A, UNIT_B, Server
from workflow.clock import FrozenClock
from workflow.issues import policy, queries
from workflow.issues.engine import Engine
from workflow.models import Issue
from workflow.org.actors import Actor

pytestmark = pytest.mark.processes

PLAN = "2026年督察整改方案"
PAST, LATER = "2020-06-30", "2028-01-01"

# The read scope in SQL against the policy's rule.

NAMES = st.sampled_from(["甲", "乙", "丙", ""])
OPTIONAL = st.one_of(st.none(), NAMES)
CATEGORIES = st.sampled_from(["大气污染防治", "水污染防治"])
FACTS = st.fixed_dictionaries({
    "unit": OPTIONAL, "lead_unit": OPTIONAL, "acceptance_unit": OPTIONAL,
    "leader": OPTIONAL, "category": st.one_of(st.none(), CATEGORIES),
    "responsible_units": st.one_of(st.none(), st.lists(NAMES, max_size=3)),
    "cooperating_units": st.one_of(st.none(), st.lists(NAMES, max_size=3)),
})
ACTORS = st.builds(Actor, name=NAMES,
                   role=st.sampled_from(["office", "discipline", "public", "unit", "acceptor",
                                         "leader", "stranger"]),
                   unit=OPTIONAL)


@pytest.mark.parametrize("seed_role", ["unit", "acceptor", "leader", "any"])
def test_the_sql_read_scope_agrees_with_may_read(engine: Engine, clock: FrozenClock,
                                                  seed_role: str) -> None:
    db = engine.db
    now = clock.now()

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(issues=st.lists(FACTS, min_size=1, max_size=12), actor=ACTORS,
           sectors=st.frozensets(CATEGORIES))
    def agree(issues: list[dict[str, Any]], actor: Actor, sectors: frozenset[str]) -> None:
        if seed_role != "any":
            actor = Actor(actor.name, seed_role, actor.unit)
        # Given issues with those facts
        with db.transaction() as conn:
            conn.execute(delete(Issue))
            conn.execute(Issue.__table__.insert(), [
                {**facts, "title": "问题", "definition_id": "rectification",
                 "definition_version": 1, "state": "assigned", "version": 1,
                 "head_hash": "0" * 64, "created_at": now, "updated_at": now,
                 "long_term": False, "due_provisional": False, "key_supervision": False}
                for facts in issues])
        # When the scope is asked of the database and of the policy
        with db.session() as session:
            rows = list(session.scalars(select(Issue)))
            in_sql = set(session.scalars(select(Issue.id).where(
                queries.read_scope(actor, sectors=sectors))))
        # Then they name the same issues
        assert in_sql == {i.id for i in rows if policy.may_read(actor, i, sectors=sectors)}

    agree()


# The ledger over HTTP: a ledger of eleven issues with ties on every sort key.

def make_ledger(server: Server) -> None:
    """Issues 3–11 beside the fixture's 1 (unit A) and 2 (unit B), both due 2027-12-31;
    序号 2 and 10 in three plans; 7 and 11 started."""
    def create(title: str, *args: str) -> None:
        server.cli("issue", "create", "--title", title, *args, "--as", OFFICE)

    create("扬尘100%未覆盖", "--unit", UNIT_A, "--plan", PLAN, "--number", "10",
           "--category", "大气污染防治", "--leader", "王副市长", "--deadline", PAST)
    create("污水_直排", "--unit", UNIT_B, "--cooperating-unit", UNIT_A, "--plan", PLAN,
           "--number", "2", "--category", "水污染防治", "--deadline", PAST)
    create("臭气扰民", "--lead-unit", UNIT_A, "--unit", UNIT_B, "--plan", PLAN,
           "--number", "1", "--category", "大气污染防治", "--deadline", "2027-06-30")
    create("河道长效管护", "--unit", UNIT_B, "--category", "水污染防治", "--long-term")
    create("噪声", "--unit", UNIT_B, "--deadline", PAST, "--leader", "王副市长")
    for n in range(4):
        create(f"同日到期 {n}", "--unit", (UNIT_A, UNIT_B)[n % 2], "--plan",
               f"第{n // 2 + 2}批", "--number", ("2", "10")[n % 2], "--deadline", LATER)
    for issue_id in (7, 11):
        server.cli("issue", "fire", str(issue_id), "start", "--as", "李科长")


@pytest.fixture
def ledger(server: Server) -> Server:
    make_ledger(server)
    return server


def read_all(client: httpx.Client, limit: int = 200, **params: Any) -> list[dict[str, Any]]:
    """Every page of a query, following next_cursor; asserts no issue comes twice."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = client.get("/api/v1/issues", params={**params, "limit": limit,
                                                     **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            ids = [i["id"] for i in items]
            assert len(ids) == len(set(ids)), ids
            return items


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [i["id"] for i in items]


def works(item: dict[str, Any], unit: str) -> bool:
    return unit in {item["unit"], item["lead_unit"], *item["responsible_units"],
                    *item["cooperating_units"]}


# What each filter keeps, judged from the full views the office reads.
FILTERS: list[tuple[dict[str, Any], Any]] = [
    ({"state": "assigned"}, lambda i: i["state"] == "assigned"),
    ({"unit": UNIT_A}, lambda i: works(i, UNIT_A)),
    ({"unit": UNIT_B}, lambda i: works(i, UNIT_B)),
    ({"leader": "王副市长"}, lambda i: i["leader"] == "王副市长"),
    ({"plan": PLAN}, lambda i: i["plan"] == PLAN),
    ({"category": "水污染防治"}, lambda i: i["category"] == "水污染防治"),
    ({"overdue": "true"}, lambda i: i["days_overdue"] > 0),
    ({"overdue": "false"}, lambda i: i["days_overdue"] == 0),
    ({"long_term": "true"}, lambda i: i["long_term"]),
    ({"long_term": "false"}, lambda i: not i["long_term"]),
    ({"q": "扰民"}, lambda i: "扰民" in i["title"]),
    ({"q": "100%"}, lambda i: "100%" in i["title"]),
    ({"q": "%"}, lambda i: "%" in i["title"]),
    ({"q": "_"}, lambda i: "_" in i["title"]),
    *(({"light": light}, lambda i, light=light: i["light"] == light)
      for light in ("red", "yellow", "blue", "green")),
    ({"key_supervision": "true"}, lambda i: i["key_supervision"]),
    ({"key_supervision": "false"}, lambda i: not i["key_supervision"]),
    ({"unit": UNIT_A, "overdue": "true", "plan": PLAN},
     lambda i: works(i, UNIT_A) and i["days_overdue"] > 0 and i["plan"] == PLAN),
]


def test_each_filter_keeps_exactly_the_issues_it_names(ledger: Server) -> None:
    client = ledger.sign_in("office")
    everything = read_all(client)
    assert ids(everything) == list(range(1, 12))
    # The ledger has something on both sides of each filter, so none can pass by keeping all
    for params, keeps in FILTERS[:12]:
        expected = [i["id"] for i in everything if keeps(i)]
        assert 0 < len(expected) < len(everything), params
    for params, keeps in FILTERS:
        # When the office filters
        found = read_all(client, limit=3, **params)
        # Then exactly the issues the filter names come, in id order
        assert ids(found) == [i["id"] for i in everything if keeps(i)], params


def test_q_finds_percent_and_underscore_as_text_not_wildcards(ledger: Server) -> None:
    client = ledger.sign_in("office")
    assert ids(read_all(client, q="%")) == [3]
    assert ids(read_all(client, q="_")) == [4]


def test_step_filters_by_the_stage_within_a_state(ledger: Server) -> None:
    client = ledger.sign_in("office")
    # No issue of this ledger is in a stage, so a known step finds none and is not refused
    steps = [s for s in client.get("/api/v1/issues", params={"step": "nonesuch"}).json()
             ["detail"].split("steps: ")[1].split(", ")]
    assert steps and steps != ["none"]
    assert read_all(client, step=steps[0]) == []


def test_a_unit_sees_only_its_issues_under_every_filter(ledger: Server) -> None:
    office, unit_a = ledger.sign_in("office"), ledger.sign_in("zhang")
    for params, _keeps in [({}, None), *FILTERS]:
        # When unit A and the office ask the same query
        mine = read_all(unit_a, limit=2, **params)
        theirs = read_all(office, **params)
        # Then unit A gets the office's answer less the issues it does not work
        assert all(works(i, UNIT_A) for i in mine), params
        assert ids(mine) == [i["id"] for i in theirs if works(i, UNIT_A)], params


def sort_key(name: str) -> Any:
    """The order each sort promises, over the views: issues without the key last, the id
    breaking ties in the sort's direction."""
    def at(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    key, descending = {
        "id": (lambda i: (), False), "-id": (lambda i: (), True),
        "due_at,id": (lambda i: at(i["due"]), False),
        "-due_at,-id": (lambda i: at(i["due"]), True),
        "deadline_at,id": (lambda i: i["deadline"], False),
        "-deadline_at,-id": (lambda i: i["deadline"], True),
        "number,id": (lambda i: (len(i["number"]), i["number"]) if i["number"] else None,
                      False),
    }[name]

    def ordered(items: list[dict[str, Any]]) -> list[int]:
        keyed = sorted((i for i in items if key(i) is not None),
                       key=lambda i: (key(i), i["id"]), reverse=descending)
        unkeyed = sorted((i["id"] for i in items if key(i) is None), reverse=descending)
        return [i["id"] for i in keyed] + unkeyed
    return ordered


@pytest.mark.parametrize("sort", list(queries.SORTS))
def test_every_sort_pages_through_ties_without_losing_or_repeating_a_row(
        ledger: Server, sort: str) -> None:
    client = ledger.sign_in("office")
    everything = read_all(client)
    # The ledger has ties on the sort key and issues without one
    # When the office reads two issues per page in that order
    for limit in (1, 2, 3):
        pages = read_all(client, limit=limit, sort=sort)
        # Then every issue comes once, in the promised order
        assert ids(pages) == sort_key(sort)(everything), (sort, limit)
    # And a unit's pages in that order are the office's less the issues it does not work
    mine = read_all(ledger.sign_in("li.ke"), limit=2, sort=sort)
    assert ids(mine) == [i for i in sort_key(sort)(everything)
                         if works(everything[i - 1], UNIT_B)]


def test_count_counts_what_the_query_matches(ledger: Server) -> None:
    client = ledger.sign_in("zhang")
    # When unit A asks one page with the count
    body = client.get("/api/v1/issues", params={"limit": 1, "count": "true"}).json()
    # Then the count is every issue it may read, not only the page
    assert len(body["items"]) == 1
    assert (body["count"], body["count_capped"]) == (len(read_all(client)), False)
    red = client.get("/api/v1/issues", params={"light": "red", "count": "true"}).json()
    assert red["count"] == len(red["items"])
    # And without count=true there is none
    assert "count" not in client.get("/api/v1/issues").json()


def test_the_count_stops_at_its_cap(engine: Engine, clock: FrozenClock) -> None:
    from tests.support import OFFICE as OFFICE_ACTOR
    from tests.support import new_issue
    for _ in range(4):
        new_issue(engine)
    query = queries.LedgerQuery()
    assert queries.ledger_count(engine.db, engine.registry, query, actor=OFFICE_ACTOR,
                                now=clock.now(), cap=3) == (3, True)
    assert queries.ledger_count(engine.db, engine.registry, query, actor=OFFICE_ACTOR,
                                now=clock.now(), cap=4) == (4, False)


def problem_of(client: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/issues", params=params)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM, answer.text
    body = answer.json()
    assert body["type"] == "urn:rectify:problem:bad-input"
    return body


def test_bad_sort_light_state_and_values_are_problems_naming_what_is_allowed(
        server: Server) -> None:
    client = server.sign_in("office")
    assert problem_of(client, sort="title")["detail"] == (
        "unknown sort 'title'; sorts: " + ", ".join(queries.SORTS))
    assert problem_of(client, light="purple")["detail"] == (
        "unknown light 'purple'; lights: green, blue, yellow, red")
    detail = problem_of(client, state="nowhere")["detail"]
    assert detail.startswith("unknown state 'nowhere'; states: ") and "assigned" in detail
    assert "steps: " in problem_of(client, step="nowhere")["detail"]
    assert "overdue" in problem_of(client, overdue="maybe")["detail"]
    assert "limit" in problem_of(client, limit=0)["detail"]


def test_a_cursor_is_refused_unless_this_query_gave_it(ledger: Server) -> None:
    client = ledger.sign_in("office")
    first = client.get("/api/v1/issues", params={"limit": 2, "sort": "due_at,id"}).json()
    cursor = first["next_cursor"]
    # When the cursor comes back with another sort or other filters
    for params in ({"sort": "id"}, {"sort": "due_at,id", "unit": UNIT_A}):
        detail = problem_of(client, cursor=cursor, **params)["detail"]
        # Then it is refused, saying why
        assert detail.startswith("cursor was given for other filters or another sort"), detail
    # And a cursor this API did not give is refused too
    for forged in ("not-a-cursor", "eyJmIjoxfQ", cursor[:-4]):
        detail = problem_of(client, cursor=forged, sort="due_at,id")["detail"]
        assert "is not one this API gave" in detail
    # And with the same query it continues
    again = client.get("/api/v1/issues", params={"limit": 2, "sort": "due_at,id",
                                                 "cursor": cursor})
    assert again.status_code == 200 and again.json()["items"]
