"""The office's administration pages (系统管理) and the 督办单 in Debian's Chromium on a real
`rectify web`: the office reads the health checks, imports a ledger (a bad row named and
nothing imported; fixed, imported), registers a unit and a person, creates an API token
(shown once, masked after), retries a dead letter and verifies the history, every change on
the audit trail as its own; a unit gets 403 for the pages and for crafted posts. The 督办单
of an overdue issue (a training server 20 days past its deadline) carries its number, facts,
reason, next rung and date. The pages pass the axe-core rules for labels and contrast."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from sqlalchemy import func, select

from tests.api_support import OFFICE, PASSWORD, UNIT_A, Server
from tests.test_api_admin import TOKEN, dead_letter
from tests.test_pages import browser, shot  # noqa: F401  (fixture)
from tests.test_pages_a11y import violations
from tests.test_pages_journeys import crafted_post, sign_in
from workflow.db import Database
from workflow.documents.ledger_read import ISSUE_COLUMNS
from workflow.models import Issue, Notification
from workflow.spec.workdays import load_calendar

pytestmark = pytest.mark.processes

HEADER = [column.label for column in ISSUE_COLUMNS[:13]]
PLAN = "淮北市整改方案"
NEW_UNIT, PARENT = "相山区生态环境分局", UNIT_A
LEADER = "王副市长"


def ledger(path: Path, deadline: str) -> Path:
    """A two-row CSV ledger whose second row has ``deadline`` as its 整改时限."""
    rows = [[n, "大气污染防治", f"导入问题{n}", "达标", "整治", "王建国", "市生态环境局",
             UNIT_A, "", "市生态环境局", "2027年底" if n == 1 else deadline, f"进展{n}",
             "整改中"] for n in (1, 2)]
    path.write_text("\n".join(",".join(str(c) for c in row) for row in [HEADER, *rows]),
                    encoding="utf-8")
    return path


def issues(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Issue)) or 0


def test_the_office_administers_through_the_pages(browser: Browser, server: Server,  # noqa: F811
                                                  db: Database, tmp_path: Path) -> None:
    office, page = sign_in(browser, server, "office")
    # The hub shows each health check of `rectify doctor` in Chinese
    page.goto("/admin")
    assert page.locator("[data-check=database] .status").inner_text() == "正常"
    assert page.locator("[data-check=leader] th").inner_text() == "调度主节点"
    assert "no scheduler has ever run the sweep" in page.inner_text("[data-check=leader]")
    assert violations(page) == []
    shot(page, "admin")

    # A ledger with a bad row is refused, naming the row; nothing is imported
    page.goto("/admin/import")
    page.get_by_label("整改方案").fill(PLAN)
    page.locator("#file").set_input_files(str(ledger(tmp_path / "台账.csv", "2020年13月")))
    page.get_by_role("button", name="导入").click()
    problems = page.inner_text("#import-problems")
    assert "未导入任何内容" in page.inner_text("#import-result")
    assert "3" in problems and "整改时限" in problems and "2020年13月" in problems
    assert page.get_by_label("整改方案").input_value() == PLAN
    assert issues(db) == 2
    # Fixed, it is imported: both rows
    page.locator("#file").set_input_files(str(ledger(tmp_path / "台账.csv", "2027年6月底")))
    page.get_by_role("button", name="导入").click()
    assert "导入成功：共 2 行，新建 2 项" in page.inner_text("#import-result")
    assert issues(db) == 4
    assert violations(page) == []
    # An imported issue on schedule (green) is due no 督办单
    page.goto("/issues/3/notice")
    assert "无需签发督办单" in page.inner_text("#no-notice")

    # A unit under its parent and a leader are registered
    page.goto("/admin/directory")
    page.get_by_label("单位名称").fill(NEW_UNIT)
    page.get_by_label("上级单位（可选）").select_option(PARENT)
    page.get_by_role("button", name="登记单位").click()
    page.wait_for_url("**done=unit*")
    assert page.locator("#unit-tree li", has_text=PARENT).locator("li").inner_text() == NEW_UNIT
    page.get_by_label("姓名").fill("王副市长")
    page.get_by_label("包保领导", exact=True).check()
    page.get_by_label("职务（可选，如 副市长）").fill("副市长")
    page.get_by_label("职级（可选）").select_option(label="厅局级")
    page.get_by_role("button", name="登记人员").click()
    page.wait_for_url("**done=person*")
    assert "王副市长\t包保领导\t\t副市长\t厅局级" in page.inner_text("#people-table")
    # A short password is refused as the CLI refuses it
    page.get_by_label("登录名（3–64 位字母、数字或 . _ @ -）").fill("wang.fs")
    page.get_by_label("人员（须已登记）").select_option("王副市长")
    page.locator("#account-password").evaluate("e => e.removeAttribute('minlength')")
    page.locator("#account-password").fill("short")
    page.get_by_role("button", name="添加账号").click()
    assert "at least 10 are needed" in page.inner_text("#accounts [role=alert]")
    # A one-time-code set-up is shown once
    page.get_by_role("button", name="为 li.ke 设置动态口令").click()
    assert page.inner_text("#totp-uri").startswith("otpauth://")
    assert page.locator("[data-login='li.ke'] td").nth(3).inner_text() == "已开启"
    # An API token is shown once, then only masked
    page.get_by_label("令牌代表的账号").select_option("zhang")
    page.get_by_role("button", name="创建令牌").click()
    secret = page.inner_text("#token-secret")
    assert secret.startswith("rt_") and len(secret) > 20
    assert violations(page) == []
    page.goto("/admin/directory")
    assert secret not in page.content()
    assert page.locator("[data-token] code").first.inner_text() == "rt_••••••••"

    # A dead letter is listed masked and retried
    message_id = dead_letter(db)
    page.goto("/admin/dead-letters")
    row = page.locator(f"[data-message='{message_id}']")
    assert UNIT_A in row.inner_text() and TOKEN not in page.content()
    assert violations(page) == []
    row.get_by_role("button", name=f"重试通知 {message_id}").click()
    page.wait_for_url("**done=retried*")
    assert "没有死信" in page.inner_text("#dead-table")
    with db.session() as session:
        assert session.get(Notification, message_id).status == "pending"  # type: ignore[union-attr]
    page.goto("/admin/contacts")
    assert violations(page) == []

    # The history verifies as `rectify verify` does
    page.goto("/admin")
    page.get_by_role("button", name="校验").click()
    page.wait_for_selector("#verify-ok")
    assert page.inner_text("#verify-ok").startswith("历史记录完好：问题 4 个")
    # Every change is on the audit trail, by the office
    records = json.loads(server.cli("audit", "list", "--as", OFFICE, "--json", "--limit", "500"))
    mine = {r["action"]: r["actor"] for r in records}
    for action in ("unit_add", "person_add", "token_create", "outbox_retry"):
        assert mine.get(action) == OFFICE, (action, sorted(mine))
    assert page.problems == []  # type: ignore[attr-defined]
    # A form posted without the session's CSRF token is refused and changes nothing
    cookies = {c["name"]: c["value"] for c in office.cookies()}
    answer = httpx.post(server.url + "/admin/units", data={"name": "伪造单位"}, cookies=cookies)
    assert answer.status_code == 403 and "安全令牌" in answer.text
    office.close()

    # A unit gets 403 for the pages and for posts made by hand, and nothing changes
    unit, page = sign_in(browser, server, "zhang")
    assert "系统管理" not in page.inner_text("header")
    for path in ("/admin", "/admin/directory", "/admin/dead-letters", "/issues/1/notice"):
        shown = page.goto(path)
        assert shown is not None and shown.status == 403, path
    assert crafted_post(server, page, "/admin/units", {"name": "伪造单位"}) == 403
    assert crafted_post(server, page, f"/admin/dead-letters/{message_id}/retry", {}) == 403
    assert crafted_post(server, page, "/admin/tokens", {"login": "zhang"}) == 403
    assert "伪造单位" not in server.cli("units", "list")
    page.problems.clear()  # type: ignore[attr-defined]  (the 403s)
    unit.close()


@pytest.mark.training
def test_the_office_prints_the_notice_of_an_overdue_issue(
        browser: Browser, start_server: Callable[..., Server]) -> None:  # noqa: F811
    now = datetime(2028, 1, 20, 10, 0)  # 20 days past issue 1's deadline, 2027-12-31
    first = start_server()
    first.cli("issue", "fire", "1", "start", "--as", "张科长")
    first.cli("people", "add", LEADER, "--role", "leader", "--as", OFFICE)
    first.cli("accounts", "add", "wang.fs", "--person", LEADER, "--password-stdin", "--as",
              OFFICE, stdin=PASSWORD + "\n")
    first.cli("issue", "create", "--title", "露天焚烧秸秆", "--unit", UNIT_A, "--leader", LEADER,
              "--deadline", "2027-12-31", "--as", OFFICE)
    first.cli("sweep", "--now", now.isoformat(), "--as", OFFICE)
    later = start_server(args=("--now", now.isoformat(), "--as", OFFICE))
    office, page = sign_in(browser, later, "office")
    page.goto("/issues/1")  # the issue page links its 督办单
    page.get_by_role("link", name="督办单").click()
    page.wait_for_url("**/issues/1/notice")
    late = -load_calendar().working_days_between(date(2028, 1, 20), date(2027, 12, 31))
    assert page.inner_text("#notice-title") == "红色督办单"
    assert page.inner_text("#number") == "2027-督-0001-红2"
    facts = page.inner_text("#notice-facts")
    for fact in ("反馈问题\t餐饮油烟扰民", f"责任单位\t{UNIT_A}", "整改时限\t2027-12-31",
                 "包保领导\t—"):
        assert fact in facts, facts
    assert page.inner_text("#reason") == (f"已逾期{late}个工作日（整改时限2027-12-31），"
                                          "已重点督办；逾期30天后将向整改办发出问责建议")
    assert page.inner_text("#next-rung") == "问责建议（逾期30天后，发送整改办）"
    assert page.inner_text("#issued-on") == "2028年01月20日"
    assert page.inner_text("#office") == "整改办"
    assert page.get_by_role("button", name="打印").is_visible()
    assert violations(page) == []
    shot(page, "notice")
    # Printed, the navigation and the button are gone
    page.emulate_media(media="print")
    assert not page.locator("header").is_visible()
    assert not page.get_by_role("button", name="打印").is_visible()
    page.emulate_media(media="screen")
    assert page.problems == []  # type: ignore[attr-defined]
    office.close()
    # The leader opens the notices of their own issues, not of others'
    leader, page = sign_in(browser, later, "wang.fs")
    shown = page.goto("/issues/3/notice")
    assert shown is not None and shown.status == 200
    assert page.inner_text("#number").startswith("2026-督-0003-红")  # its step's time limit
    shown = page.goto("/issues/1/notice")
    assert shown is not None and shown.status == 404
    leader.close()


def test_the_notice_number_names_year_issue_and_rung() -> None:
    from workflow.api.page_notice import notice_number

    assert notice_number(12, "blue", 2027, -1) == "2027-督-0012-蓝"
    assert notice_number(12, "yellow", 2027, -1) == "2027-督-0012-黄"
    # a red issue before the sweep recorded its rung is at the first one
    assert notice_number(12, "red", 2027, -1) == notice_number(12, "red", 2027, 0) == \
        "2027-督-0012-红1"
    assert notice_number(12345, "red", 2028, 2) == "2028-督-12345-红3"
