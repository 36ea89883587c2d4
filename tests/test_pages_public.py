"""The public portal in Debian's Chromium on a real `rectify web`, without sign-in: a person
with no account reads the disclosure list and the latest checkpoint's digest, an issue's
public page (nothing internal on it), the 公示 list, sends an objection (a refused one told
on the form), gets a ticket number and looks it up, on pages that pass the axe-core label
and contrast rules and work 375 px wide. A post without the form's token is refused, the
limit per address answers 429 with when to retry, and an issue not disclosed has the same
404 page as one that does not exist."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser

from tests.api_support import OFFICE, UNIT_A, UNIT_B, Server
from tests.test_api_public import ACCEPTOR, history, objection_rows, to_notice
from tests.test_pages import browser, loopback_only, shot  # noqa: F401  (fixture)
from tests.test_pages_a11y import violations
from workflow.db import Database

pytestmark = pytest.mark.processes

TICKET = re.compile(r"\d{2}[0-9A-HJKMNP-TV-Z]{10}")
HASH = re.compile(r"\b[0-9a-f]{64}\b")
OBJECTION = "油烟净化器夜间未开启，油烟仍然很大"
CONTACT = "13912345678"


def test_a_person_without_an_account_reads_the_disclosure_objects_and_follows_the_ticket(
        browser: Browser, start_server: Callable[..., Server],  # noqa: F811
        tmp_path: Path) -> None:
    server = start_server(RECTIFY_OBJECTION_LIMIT="1/1h")
    to_notice(server, 1, tmp_path)
    server.cli("issue", "create", "--title", "河道垃圾清理", "--unit", UNIT_B, "--category",
               "水污染", "--deadline", "2027-12-31", "--as", OFFICE)
    signed = json.loads(server.cli("checkpoint", "--json"))
    context = browser.new_context(base_url=server.url, locale="zh-CN",
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    loopback_only(page)

    # The disclosure list: every issue, the latest checkpoint's digest, time and events
    page.goto("/public")
    assert page.locator("#rows tbody tr").count() == 3
    assert page.get_by_role("link", name="工作人员登录").get_attribute("href") == "/login"
    assert page.inner_text("#checkpoint-digest") == signed["root"][:16]
    assert page.inner_text("#checkpoint-events") == str(signed["events"])
    assert "任何人都可以保存此摘要" in page.inner_text("#checkpoint")
    assert violations(page) == []
    shot(page, "public-list")
    # The filter changes the rows in place and lives in the address; drop-downs sorted
    assert page.locator("#filters").get_attribute("hx-indicator") == "#loading"
    assert page.locator("#loading.htmx-indicator").count() == 1
    categories = page.locator("#category option").all_inner_texts()[1:]
    assert categories == sorted(categories) and "水污染" in categories
    page.select_option("#category", "水污染")
    page.wait_for_url("**category=*")
    page.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 1")
    assert "河道垃圾清理" in page.inner_text("#rows")
    page.goto("/public?state=acceptance")
    assert page.locator("#state").input_value() == "acceptance"
    assert page.locator("#rows tbody tr").count() == 1
    # Keyset paging: one a page, the next page's link carries the cursor
    page.goto("/public?limit=2")
    assert page.locator("#rows tbody tr").count() == 2
    page.locator("#next-page").click()
    page.wait_for_url("**cursor=*")
    assert page.locator("#rows tbody tr").count() == 1
    assert "河道垃圾清理" in page.inner_text("#rows")

    # One issue's public page: its disclosed fields, nothing internal
    page.goto("/public")
    page.get_by_role("link", name="餐饮油烟扰民").click()
    page.wait_for_url("**/public/issues/1")
    shown = page.content()
    assert page.inner_text("#title") == "餐饮油烟扰民" and UNIT_A in shown
    assert "正在公示" in page.inner_text("main")
    for internal in (ACCEPTOR, "张科长", OFFICE, "已整改到位", "现场核查通过", "整改材料.txt",
                     "evidence", "history"):
        assert internal not in shown, internal
    assert not HASH.search(shown)
    assert violations(page) == []

    # The 公示 list on a phone, with the end of the notice and the objection form
    page.set_viewport_size({"width": 375, "height": 800})
    page.get_by_role("navigation", name="公众导航").get_by_role("link", name="公示").click()
    page.wait_for_url("**/public/notices")
    notice = page.locator("#notice-1")
    assert "公示截止" in notice.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert ACCEPTOR not in page.content() and not HASH.search(page.content())
    assert violations(page) == []
    shot(page, "public-notice")
    # Too short an objection is told on the form, saying what is allowed, the text kept
    notice.get_by_label("异议内容（必填，5–2000 字）").fill("不行")
    notice.get_by_role("button", name="提交异议").click()
    page.wait_for_load_state()
    notice = page.locator("#notice-1")
    assert "异议内容为 2 字；须为 5–2000 字" in notice.locator("[role=alert]").inner_text()
    assert notice.get_by_label("异议内容（必填，5–2000 字）").input_value() == "不行"
    assert violations(page) == []
    notice.get_by_label("异议内容（必填，5–2000 字）").fill(OBJECTION)
    notice.get_by_label("联系方式", exact=False).fill(CONTACT)
    notice.get_by_role("button", name="提交异议").click()
    page.wait_for_load_state()
    # A ticket number back, and a link to its status
    ticket = page.inner_text("#ticket")
    assert TICKET.fullmatch(ticket), ticket
    assert history(server, 1)[-1]["comment"] == OBJECTION
    page.get_by_role("link", name="查询此受理编号的办理情况").click()
    page.wait_for_url(f"**/public/tickets/{ticket}")
    assert page.inner_text("#status") == "已受理，待答复"
    assert "待现场核查" in page.inner_text("#outcome")
    assert CONTACT not in page.content() and "127.0.0.1" not in page.content()
    assert violations(page) == []
    shot(page, "public-ticket")

    # The lookup form finds it as typed by hand (lower case, a dash)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="查询受理编号").click()
    page.get_by_label("受理编号", exact=False).fill(f"{ticket[:6]}-{ticket[6:]}".lower())
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(f"**/public/tickets/{ticket}")
    assert "餐饮油烟扰民" in page.inner_text("#ticket-status")
    assert violations(page) == []
    assert page.problems == []  # type: ignore[attr-defined]

    # An unknown ticket and an unknown issue: 404 pages that pass the rules too
    for path in ("/public/tickets/26ZZZZZZZZZZ", "/public/issues/999"):
        assert page.goto(path).status == 404
        assert violations(page) == [], path
    context.close()


def test_forged_posts_the_limit_and_undisclosed_issues_are_refused(
        start_server: Callable[..., Server], tmp_path: Path, db: Database) -> None:
    server = start_server(RECTIFY_OBJECTION_LIMIT="1/1h")
    to_notice(server, 1, tmp_path)
    created = json.loads(server.cli(
        "issue", "create", "--title", "扬尘污染", "--unit", UNIT_A, "--cooperating-unit",
        UNIT_B, "--deadline", "2027-12-31", "--as", OFFICE, "--json"))
    split = server.cli("issue", "split", str(created["id"]), "--unit", UNIT_B, "--as", OFFICE)
    sub_id = int(split.rsplit("sub-tasks", 1)[1].strip())
    html = {"Accept": "text/html"}
    client = httpx.Client(base_url=server.url, headers=html, timeout=30)
    before = history(server, 1)

    # A post made on another site has neither the cookie nor the field: refused, nothing done
    forged = httpx.post(server.url + "/public/issues/1/objections", headers=html,
                        data={"text": OBJECTION})
    assert forged.status_code == 403 and "表单令牌" in forged.text
    # Nor is a guessed field enough beside the cookie of the form's page
    form = client.get("/public/notices")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token and client.cookies.get("rectify_public_token") == token.group(1)
    cookie = form.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie and "path=/public" in cookie
    assert client.post("/public/issues/1/objections",
                       data={"text": OBJECTION, "form_token": "x" * 43}).status_code == 403
    assert history(server, 1) == before and objection_rows(db) == 0

    # With the token the objection is received; the next from the address is 429, saying when
    sent = client.post("/public/issues/1/objections",
                       data={"text": OBJECTION, "form_token": token.group(1)})
    assert sent.status_code == 200 and TICKET.search(sent.text)
    limited = client.post("/public/issues/1/objections",
                          data={"text": OBJECTION, "form_token": token.group(1)})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 3000
    assert "每 1 小时最多提交 1 条异议" in limited.text and "分钟后）再试" in limited.text
    assert objection_rows(db) == 1

    # An issue that does not exist and a sub-task the disclosure leaves out: the same page
    missing = client.get("/public/issues/999")
    hidden = client.get(f"/public/issues/{sub_id}")
    assert missing.status_code == hidden.status_code == 404

    def page_of(answer: httpx.Response, asked: str) -> str:
        """The page without the address asked for (the language switch links back to it)."""
        return answer.text.replace(quote(f"/public/issues/{asked}", safe="/"), "ASKED")

    assert page_of(missing, "999") == page_of(hidden, str(sub_id))
    assert "不在信息公开的范围内" in missing.text
    for odd in ("abc", "9" * 5000, "０１"):
        assert page_of(client.get(f"/public/issues/{odd}"), odd) == page_of(missing, "999")
    # And an address the list did not give is told, the first page shown
    bad = client.get("/public", params={"cursor": "bogus"})
    assert bad.status_code == 200 and "翻页链接已失效" in bad.text
    client.close()
