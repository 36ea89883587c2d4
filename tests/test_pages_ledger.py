"""The ledger page (台账) in a real browser on a real `rectify web`, with 60 issues made by the
command line: the office filters by two fields, sorts, pages forward by keyset (no row
twice), reopens the address in a new tab and sees the same view, saves the view for a
second office person (who may delete it), exports exactly the view as xlsx, and chases two
issues (一键催办) through the outbox, once a day, each chase in the issue's timeline. A unit
sees its own issues without the office's forms, and its crafted posts are refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

from tests.api_support import OFFICE, PASSWORD, UNIT_A, UNIT_B, Server
from tests.test_pages import browser, loopback_only, shot  # noqa: F401  (fixture)
from tests.test_pages_a11y import violations
from tests.test_pages_journeys import sign_in
from workflow.api.page_ledger import BAD_CURSOR, SORT_LABELS
from workflow.db import Database
from workflow.issues import queries
from workflow.models import Notification

pytestmark = pytest.mark.processes

SECOND_OFFICE = "王主任"
FORMULA = '=HYPERLINK("http://127.0.0.1/","点我")煤场扬尘'
MORE = 55  # of unit A, beside the fixture's one per unit: 56 of unit A in all


@pytest.fixture
def ledger_server(server: Server) -> Server:
    """The server with 55 more issues of unit A (deadlines falling as ids rise, one whose
    title looks like a spreadsheet formula), three of unit B, and a second office person."""
    first = date(2028, 12, 31)
    for number in range(MORE):
        title = FORMULA if number == 7 else f"整改问题{number:02d}"
        server.cli("issue", "create", "--title", title, "--unit", UNIT_A, "--deadline",
                   (first - timedelta(days=number)).isoformat(), "--as", OFFICE)
    for number in range(3):
        server.cli("issue", "create", "--title", f"杜集问题{number}", "--unit", UNIT_B,
                   "--long-term", "--as", OFFICE)
    server.cli("people", "add", SECOND_OFFICE, "--role", "office", "--as", OFFICE)
    server.cli("accounts", "add", "wang", "--person", SECOND_OFFICE, "--password-stdin",
               "--as", OFFICE, stdin=PASSWORD + "\n")
    return server


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:  # noqa: F811
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def signed_in(browser: Browser, server: Server, login: str,  # noqa: F811
              opened: list[BrowserContext]) -> Page:
    context, page = sign_in(browser, server, login)
    opened.append(context)
    return page


def row_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator("#rows tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def cookies_of(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def post(server: Server, page: Page, path: str, data: dict[str, object]) -> httpx.Response:
    """A POST made outside the page's forms, with the page's cookies and CSRF token."""
    cookies = cookies_of(page)
    return httpx.post(server.url + path, data={"csrf_token": cookies["rectify_csrf"], **data},
                      cookies=cookies, follow_redirects=False,
                      headers={"Accept": "text/html"})


def test_the_office_works_the_ledger(browser: Browser, ledger_server: Server,  # noqa: F811
                                     db: Database, contexts: list[BrowserContext],
                                     tmp_path: Path) -> None:
    server = ledger_server
    page = signed_in(browser, server, "office", contexts)
    page.goto("/ledger")
    assert "共 60 项" in page.inner_text("#count")
    # Every filter has a label and its choices sorted (states in process order)
    for name in ("state", "step", "light", "unit", "leader", "category", "plan", "overdue",
                 "long_term", "key_supervision", "q", "sort"):
        assert page.locator(f"label[for={name}]").count() == 1, name
    units = page.locator("#unit option").all_inner_texts()[1:]
    assert units == sorted(units) and UNIT_A in units
    assert page.locator("#state option").all_inner_texts()[1] == "已交办"
    assert page.locator("#sort option").all_inner_texts() == list(SORT_LABELS.values())
    assert set(SORT_LABELS) == set(queries.SORTS)
    assert violations(page) == []

    # When it filters by unit and 长期坚持 否, the rows change in place and the address
    # keeps both
    page.select_option("#unit", UNIT_A)
    page.wait_for_url("**unit=*")
    page.select_option("#long_term", "0")
    page.wait_for_url("**long_term=0*")
    page.wait_for_function("document.querySelector('#count').textContent.includes('共 56 项')")
    # And sorted by 整改时限, earliest first, the first page is the latest issues
    by_id = row_ids(page)
    page.select_option("#sort", "deadline_at,id")
    page.wait_for_url("**sort=deadline_at*")
    page.wait_for_function("id => document.querySelectorAll('#rows tbody tr')[1].dataset.id "
                           "!== String(id)", arg=by_id[1])
    first = row_ids(page)  # the fixture's issue 1 (due 2027) first, then the newest
    assert len(first) == 50 and first[0] == 1 and first[1:] == sorted(first[1:], reverse=True)
    assert "第 1–50 项" in page.inner_text("#count")
    shot(page, "ledger")

    # When it pages forward, the next rows follow, none of them shown before
    page.get_by_role("link", name="下一页").click()
    page.wait_for_url("**cursor=*")
    page.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 6")
    second = row_ids(page)
    assert not set(first) & set(second) and len(first) + len(second) == 56
    assert "第 51–56 项" in page.inner_text("#count") and "共 56 项" in page.inner_text("#count")
    assert page.get_by_role("link", name="下一页").count() == 0
    shot(page, "ledger-page-2")

    # And the address opened in a new tab shows the same view
    tab = page.context.new_page()
    loopback_only(tab)
    tab.goto(page.url)
    assert row_ids(tab) == second
    assert tab.locator("#unit").input_value() == UNIT_A
    assert tab.locator("#sort").input_value() == "deadline_at,id"
    assert tab.locator("#long_term").input_value() == "0"
    tab.get_by_role("link", name="第一页").click()
    tab.wait_for_url(lambda url: "cursor=" not in url)
    tab.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 50")
    assert row_ids(tab) == first
    assert tab.problems == []  # type: ignore[attr-defined]
    tab.close()
    # A cursor that is not the page's is told in Chinese, with the way back
    stale = httpx.get(page.url.replace("cursor=", "cursor=x"), cookies=cookies_of(page),
                      headers={"Accept": "text/html"})
    assert stale.status_code == 400 and BAD_CURSOR in stale.text and "回到第一页" in stale.text
    wrong = httpx.get(server.url + "/ledger?state=nope&sort=bad", cookies=cookies_of(page),
                      headers={"Accept": "text/html"})
    assert wrong.status_code == 400
    assert "整改状态“nope”不存在；可选：已交办" in wrong.text
    assert "排序方式“bad”不可用" in wrong.text

    # When it saves the view, a second office person sees it and opens it
    page.get_by_label("保存当前筛选为").fill("相山区按整改时限")
    page.get_by_role("button", name="保存筛选").click()
    page.wait_for_url("**#saved-filters")
    assert "相山区按整改时限" in page.inner_text("#saved-filters")
    refused = post(server, page, "/ledger/filters", {"name": "相山区按整改时限", "query": ""})
    assert refused.status_code == 400 and "已有名为“相山区按整改时限”的筛选" in refused.text
    empty = post(server, page, "/ledger/filters", {"name": " ", "query": ""})
    assert empty.status_code == 400 and "请填写筛选名称" in empty.text
    other = signed_in(browser, server, "wang", contexts)
    other.goto("/ledger")
    other.get_by_role("link", name="相山区按整改时限").click()
    other.wait_for_url("**sort=deadline_at*")
    assert "unit=" in other.url and "long_term=0" in other.url and "cursor" not in other.url
    assert row_ids(other) == first
    # And any office person may delete it (a unit may not: below)
    saved_id = other.locator("#saved-filters form").get_attribute("action")
    other.get_by_role("button", name="删除筛选 相山区按整改时限").click()
    other.wait_for_url("**#saved-filters")
    assert "尚无保存的筛选" in other.inner_text("#saved-filters")
    assert other.problems == []  # type: ignore[attr-defined]

    # When it exports, the file holds exactly the view, a formula kept as text
    with page.expect_download() as waiting:
        page.get_by_role("link", name="导出 Excel").click()
    saved = tmp_path / "ledger.xlsx"
    waiting.value.save_as(saved)
    sheet = load_workbook(saved)["整改情况清单"]
    titles = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(titles) == 56 and FORMULA in titles
    cell = next(c for (c,) in sheet.iter_rows(min_row=2, min_col=3, max_col=3)
                if c.value == FORMULA)
    assert cell.data_type == "s"

    # When it ticks two issues and chases them, the page says so, and names the unit
    # without a contact
    assert row_ids(page) == first  # the saved view opened on its first page
    chased = first[1:3]
    for issue_id in chased:
        page.locator(f"#pick-{issue_id}").check()
    page.get_by_role("button", name="一键催办").click()
    page.wait_for_function("document.querySelector('#chase-result').textContent.includes('已催办')")
    result = page.inner_text("#chase-result")
    assert "已催办 2 项" in result and UNIT_A in result
    # And a second chase the same day sends nothing again
    page.get_by_role("button", name="一键催办").click()
    page.wait_for_function(
        "document.querySelector('#chase-result').textContent.includes('未重复发送')")
    assert "已催办 0 项；2 项今日已催办，未重复发送" in page.inner_text("#chase-result")
    shot(page, "ledger-chased")
    with db.session() as session:
        rows = session.scalars(select(Notification).where(Notification.level == "chase")).all()
    assert sorted(n.issue_id for n in rows) == sorted(chased)
    assert len({n.dedupe_key for n in rows}) == 2 and {n.recipient for n in rows} == {UNIT_A}
    # And each issue's timeline shows the chase, by the office person
    page.goto(f"/issues/{chased[0]}")
    last = page.locator("#timeline tbody tr").last.inner_text()
    assert "催办" in last and OFFICE in last
    assert page.problems == []  # type: ignore[attr-defined]

    # A unit sees its own issues without checkboxes or the office's forms; its crafted
    # posts are refused
    unit = signed_in(browser, server, "li.ke", contexts)
    unit.goto("/ledger")
    assert "共 4 项" in unit.inner_text("#count")
    assert unit.locator("input[name=issue]").count() == 0
    assert unit.get_by_role("button", name="一键催办").count() == 0
    assert unit.locator("#save-filter, #saved-filters").count() == 0
    assert violations(unit) == []
    assert post(server, unit, "/ledger/chase", {"issue": str(chased[0])}).status_code == 403
    assert post(server, unit, "/ledger/filters", {"name": "x", "query": ""}).status_code == 403
    assert post(server, unit, str(saved_id), {}).status_code == 403
    assert unit.problems == []  # type: ignore[attr-defined]
    with db.session() as session:
        assert len(session.scalars(select(Notification).where(
            Notification.level == "chase")).all()) == 2
