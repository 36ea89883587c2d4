"""Every role × every endpoint × an issue in the caller's scope, one outside it, against a
real `rectify web`: the answer is what the access policy says — 200/201 where the role may,
403 where the role may not, 404 where the issue is outside the caller's scope (existence does
not leak), 401 without credentials. The expected table is written out here, not computed
from the policy, so a change to the policy shows up as a failure to look at."""

from __future__ import annotations

import hashlib
import json
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.api_support import OFFICE, PASSWORD, UNIT_A, UNIT_B, Server

pytestmark = pytest.mark.processes

ROLES = ("office", "unit", "acceptor", "leader", "discipline", "public")
LOGINS = {"office": "office", "unit": "zhang", "acceptor": "checker", "leader": "wang.vm",
          "discipline": "jiwei", "public": "public"}

# endpoint → role → (answer on the issue in scope, answer on the one outside it)
ON_ISSUES: dict[str, dict[str, tuple[int, int]]] = {
    "read its monthly reports": {"office": (200, 200), "unit": (200, 404),
                                 "acceptor": (200, 404), "leader": (200, 404),
                                 "discipline": (200, 200), "public": (403, 403)},
    "read the issue": {"office": (200, 200), "unit": (200, 404), "acceptor": (200, 404),
                       "leader": (200, 404), "discipline": (200, 200),
                       "public": (200, 200)},
    "read its timeline": {"office": (200, 200), "unit": (200, 404), "acceptor": (200, 404),
                          "leader": (200, 404), "discipline": (200, 200),
                          "public": (403, 403)},
    "download its evidence": {"office": (200, 200), "unit": (200, 404),
                              "acceptor": (200, 404), "leader": (200, 404),
                              "discipline": (200, 200), "public": (403, 403)},
    "upload evidence": {"office": (201, 201), "unit": (201, 404), "acceptor": (201, 404),
                        "leader": (201, 404), "discipline": (201, 201),
                        "public": (403, 403)},
    "fire 'start'": {"office": (200, 200), "unit": (200, 404), "acceptor": (403, 404),
                     "leader": (403, 404), "discipline": (403, 403), "public": (403, 403)},
}
# endpoint → role → answer
ON_NONE: dict[str, dict[str, int]] = {
    "create an issue": {"office": 201, "unit": 403, "acceptor": 403, "leader": 403,
                        "discipline": 403, "public": 403},
    "list issues": dict.fromkeys(ROLES, 200),
    "who am I": dict.fromkeys(ROLES, 200),
    "progress figures": {"office": 200, "unit": 403, "acceptor": 403, "leader": 200,
                         "discipline": 200, "public": 403},
    "monthly briefing": {"office": 200, "unit": 403, "acceptor": 403, "leader": 200,
                         "discipline": 200, "public": 403},
    "ledger export": {"office": 200, "unit": 403, "acceptor": 403, "leader": 403,
                      "discipline": 200, "public": 403},
    "disclosure list": dict.fromkeys(ROLES, 200),
    "accountability proposals": {"office": 200, "unit": 403, "acceptor": 403, "leader": 403,
                                 "discipline": 200, "public": 403},
    "accountability records": {"office": 200, "unit": 403, "acceptor": 403, "leader": 403,
                               "discipline": 200, "public": 403},
    "directory units": {**dict.fromkeys(ROLES, 403), "office": 200},
    "directory people": {**dict.fromkeys(ROLES, 403), "office": 200},
    "contacts": {**dict.fromkeys(ROLES, 403), "office": 200},
    "dead letters": {**dict.fromkeys(ROLES, 403), "office": 200},
    "doctor": {**dict.fromkeys(ROLES, 403), "office": 200},
}
READS = {"progress figures": "/api/v1/documents/progress",
         "monthly briefing": "/api/v1/documents/monthly?month=2026-11",
         "ledger export": "/api/v1/documents/ledger.xlsx",
         "disclosure list": "/api/v1/documents/disclosure.html",
         "accountability proposals": "/api/v1/accountability/proposals",
         "accountability records": "/api/v1/accountability/records",
         "directory units": "/api/v1/directory/units",
         "directory people": "/api/v1/directory/people",
         "contacts": "/api/v1/contacts", "dead letters": "/api/v1/outbox/dead",
         "doctor": "/api/v1/doctor"}
PDF = b"%PDF-1.4\n%%EOF\n"


