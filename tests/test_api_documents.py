"""The documents over HTTP against a real `rectify web`: the progress figures, the ledger
xlsx, the monthly briefing and the disclosure list, each for the roles that may read it,
with every download on the audit trail."""

from __future__ import annotations

import io
import json
from contextlib import closing

import openpyxl
import pytest

from tests.api_support import OFFICE, UNIT_A, Server

pytestmark = pytest.mark.processes


def test_the_office_downloads_the_ledger_and_figures_and_each_is_audited(
        server: Server) -> None:
    with closing(server.sign_in("office")) as office:
        # When the office asks for the figures, the ledger (all, then one unit's) and the
        # monthly briefing
        figures = office.get("/api/v1/documents/progress")
        ledger = office.get("/api/v1/documents/ledger.xlsx")
        one_unit = office.get("/api/v1/documents/ledger.xlsx", params={"unit": UNIT_A})
        briefing = office.get("/api/v1/documents/monthly", params={"month": "2026-11"})
        bad_month = office.get("/api/v1/documents/monthly", params={"month": "2026-13"})
    # Then the figures count both issues, the ledger lists them, filtered when asked
    assert figures.status_code == 200, figures.text
    assert figures.json()["total"] == 2
    assert ledger.status_code == 200
    assert ledger.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in ledger.headers["content-disposition"]

    def titles(answer: bytes) -> list[str]:
        sheet = openpyxl.load_workbook(io.BytesIO(answer)).worksheets[0]
        return [str(c.value) for row in sheet.iter_rows() for c in row if c.value]

    assert {"餐饮油烟扰民", "黑臭水体"} <= set(titles(ledger.content))
    assert "餐饮油烟扰民" in titles(one_unit.content)
    assert "黑臭水体" not in titles(one_unit.content)
    # And the briefing is one HTML page with its chart inside
    assert briefing.status_code == 200, briefing.text
    assert briefing.headers["content-type"].startswith("text/html")
    assert "data:image/png;base64," in briefing.text
    assert bad_month.status_code == 422 and "YYYY-MM" in bad_month.json()["detail"]
    # And each download is on the audit trail with its filters
    listed = server.cli("audit", "list", "--as", OFFICE, "--json", "--limit", "500")
    trail = [r for r in json.loads(listed) if r["action"] == "document_download"]
    assert [r["subject"] for r in trail] == ["progress", "ledger.xlsx", "ledger.xlsx",
                                             "monthly"]
    assert trail[2]["details"]["unit"] == UNIT_A
    assert {r["actor"] for r in trail} == {OFFICE}


def test_a_unit_may_not_export_the_ledger_and_the_public_gets_the_disclosure(
        server: Server) -> None:
    with closing(server.sign_in("zhang")) as zhang:
        # When a unit asks for the whole ledger or the figures, it is refused
        for path in ("/api/v1/documents/ledger.xlsx", "/api/v1/documents/progress"):
            answer = zhang.get(path)
            assert answer.status_code == 403, (path, answer.text)
            assert "office" in answer.json()["detail"]
    with closing(server.sign_in("public")) as public:
        # When the public asks for the disclosure list
        page = public.get("/api/v1/documents/disclosure.html")
        sheet = public.get("/api/v1/documents/disclosure.xlsx")
        other = public.get("/api/v1/documents/disclosure.pdf")
    # Then it gets the disclosed columns, and nothing of the ledger's internal ones
    assert page.status_code == 200, page.text
    assert "餐饮油烟扰民" in page.text and "整改状态" in page.text
    assert "责任领导" not in page.text
    assert sheet.status_code == 200
    assert other.status_code == 422 and "disclosure.html" in other.json()["detail"]
