"""Supervision over HTTP against a real `rectify web`: monthly reports by the issue's unit,
milestones reached, a leader's instruction, and the proposals and records of accountability
for the office — each refused to the roles and scopes the policy refuses."""

from __future__ import annotations

from contextlib import closing

import httpx
import pytest

from tests.api_support import OFFICE, PASSWORD, PROBLEM, UNIT_A, Server

pytestmark = pytest.mark.processes


def triggers(client: httpx.Client, issue_id: int) -> list[str]:
    answer = client.get(f"/api/v1/issues/{issue_id}/events")
    assert answer.status_code == 200, answer.text
    return [event["trigger"] for event in answer.json()["items"]]


def test_the_unit_reports_a_month_and_others_may_not(server: Server) -> None:
    report = {"month": "2026-11", "text": "完成油烟净化设备安装", "percent": 60}
    with closing(server.sign_in("zhang")) as zhang:
        # When the unit of issue 1 reports November
        answer = zhang.post("/api/v1/issues/1/reports", json=report)
        # Then it is recorded, in the history too, and the answer carries the new version
        assert answer.status_code == 201, answer.text
        assert answer.headers["etag"] == '"2"'
        listed = zhang.get("/api/v1/issues/1/reports").json()["items"]
        assert [(r["month"], r["percent"], r["reported_by"]) for r in listed] == \
            [("2026-11", 60, "张科长")]
        assert triggers(zhang, 1)[-1] == "progress"
        # And the same month again is refused, naming why
        again = zhang.post("/api/v1/issues/1/reports", json=report)
        assert again.status_code == 422 and again.headers["content-type"] == PROBLEM
        bad = zhang.post("/api/v1/issues/1/reports", json={**report, "percent": 120})
        assert bad.status_code == 422 and "percent" in bad.json()["detail"]
    # And another unit gets 404, the public 403
    with closing(server.sign_in("li.ke")) as li:
        assert li.post("/api/v1/issues/1/reports", json=report).status_code == 404
        assert li.get("/api/v1/issues/1/reports").status_code == 404
    with closing(server.sign_in("public")) as public:
        assert public.post("/api/v1/issues/1/reports",
                           json={**report, "month": "2026-10"}).status_code == 403
        assert public.get("/api/v1/issues/1/reports").status_code == 403


def test_a_leader_instructs_on_an_issue_they_supervise(server: Server) -> None:
    server.cli("people", "add", "王副市长", "--role", "leader", "--as", OFFICE)
    server.cli("accounts", "add", "wang.vm", "--person", "王副市长", "--password-stdin",
               "--as", OFFICE, stdin=PASSWORD + "\n")
    server.cli("issue", "create", "--title", "露天焚烧秸秆", "--unit", UNIT_A, "--leader",
               "王副市长", "--deadline", "2027-12-31", "--as", OFFICE)
    with closing(server.sign_in("wang.vm")) as leader:
        # When the leader instructs on the issue they supervise, and on one they do not
        given = leader.post("/api/v1/issues/3/instructions",
                            json={"text": "请相山区本周内完成整改并报告"})
        other = leader.post("/api/v1/issues/1/instructions", json={"text": "请抓紧"})
        # Then the first is in the history, the second is as if the issue did not exist
        assert given.status_code == 201, given.text
        assert triggers(leader, 3)[-1] == "instruct"
        assert other.status_code == 404
        assert leader.post("/api/v1/issues/3/instructions", json={"text": ""}) \
            .status_code == 422
    with closing(server.sign_in("zhang")) as zhang:
        # And a unit may not instruct
        refused = zhang.post("/api/v1/issues/3/instructions", json={"text": "自己批示"})
        assert refused.status_code == 403, refused.text


def test_a_milestone_is_reached_once(server: Server) -> None:
    server.cli("issue", "milestones", "1", "--stage", "方案编制=10 working days", "--as",
               OFFICE)
    with closing(server.sign_in("zhang")) as zhang:
        reached = zhang.post("/api/v1/issues/1/milestones/方案编制/reached",
                             json={"text": "方案已印发"})
        assert reached.status_code == 200, reached.text
        assert reached.json()["milestones"][0]["reached_at"] is not None
        again = zhang.post("/api/v1/issues/1/milestones/方案编制/reached")
        assert again.status_code == 422
        assert "no open milestone" in again.json()["detail"]


def test_accountability_is_for_the_office_and_the_discipline_body(server: Server) -> None:
    with closing(server.sign_in("office")) as office:
        proposals = office.get("/api/v1/accountability/proposals")
        assert proposals.status_code == 200 and proposals.json()["items"] == []
        assert office.get("/api/v1/accountability/proposals",
                          params={"status": "all"}).status_code == 200
        bad = office.get("/api/v1/accountability/proposals", params={"status": "closed"})
        assert bad.status_code == 422 and "open, adopted, dismissed" in bad.json()["detail"]
        records = office.get("/api/v1/accountability/records")
        assert records.status_code == 200 and records.json()["items"] == []
        assert records.json()["summary_zh"]
        unknown = office.post("/api/v1/accountability/proposals/99/dismiss",
                              json={"text": "已整改到位"})
        assert unknown.status_code == 404
    with closing(server.sign_in("zhang")) as zhang:
        for path in ("/api/v1/accountability/proposals", "/api/v1/accountability/records"):
            assert zhang.get(path).status_code == 403
        assert zhang.post("/api/v1/accountability/proposals/1/dismiss",
                          json={"text": "x"}).status_code == 403