def setup_people(server: Server, tmp_path: Path) -> dict[str, int]:
    """An acceptor, a leader and the discipline body with accounts; a pair of issues (in
    scope of every role, outside the scope of the unit, the acceptor and the leader) with
    evidence on their timelines, and a fresh pair for firing. Ids by name."""
    cli = server.cli
    for unit in ("市生态环境局", "市住建局"):
        cli("units", "add", unit, "--as", OFFICE)
    cli("people", "add", "陈工", "--role", "acceptor", "--unit", "市生态环境局", "--as", OFFICE)
    cli("people", "add", "王副市长", "--role", "leader", "--as", OFFICE)
    cli("people", "add", "市纪委监委", "--role", "discipline", "--as", OFFICE)
    for login, person in (("checker", "陈工"), ("wang.vm", "王副市长"),
                          ("jiwei", "市纪委监委")):
        cli("accounts", "add", login, "--person", person, "--password-stdin", "--as", OFFICE,
            stdin=PASSWORD + "\n")
    evidence = tmp_path / "报告.pdf"
    evidence.write_bytes(PDF)
    ids = new_pair(server)
    for name, person in (("own", "张科长"), ("other", "李科长")):
        cli("issue", "fire", str(ids[name]), "start", "--as", person)
        cli("issue", "fire", str(ids[name]), "apply_acceptance", "--as", person,
            "--comment", "已整改", "--evidence", str(evidence))
    return ids


def new_pair(server: Server) -> dict[str, int]:
    """Two new issues: "own" (unit A, leader 王副市长, accepted by 市生态环境局) and "other"
    (unit B, another leader and acceptance unit)."""
    ids = {}
    for name, unit, leader, acceptor in (("own", UNIT_A, "王副市长", "市生态环境局"),
                                         ("other", UNIT_B, "李副市长", "市住建局")):
        created = server.cli("issue", "create", "--title", name, "--unit", unit, "--leader",
                             leader, "--acceptance-unit", acceptor, "--deadline",
                             "2027-12-31", "--as", OFFICE, "--json")
        ids[name] = json.loads(created)["id"]
    return ids


def call(client: httpx.Client, endpoint: str, issue_id: int, sha: str) -> httpx.Response:
    if endpoint == "read the issue":
        return client.get(f"/api/v1/issues/{issue_id}")
    if endpoint == "read its monthly reports":
        return client.get(f"/api/v1/issues/{issue_id}/reports")
    if endpoint == "read its timeline":
        return client.get(f"/api/v1/issues/{issue_id}/events")
    if endpoint == "download its evidence":
        return client.get(f"/api/v1/issues/{issue_id}/evidence/{sha}")
    if endpoint == "upload evidence":
        return client.post(f"/api/v1/issues/{issue_id}/evidence",
                           files={"file": ("照片说明.pdf", PDF)})
    assert endpoint == "fire 'start'"
    return client.post(f"/api/v1/issues/{issue_id}/transitions/start", json={},
                       headers={"If-Match": '"1"'})


def call_plain(client: httpx.Client, endpoint: str) -> httpx.Response:
    if endpoint == "create an issue":
        return client.post("/api/v1/issues", json={"title": "新问题", "units": [UNIT_A]})
    if endpoint == "list issues":
        return client.get("/api/v1/issues")
    if endpoint in READS:
        return client.get(READS[endpoint])
    assert endpoint == "who am I"
    return client.get("/api/v1/me")


def test_every_role_on_every_endpoint_gets_what_the_policy_says(
        server: Server, tmp_path: Path) -> None:
    ids = setup_people(server, tmp_path)
    sha = hashlib.sha256(PDF).hexdigest()
    wrong: list[str] = []
    for role in ROLES:
        fresh = new_pair(server)  # issues at version 1 for this role to fire on
        with closing(server.sign_in(LOGINS[role])) as client:
            for endpoint, expected in ON_ISSUES.items():
                on = fresh if endpoint == "fire 'start'" else ids
                for place, want in zip(("own", "other"), expected[role], strict=True):
                    answer = call(client, endpoint, on[place], sha)
                    if answer.status_code != want:
                        wrong.append(f"{role} {endpoint} ({place}): {answer.status_code}, "
                                     f"expected {want}: {answer.text[:200]}")
            for endpoint, by_role in ON_NONE.items():
                answer = call_plain(client, endpoint)
                if answer.status_code != by_role[role]:
                    wrong.append(f"{role} {endpoint}: {answer.status_code}, expected "
                                 f"{by_role[role]}: {answer.text[:200]}")
    # Without credentials everything is 401
    with server.client() as anonymous:
        for endpoint in ON_ISSUES:
            answer = call(anonymous, endpoint, ids["own"], sha)
            if answer.status_code != 401:
                wrong.append(f"anonymous {endpoint}: {answer.status_code}")
        for endpoint in ON_NONE:
            answer = call_plain(anonymous, endpoint)
            if answer.status_code != 401:
                wrong.append(f"anonymous {endpoint}: {answer.status_code}")
    assert wrong == []
