"""The public endpoints, without sign-in, on a real `rectify web`: the disclosure list and one
issue (the disclosed fields only, sub-tasks left out as the disclosure leaves them), the
issues in 公示 with the notice's end, objections (the issue back to the site check, a ticket,
the limits) and a ticket's status; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.api_support import OFFICE, PROBLEM, UNIT_A, UNIT_B, Server
from workflow.config import Settings
from workflow.db import Database
from workflow.issues import objections, policy
from workflow.models import PublicObjection
from workflow.startup import open_engine

pytestmark = pytest.mark.processes

PUBLIC = set(policy.PUBLIC_FIELDS)
NOTICE = PUBLIC | {"notice_stage", "notice_label_zh", "notice_label_en", "notice_until"}
RECEIVED = {"ticket", "status", "issue_id", "created_at"}
TICKET = {"ticket", "status", "created_at", "issue", "outcome", "answer", "answered_at"}
TICKET_FORMAT = re.compile(r"^\d{2}[0-9A-HJKMNP-TV-Z]{10}$")
ACCEPTOR = "王工"


def fire(server: Server, issue_id: int, trigger: str, actor: str, role: str,
         *extra: str) -> None:
    server.cli("issue", "fire", str(issue_id), trigger, "--as", actor, "--role", role, *extra)


def to_notice(server: Server, issue_id: int, tmp_path: Path) -> None:
    """Bring issue ``issue_id`` (unit A's) to 公示: started, applied with evidence, checked
    on site by an acceptor."""
    evidence = tmp_path / "整改材料.txt"
    evidence.write_text("整改完成", encoding="utf-8")
    server.cli("people", "add", ACCEPTOR, "--role", "acceptor", "--unit", UNIT_B,
               "--as", OFFICE)
    fire(server, issue_id, "start", UNIT_A, "unit")
    fire(server, issue_id, "apply_acceptance", UNIT_A, "unit", "--comment", "已整改到位",
         "--evidence", str(evidence))
    site_check(server, issue_id)


def site_check(server: Server, issue_id: int) -> None:
    fire(server, issue_id, "site_check", ACCEPTOR, "acceptor", "--comment", "现场核查通过")


def history(server: Server, issue_id: int) -> list[dict]:
    return json.loads(server.cli("issue", "history", str(issue_id), "--as", OFFICE,
                                 "--json"))


def objection_rows(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(PublicObjection)) or 0


def assert_problem(answer, status: int, *words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    for word in words:
        assert word in answer.json()["detail"], answer.json()


def test_the_disclosure_list_pages_disclosed_fields_and_leaves_sub_tasks_out(
        server: Server) -> None:
    # Given a third issue split into a sub-task for unit B (the disclosure lists top-level
    # issues only)
    created = json.loads(server.cli(
        "issue", "create", "--title", "扬尘污染", "--unit", UNIT_A, "--cooperating-unit",
        UNIT_B, "--deadline", "2027-12-31", "--as", OFFICE, "--json"))
    server.cli("issue", "split", str(created["id"]), "--unit", UNIT_B, "--as", OFFICE)
    # When anyone, not signed in, pages through the list one by one
    client, seen, cursor = server.client(), [], None
    while True:
        answer = client.get("/api/v1/public/issues", params={"limit": 1, **(
            {"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert set(page) == {"items", "next_cursor"}
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Then every top-level issue comes once, in id order, with exactly the disclosed fields
    assert [item["id"] for item in seen] == [1, 2, created["id"]]
    assert all(set(item) == PUBLIC for item in seen)
    assert seen[0]["title"] == "餐饮油烟扰民" and seen[0]["state_label_zh"] == "已交办"
    # And a cursor this API did not give is a problem saying what to pass
    assert_problem(client.get("/api/v1/public/issues", params={"cursor": "bogus"}), 422,
                   "next_cursor")
    # And so is a cursor of the signed-in ledger, which pages another query
    ledger = server.sign_in("office").get("/api/v1/issues", params={"limit": 1}).json()
    assert_problem(client.get("/api/v1/public/issues",
                              params={"cursor": ledger["next_cursor"]}), 422, "cursor")


def test_one_issue_shows_its_disclosed_fields_and_404_for_none(server: Server) -> None:
    created = json.loads(server.cli(
        "issue", "create", "--title", "扬尘污染", "--unit", UNIT_A, "--cooperating-unit",
        UNIT_B, "--deadline", "2027-12-31", "--as", OFFICE, "--json"))
    split = server.cli("issue", "split", str(created["id"]), "--unit", UNIT_B, "--as", OFFICE)
    sub_id = int(split.rsplit("sub-tasks", 1)[1].strip())
    client = server.client()
    # When one issue is asked for without sign-in
    answer = client.get("/api/v1/public/issues/2")
    # Then its disclosed fields, and nothing else, come back
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == PUBLIC
    assert (answer.json()["title"], answer.json()["unit"]) == ("黑臭水体", UNIT_B)
    # And an issue that does not exist, or a sub-task the disclosure leaves out, is 404
    assert_problem(client.get("/api/v1/public/issues/999"), 404, "999")
    assert_problem(client.get(f"/api/v1/public/issues/{sub_id}"), 404)


def test_notices_list_issues_in_public_notice_with_the_end_of_the_notice(
        server: Server, tmp_path: Path) -> None:
    client = server.client()
    # Given no issue in 公示: the list is empty
    assert client.get("/api/v1/public/notices").json() == {"items": []}
    # When issue 1 passes its site check
    to_notice(server, 1, tmp_path)
    # Then it is listed with the disclosed fields and the notice's step and end, which is
    # what the office sees as the step's end (Asia/Shanghai), seven days on
    answer = client.get("/api/v1/public/notices")
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["items"]
    assert set(item) == NOTICE
    assert (item["id"], item["notice_stage"], item["notice_label_zh"]) == (
        1, "public_notice", "公示中")
    internal = server.sign_in("office").get("/api/v1/issues/1").json()
    assert item["notice_until"] == internal["stage_until"]
    until = datetime.fromisoformat(item["notice_until"])
    assert until.utcoffset() == timedelta(hours=8)
    check = next(e for e in history(server, 1) if e["trigger"] == "site_check")
    assert until - datetime.fromisoformat(check["at"]) == timedelta(days=7)


def test_an_objection_sends_the_issue_back_to_the_site_check_and_gives_a_ticket(
        server: Server, tmp_path: Path, db: Database) -> None:
    to_notice(server, 1, tmp_path)
    client = server.client()
    text = "该饭店油烟仍然很大，晚上尤其明显"
    # When someone objects without signing in, leaving a contact
    answer = client.post("/api/v1/public/issues/1/objections",
                         json={"text": text, "contact": "13800000000"})
    # Then it is received with a readable, unguessable ticket
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == RECEIVED
    assert (body["status"], body["issue_id"]) == ("received", 1)
    ticket = body["ticket"]
    assert TICKET_FORMAT.match(ticket), ticket
    # And the issue's history says who objected and what, and the issue is back at the site
    # check, so it is no longer in 公示
    last = history(server, 1)[-1]
    assert (last["trigger"], last["role"], last["actor"], last["comment"]) == (
        "object", "public", f"公众（异议 {ticket}）", text)
    assert client.get("/api/v1/public/notices").json() == {"items": []}
    # And the ticket's status says what happened, with the issue's public fields only:
    # never the address or the contact
    typed = f"{ticket[:6]}-{ticket[6:]}".lower().replace("1", "l").replace("0", "o")
    status = client.get(f"/api/v1/public/objections/{typed}")
    assert status.status_code == 200, status.text
    found = status.json()
    assert set(found) == TICKET and set(found["issue"]) == {"id", "number", "title"}
    assert (found["ticket"], found["status"], found["issue"]["title"]) == (
        ticket, "received", "餐饮油烟扰民")
    assert (found["outcome"]["stage"], found["outcome"]["stage_label_zh"]) == (
        "applied", "待现场核查")
    assert "13800000000" not in status.text and "127.0.0.1" not in status.text
    # And the row keeps the contact for the office, and the address only as its sha256
    with db.session() as session:
        row = session.scalar(select(PublicObjection))
    assert (row.contact, row.address_hash) == ("13800000000",
                                               objections.address_hash("127.0.0.1"))
    # And an unknown ticket, or text that is no ticket at all, is 404
    for unknown in ("26ZZZZZZZZZZ", "26UUUUUUUUUU", "x" * 40):
        assert_problem(client.get(f"/api/v1/public/objections/{unknown}"), 404, "ticket")
    # And a NUL in the address is refused before any route runs
    assert_problem(client.get("/api/v1/public/objections/%00"), 422, "NUL")


def test_an_objection_outside_the_notice_is_refused_and_changes_nothing(
        server: Server, tmp_path: Path, db: Database) -> None:
    client = server.client()
    before = history(server, 2)
    # When someone objects to an issue that is not in 公示
    answer = client.post("/api/v1/public/issues/2/objections", json={"text": "整改不到位"})
    # Then the problem says when objections are accepted, and nothing is written
    assert_problem(answer, 422, "公示中", "public_notice", "已交办")
    assert history(server, 2) == before and objection_rows(db) == 0
    # And an issue that does not exist is 404
    assert_problem(client.post("/api/v1/public/issues/999/objections",
                               json={"text": "整改不到位"}), 404)


@pytest.mark.parametrize(("body", "words"), [
    ({"text": "  太短  "}, ("5 to 2000",)),
    ({"text": "很" * 2001}, ("at most 2000",)),
    ({"text": "整改不到位", "contact": "x" * 201}, ("at most 200",)),
    ({"text": "整改不到位", "name": "张三"}, ("name",)),
    ({"text": "整改不到位", "contact": "138\u0000"}, ("NUL",)),
    ({"text": "整改\u0000不到位"}, ("NUL",)),
    ({}, ("text",)),
])
def test_bad_objections_say_what_is_allowed_and_change_nothing(
        server: Server, tmp_path: Path, db: Database, body: dict, words: tuple[str]) -> None:
    to_notice(server, 1, tmp_path)
    before = history(server, 1)
    answer = server.client().post("/api/v1/public/issues/1/objections", json=body)
    assert_problem(answer, 422, *words)
    assert history(server, 1) == before and objection_rows(db) == 0


def test_objections_are_limited_per_address(start_server: Callable[..., Server],
                                            tmp_path: Path) -> None:
    # Given a limit of two objections an hour per address
    server = start_server(RECTIFY_OBJECTION_LIMIT="2/1h")
    to_notice(server, 1, tmp_path)
    sender = server.client("127.0.0.1")
    # When one address sends two objections (the issue back in 公示 after each)
    for _ in range(2):
        answer = sender.post("/api/v1/public/issues/1/objections", json={"text": "整改不到位"})
        assert answer.status_code == 201, answer.text
        site_check(server, 1)
    # Then its third is refused with when to try again, and the issue stays in 公示
    refused = sender.post("/api/v1/public/issues/1/objections", json={"text": "整改不到位"})
    assert_problem(refused, 429, "at most 2")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert history(server, 1)[-1]["trigger"] == "site_check"
    # And another address may still object
    other = server.client("127.0.0.2").post("/api/v1/public/issues/1/objections",
                                            json={"text": "整改不到位"})
    assert other.status_code == 201, other.text


def test_the_ticket_and_the_event_are_written_together(
        server: Server, tmp_path: Path, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an objection already stored under a ticket, and the issue back in 公示
    to_notice(server, 1, tmp_path)
    engine = open_engine(Settings.from_env())
    monkeypatch.setattr(objections, "new_ticket", lambda now: "26AAAAAAAAAA")
    objections.receive(engine, 1, text="整改不到位", contact=None, address="127.0.0.9")
    site_check(server, 1)
    before = history(server, 1)
    # When a second objection's row cannot be stored (its ticket is taken)
    with pytest.raises(Exception, match=r"(?i)unique"):
        objections.receive(engine, 1, text="仍有明显异味", contact=None, address="127.0.0.9")
    # Then its event is not on the history either: the issue is still in 公示
    assert history(server, 1) == before and objection_rows(db) == 1
    assert server.client().get("/api/v1/public/notices").json()["items"][0]["id"] == 1
    engine.db.dispose()
