"""Acting on issues over HTTP against a real `rectify web`: creating issues (the office),
transitions under If-Match (428 without it, 412 when stale, one winner of two at once),
Idempotency-Key (a repeat fires once), evidence upload and download scoped like the
issue, and the timeline with its hashes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.api_support import PROBLEM, UNIT_A, Server

pytestmark = pytest.mark.processes

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def events(client: httpx.Client, issue_id: int) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/issues/{issue_id}/events")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def fire(client: httpx.Client, issue_id: int, trigger: str, version: int | None,
         key: str | None = None, **body: Any) -> httpx.Response:
    headers = {} if version is None else {"If-Match": f'"{version}"'}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(f"/api/v1/issues/{issue_id}/transitions/{trigger}", json=body,
                       headers=headers)


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run the calls on threads released together; their answers."""
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(calls))

    def go(call: Callable[[], httpx.Response]) -> None:
        start.wait()
        answers.append(call())

    threads = [threading.Thread(target=go, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def upload(client: httpx.Client, issue_id: int, name: str, content: bytes) -> httpx.Response:
    return client.post(f"/api/v1/issues/{issue_id}/evidence",
                       files={"file": (name, content, "application/octet-stream")})


def test_the_issue_carries_its_version_and_the_callers_actions(server: Server) -> None:
    # Given the unit that works issue 1
    with closing(server.sign_in("zhang")) as zhang:
        # When it reads the issue
        answer = zhang.get("/api/v1/issues/1")
    # Then the ETag is its version and the actions are the unit's, with what they require
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"1"'
    actions = {a["trigger"]: a for a in answer.json()["actions"]}
    assert list(actions) == ["start"]
    assert actions["start"]["label_zh"] == "开始整改"
    assert actions["start"]["requires"]["evidence"] == 0


def test_a_transition_needs_if_match_and_a_stale_one_changes_nothing(server: Server) -> None:
    with closing(server.sign_in("zhang")) as zhang:
        # When the unit fires without If-Match, then with a version the issue is not at
        missing = fire(zhang, 1, "start", None)
        stale = fire(zhang, 1, "start", 7)
        # Then 428 and 412, as problems, and the issue did not move
        assert missing.status_code == 428, missing.text
        assert missing.headers["content-type"] == PROBLEM
        assert "If-Match" in missing.json()["detail"]
        assert stale.status_code == 412, stale.text
        assert stale.json()["type"] == "urn:rectify:problem:stale-version"
        assert "version 1, not 7" in stale.json()["detail"]
        assert len(events(zhang, 1)) == 1
        # When it fires at the version it read
        moved = fire(zhang, 1, "start", 1)
    # Then the issue moved and the answer carries the new ETag and the next actions
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == '"2"'
    assert moved.json()["state"] == "in_progress"
    assert [a["trigger"] for a in moved.json()["actions"]] == ["apply_acceptance"]


def test_two_clients_firing_at_once_one_wins_one_gets_412(server: Server) -> None:
    office = server.sign_in("office")
    zhang = server.sign_in("zhang")
    try:
        for round_ in range(4):
            # Given a fresh issue of unit A at version 1
            created = office.post("/api/v1/issues", json={"title": f"同时操作{round_}",
                                                          "units": [UNIT_A],
                                                          "deadline": "2027-12-31"})
            assert created.status_code == 201, created.text
            issue_id = created.json()["id"]
            # When the office and the unit both fire 'start' at version 1 at once
            answers = at_once([lambda c=c, i=issue_id: fire(c, i, "start", 1)
                               for c in (office, zhang)])
            # Then one wins and the other is told the issue changed; one event was added
            assert sorted(a.status_code for a in answers) == [200, 412], \
                [a.text for a in answers]
            assert [e["trigger"] for e in events(office, issue_id)] == ["create", "start"]
    finally:
        office.close()
        zhang.close()


def test_a_repeated_idempotency_key_fires_once(server: Server) -> None:
    with closing(server.sign_in("zhang")) as zhang:
        # When the same request is sent twice with one key
        first = fire(zhang, 1, "start", 1, key="a1b2-start")
        again = fire(zhang, 1, "start", 1, key="a1b2-start")
        # Then the second gets the first answer back, and the issue moved once
        assert first.status_code == again.status_code == 200, (first.text, again.text)
        assert again.json() == first.json()
        assert again.headers["etag"] == first.headers["etag"] == '"2"'
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert [e["trigger"] for e in events(zhang, 1)] == ["create", "start"]
        # And the same key with another request is refused, changing nothing
        other = fire(zhang, 1, "apply_acceptance", 2, key="a1b2-start", comment="完成")
        assert other.status_code == 422, other.text
        assert "another request" in other.json()["detail"]
        # And a refused request is answered the same way when repeated
        refused = fire(zhang, 1, "apply_acceptance", 2, key="apply-1")
        repeated = fire(zhang, 1, "apply_acceptance", 2, key="apply-1")
        assert refused.status_code == repeated.status_code == 422
        assert repeated.json() == refused.json()
        assert len(events(zhang, 1)) == 2


def test_copies_sent_at_once_with_one_key_fire_once(server: Server) -> None:
    clients = [server.sign_in("zhang") for _ in range(4)]
    # When four copies of one request with one key arrive at once
    answers = at_once([lambda c=c: fire(c, 1, "start", 1, key="same-click")
                       for c in clients])
    # Then every copy is answered with the one result or told it is still running
    assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
    assert any(a.status_code == 200 for a in answers)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["retry-after"] == "1"
    assert [e["trigger"] for e in events(clients[0], 1)] == ["create", "start"]
    for client in clients:
        client.close()


def test_evidence_is_uploaded_used_and_downloaded_within_scope(server: Server) -> None:
    zhang = server.sign_in("zhang")
    try:
        assert fire(zhang, 1, "start", 1).status_code == 200
        # When the unit uploads a PDF and applies for acceptance with it
        stored = upload(zhang, 1, "整改报告.pdf", PDF)
        assert stored.status_code == 201, stored.text
        ref = stored.json()
        assert ref["name"] == "整改报告.pdf" and ref["size"] == len(PDF)
        applied = fire(zhang, 1, "apply_acceptance", 2, comment="已完成整改",
                       evidence=[{"sha256": ref["sha256"], "name": ref["name"]}])
        assert applied.status_code == 200, applied.text
        # Then the timeline names it, with the hashes chained
        timeline = events(zhang, 1)
        assert timeline[-1]["payload"]["evidence"] == [ref]
        assert [e["prev_hash"] for e in timeline[1:]] == [e["hash"] for e in timeline[:-1]]
        # And it downloads as it was uploaded, for the unit
        download = zhang.get(f"/api/v1/issues/1/evidence/{ref['sha256']}")
        assert download.status_code == 200 and download.content == PDF
        assert "attachment" in download.headers["content-disposition"]
    finally:
        zhang.close()
    # And another unit gets 404, the public 403, as for the timeline itself
    with closing(server.sign_in("li.ke")) as li:
        assert li.get(f"/api/v1/issues/1/evidence/{ref['sha256']}").status_code == 404
        assert li.get("/api/v1/issues/1/events").status_code == 404
        assert upload(li, 1, "x.pdf", PDF).status_code == 404
    with closing(server.sign_in("public")) as public:
        assert upload(public, 1, "x.pdf", PDF).status_code == 403
        assert public.get(f"/api/v1/issues/1/evidence/{ref['sha256']}").status_code == 403
        assert public.get("/api/v1/issues/1/events").status_code == 403


def test_bad_uploads_are_refused_and_leave_nothing(
        start_server: Callable[..., Server]) -> None:
    server = start_server(RECTIFY_EVIDENCE_MAX_MB="0.01")
    with closing(server.sign_in("zhang")) as zhang:
        # When the unit uploads a program, a PDF that is not one, and a file over the limit
        cases = {"a.exe": b"MZ\x90\x00", "fake.pdf": b"GIF89a....", "big.pdf":
                 PDF + b"0" * 20_000}
        for name, content in cases.items():
            answer = upload(zhang, 1, name, content)
            # Then each is a problem naming the rule, and nothing is stored
            assert answer.status_code == 422, (name, answer.text)
            assert answer.headers["content-type"] == PROBLEM
        assert "not allowed" in upload(zhang, 1, "a.exe", b"MZ").json()["detail"]
        assert "0.01 MB" in upload(zhang, 1, "big.pdf", PDF + b"0" * 20_000).json()["detail"]
        not_multipart = zhang.post("/api/v1/issues/1/evidence", content=PDF)
        assert not_multipart.status_code == 422
        assert "multipart/form-data" in not_multipart.json()["detail"]
        # And evidence never uploaded cannot be named in a transition
        fire(zhang, 1, "start", 1)
        unknown = fire(zhang, 1, "apply_acceptance", 2, comment="完成",
                       evidence=[{"sha256": "0" * 64, "name": "x.pdf"}])
        assert unknown.status_code == 404
        assert "upload the file first" in unknown.json()["detail"]
    store = os.environ["RECTIFY_EVIDENCE_DIR"]
    left = [name for _, _, names in os.walk(store) for name in names]
    assert left == []


def test_only_the_office_creates_issues(server: Server) -> None:
    with closing(server.sign_in("office")) as office:
        # When the office creates an issue
        created = office.post("/api/v1/issues", json={
            "title": "餐厨垃圾处置不规范", "units": [UNIT_A], "deadline": "2027-06-30",
            "category": None})
        # Then it is in 已交办 at version 1, and found where Location says
        assert created.status_code == 201, created.text
        assert created.json()["state"] == "assigned"
        assert created.headers["etag"] == '"1"'
        assert office.get(created.headers["location"]).json()["title"] == "餐厨垃圾处置不规范"
        # And bad facts are a problem naming them
        bad = office.post("/api/v1/issues", json={"title": "x", "deadline": "明年"})
        assert bad.status_code == 422 and "deadline" in bad.json()["detail"]
    with closing(server.sign_in("zhang")) as zhang:
        # When a unit tries the same, it is refused and nothing is created
        refused = zhang.post("/api/v1/issues", json={"title": "自己立项", "units": [UNIT_A]})
        assert refused.status_code == 403, refused.text
        assert "office" in refused.json()["detail"]
        titles = [i["title"] for i in zhang.get("/api/v1/issues").json()["items"]]
        assert "自己立项" not in titles


def test_a_unit_cannot_fire_on_another_units_issue(server: Server) -> None:
    with closing(server.sign_in("li.ke")) as li:
        answer = fire(li, 1, "start", 1)
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == "issue 1 does not exist"
