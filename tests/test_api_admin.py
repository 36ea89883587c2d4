"""The office's administration over HTTP against a real `rectify web`: the directory, the
contacts, the dead letters and the health checks, by the CLI's own functions — the office
lists and changes, every change on the audit trail; another role is refused; bad input is a
problem that names what is allowed and changes nothing; secrets are shown masked."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api_support import OFFICE, PROBLEM, UNIT_A, Server
from tests.support import LOOPBACK_ENV
from workflow.db import Database
from workflow.models import Notification

pytestmark = pytest.mark.processes

API = "/api/v1"
TOKEN = "abcdef0123456789"
SECRET = "SECsignature987"


def audit(server: Server) -> list[dict[str, Any]]:
    return json.loads(server.cli("audit", "list", "--as", OFFICE, "--json", "--limit", "500"))


def problem(answer: httpx.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    return str(answer.json()["detail"])


def test_the_office_registers_units_and_people_as_the_cli_lists_them(server: Server) -> None:
    with closing(server.sign_in("office")) as office:
        # When the office lists the units, adds one under a registered unit, and a leader
        before = office.get(f"{API}/directory/units")
        unit = office.post(f"{API}/directory/units",
                           json={"name": "相山区生态环境分局", "parent": UNIT_A})
        person = office.post(f"{API}/directory/people", json={
            "name": "王副市长", "roles": ["leader"], "title": "副市长", "rank": "厅级",
            "sectors": ["水污染"]})
        listed = office.get(f"{API}/directory/people")
    # Then the listing is the CLI's, and so is what was added
    assert before.status_code == 200
    assert {"name": UNIT_A, "parent": None} in before.json()
    assert unit.status_code == 201, unit.text
    units = json.loads(server.cli("units", "list", "--json"))
    assert {"name": "相山区生态环境分局", "parent": UNIT_A} in units
    assert {k: v for k, v in unit.json().items() if k != "id"} == \
        {"name": "相山区生态环境分局", "parent": UNIT_A}
    assert person.status_code == 201, person.text
    people = json.loads(server.cli("people", "list", "--json"))
    added = next(p for p in people if p["name"] == "王副市长")
    assert {k: v for k, v in person.json().items() if k != "id"} == added
    assert added["roles"] == ["leader"] and added["sectors"] == ["水污染"]
    assert listed.json() == people
    # And both changes are on the audit trail, made by the office person
    trail = {(r["action"], r["subject"]): r for r in audit(server)}
    for key in (("unit_add", "unit 相山区生态环境分局"), ("person_add", "person 王副市长")):
        assert (trail[key]["actor"], trail[key]["role"]) == (OFFICE, "office")
    assert trail[("unit_add", "unit 相山区生态环境分局")]["details"]["parent"] == UNIT_A


def test_bad_directory_input_is_a_problem_naming_what_is_allowed(server: Server) -> None:
    units = server.cli("units", "list", "--json")
    people = server.cli("people", "list", "--json")
    last = audit(server)[-1]["id"]
    with closing(server.sign_in("office")) as office:
        # When the office names an unregistered parent, an unknown role and unit, a
        # registered unit again, and a name with a NUL character
        orphan = office.post(f"{API}/directory/units", json={"name": "某局", "parent": "无此单位"})
        stranger = office.post(f"{API}/directory/people", json={
            "name": "赵某", "roles": ["boss"], "unit": "无此单位"})
        again = office.post(f"{API}/directory/units", json={"name": UNIT_A})
        nul = office.post(f"{API}/directory/units", json={"name": "某\x00局"})
    # Then each is a 422 problem saying what is wrong and what is allowed
    assert "parent unit '无此单位' is not registered" in problem(orphan, 422)
    detail = problem(stranger, 422)
    assert "unknown role(s) boss" in detail
    assert "roles: office, unit, acceptor, leader, discipline, public" in detail
    assert "unit '无此单位' is not registered" in detail
    assert "is registered already" in problem(again, 422)
    assert "NUL character" in problem(nul, 422)
    # And nothing changed, nothing was recorded
    assert server.cli("units", "list", "--json") == units
    assert server.cli("people", "list", "--json") == people
    assert [r["action"] for r in audit(server) if r["id"] > last] == ["sign_in"]


def test_contacts_are_added_under_the_allowlist_and_shown_masked(
        start_server: Callable[..., Server]) -> None:
    server = start_server(**LOOPBACK_ENV)
    hook = f"http://127.0.0.1:9/robot/send?access_token={TOKEN}"
    with closing(server.sign_in("office")) as office:
        # When the office adds a webhook on an allowed host with a token and a secret
        added = office.post(f"{API}/contacts", json={
            "recipient": UNIT_A, "channel": "webhook", "address": hook,
            "options": {"preset": "dingtalk", "secret": SECRET}})
        before = server.cli("contacts", "list", "--json")
        # And tries a host off the allowlist, an unknown channel and an unknown option
        off_list = office.post(f"{API}/contacts", json={
            "recipient": UNIT_A, "channel": "webhook",
            "address": "https://hooks.example.com/send?token=x"})
        sms = office.post(f"{API}/contacts", json={
            "recipient": UNIT_A, "channel": "sms", "address": "13800000000"})
        option = office.post(f"{API}/contacts", json={
            "recipient": UNIT_A, "channel": "email", "address": "a@example.gov.cn",
            "options": {"secret": "x"}})
        listed = office.get(f"{API}/contacts")
    # Then the contact is stored and answered as the CLI lists it: no token, no secret
    assert added.status_code == 201, added.text
    for text in (added.text, listed.text):
        assert TOKEN not in text and SECRET not in text
    assert added.json()["address"].startswith("http://127.0.0.1:9/robot/send?access_token=ab…")
    assert added.json()["options"]["preset"] == "dingtalk"
    assert listed.json() == json.loads(before) == [added.json()]
    # And each refusal says what is allowed, and adds nothing
    assert "not on the allowlist" in problem(off_list, 422)
    assert "(RECTIFY_WEBHOOK_HOSTS): 127.0.0.1" in off_list.json()["detail"]
    assert "channels: log, email, webhook" in problem(sms, 422)
    assert "allowed: none" in problem(option, 422)
    assert server.cli("contacts", "list", "--json") == before
    # And the addition is on the audit trail, by the office, its token masked there too
    records = [r for r in audit(server) if r["action"] == "contact_add"]
    assert [(r["actor"], r["role"]) for r in records] == [(OFFICE, "office")]
    assert TOKEN not in json.dumps(records, ensure_ascii=False)


def dead_letter(db: Database) -> int:
    """A message that failed every attempt, as delivery leaves it."""
    now = datetime.now(UTC)
    address = f"http://127.0.0.1:9/robot/send?access_token={TOKEN}"
    row = Notification(
        dedupe_key=f"1:1:reminder:3 days:{UNIT_A}:webhook:{address}", issue_id=1,
        timer_id=None, kind="reminder", level="reminder:3 days", recipient=UNIT_A,
        channel="webhook", address=address, subject="【催办提醒】距整改时限还有3天：餐饮油烟扰民",
        body="请抓紧推进整改。\n", status="dead", attempts=8, next_attempt_at=now,
        created_at=now, last_error=f"POST {address}: HTTP 503")
    with db.session(write=True) as session:
        session.add(row)
        session.flush()
        return row.id


def test_the_office_sees_dead_letters_masked_and_retries_one(server: Server,
                                                              db: Database) -> None:
    # Given a dead letter to a webhook whose address carries a token
    message_id = dead_letter(db)
    with closing(server.sign_in("office")) as office:
        # When the office lists the dead letters and retries it
        dead = office.get(f"{API}/outbox/dead")
        cli_dead = json.loads(server.cli("outbox", "dead", "--json", code=1))
        retried = office.post(f"{API}/outbox/{message_id}/retry")
        after = office.get(f"{API}/outbox/dead")
        # And retries it again (no longer dead), and a message that does not exist
        again = office.post(f"{API}/outbox/{message_id}/retry")
        unknown = office.post(f"{API}/outbox/{message_id + 1000}/retry")
    # Then the dead letter is listed as the CLI lists it, its token masked
    assert dead.status_code == 200, dead.text
    assert [row["id"] for row in dead.json()] == [message_id]
    assert TOKEN not in dead.text
    assert dead.json() == cli_dead
    # And the retry queued it again, due now, its attempts kept
    assert retried.status_code == 200, retried.text
    assert retried.json()["revived"] == 1
    assert (retried.json()["message"]["status"], retried.json()["message"]["attempts"]) == \
        ("pending", 8)
    assert TOKEN not in retried.text
    assert after.json() == []
    rows = json.loads(server.cli("outbox", "list", "--json"))
    assert [r["status"] for r in rows if r["id"] == message_id] == ["pending"]
    # And the refusals say why
    assert "only dead letters are retried" in problem(again, 422)
    assert f"no outbox message {message_id + 1000}" in problem(unknown, 404)
    # And the retry is on the audit trail, by the office, once
    records = [r for r in audit(server) if r["action"] == "outbox_retry"]
    assert [(r["actor"], r["details"]["ids"], r["details"]["revived"]) for r in records] == \
        [(OFFICE, [message_id], 1)]


def test_the_doctor_answers_200_with_the_health_even_when_unhealthy(server: Server,
                                                                   db: Database) -> None:
    # Given a dead letter (a failing check)
    dead_letter(db)
    with closing(server.sign_in("office")) as office:
        answer = office.get(f"{API}/doctor")
    # Then the office gets the checks of `rectify doctor --json`, unhealthy, with 200
    assert answer.status_code == 200, answer.text
    health = answer.json()
    cli = json.loads(server.cli("doctor", "--json", code=1))
    assert health["healthy"] is False and cli["healthy"] is False
    assert [c["name"] for c in health["checks"]] == [c["name"] for c in cli["checks"]]
    shown = {c["name"]: c for c in health["checks"]}
    assert shown["database"]["status"] == "ok"
    assert shown["dead letters"]["status"] == "fail"
    assert "1 message(s) gave up" in shown["dead letters"]["detail"]


def test_another_role_is_refused_every_administration_resource(server: Server,
                                                               db: Database) -> None:
    message_id = dead_letter(db)
    units, people = server.cli("units", "list", "--json"), server.cli("people", "list", "--json")
    contacts = server.cli("contacts", "list", "--json")
    requests = [
        ("GET", "/directory/units", None),
        ("POST", "/directory/units", {"name": "某局"}),
        ("GET", "/directory/people", None),
        ("POST", "/directory/people", {"name": "赵某", "roles": ["office"]}),
        ("GET", "/contacts", None),
        ("POST", "/contacts", {"recipient": UNIT_A, "channel": "log", "address": "x"}),
        ("GET", "/outbox/dead", None),
        ("POST", f"/outbox/{message_id}/retry", None),
        ("GET", "/doctor", None),
    ]
    for login in ("zhang", "public"):
        with closing(server.sign_in(login)) as caller:
            for method, path, body in requests:
                # When a unit (or the public) asks for an office resource
                answer = caller.request(method, API + path, json=body)
                # Then the office check refuses it, naming the role that may
                assert "roles allowed: office" in problem(answer, 403), (login, path)
    # And nothing changed: the dead letter is still dead
    assert server.cli("units", "list", "--json") == units
    assert server.cli("people", "list", "--json") == people
    assert server.cli("contacts", "list", "--json") == contacts
    dead = json.loads(server.cli("outbox", "dead", "--json", code=1))
    assert [r["id"] for r in dead] == [message_id]
    assert not [r for r in audit(server) if r["action"] == "outbox_retry"]
