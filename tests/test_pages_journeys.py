"""One issue's whole way through the pages, each party in its own browser context on a
real `rectify web` (a training database, so the server can run at a rehearsal time and the
7-day 公示 can pass between two servers): the office creates and assigns it; the unit
starts it, reports a month (its draft kept across a reload) and applies with evidence; the
acceptance unit checks on site on a 375 px phone; 8 days later the office signs off after
公示 and clears it with the 五个决不放过 checklist; the leader instructs. A role that may not
act sees no such form, and a crafted request from it is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.api_support import OFFICE, PASSWORD, UNIT_A, UNIT_B, Server
from tests.processes import Rectify, free_port, wait_for
from tests.test_pages import browser, loopback_only, shot  # noqa: F401  (fixture)
from workflow.clock import SHANGHAI
from workflow.spec.workdays import load_calendar

pytestmark = [pytest.mark.processes, pytest.mark.training]

ACCEPTOR, LEADER = "王工", "王副市长"
START = datetime(2030, 3, 4, 9, 0)  # a Monday, Asia/Shanghai
TITLE = "煤场露天堆放扬尘污染"


def sign_in(chromium: Browser, server: Server, login: str, *,
            width: int = 1280) -> tuple[BrowserContext, Page]:
    context = chromium.new_context(base_url=server.url, locale="zh-CN",
                                  viewport={"width": width, "height": 900})
    page = context.new_page()
    loopback_only(page)
    page.goto("/login")
    page.get_by_label("账号").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.inner_text("main")
    return context, page


def crafted_post(server: Server, page: Page, path: str, data: dict[str, str]) -> int:
    """The status of a POST made outside the page's forms, with the page's own cookies
    (and its CSRF token): what a person could send by hand."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    answer = httpx.post(server.url + path, data={"csrf_token": cookies["rectify_csrf"],
                                                 **data},
                        cookies=cookies, follow_redirects=False)
    return answer.status_code


def timeline(page: Page) -> str:
    return page.inner_text("#timeline")


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    path = tmp_path / "整改完成照片说明.txt"
    path.write_text("煤场已全部苫盖，喷淋设施运行正常。" * 200, encoding="utf-8")
    return path


def test_an_issue_goes_from_assignment_to_clearance_through_the_pages(
        browser: Browser, start_server: Callable[..., Server],  # noqa: F811
        evidence: Path) -> None:
    first = start_server(args=("--now", START.isoformat(), "--as", OFFICE))
    first.cli("people", "add", ACCEPTOR, "--role", "acceptor", "--unit", UNIT_B,
              "--as", OFFICE)
    first.cli("people", "add", LEADER, "--role", "leader", "--as", OFFICE)
    for login, person in (("wang.gong", ACCEPTOR), ("wang.fs", LEADER)):
        first.cli("accounts", "add", login, "--person", person, "--password-stdin",
                  "--as", OFFICE, stdin=PASSWORD + "\n")

    # The office creates and assigns the issue; a missing title is told on the page
    office, page = sign_in(browser, first, "office")
    page.goto("/issues/new")
    assert page.locator("#unit option").all_inner_texts()[1:] == sorted([UNIT_A, UNIT_B])
    page.get_by_label("责任单位").select_option(UNIT_A)
    page.get_by_label("责任领导（包保领导）").select_option(LEADER)
    page.get_by_label("验收单位").select_option(UNIT_B)
    page.get_by_label("整改时限").fill("2030-06-30")
    page.get_by_label("问题类别").fill("大气污染")
    page.get_by_label("反馈问题（必填）").fill(TITLE)
    page.get_by_role("button", name="交办").click()
    page.wait_for_url("**/issues/*?done=create*")
    issue_path = page.url.split("?")[0].removeprefix(first.url)
    assert page.inner_text("[role=status]") == "已办理：交办"
    assert page.inner_text("#state") == "已交办"
    assert "交办" in timeline(page) and OFFICE in timeline(page)
    shot(page, "journey-office-created")

    # The unit starts it, sees no 批示 form, and a crafted 批示 of its own is refused
    unit, page = sign_in(browser, first, "zhang")
    page.goto("/inbox")
    assert TITLE in page.inner_text("#inbox")
    page.get_by_role("link", name=TITLE, exact=False).click()
    page.locator("#act-start").get_by_role("button", name="开始整改").click()
    page.wait_for_url("**done=start*")
    assert page.inner_text("#state") == "整改中"
    assert page.locator("#instruct-form").count() == 0
    assert crafted_post(first, page, issue_path + "/instruct", {"text": "我来批示"}) == 403
    # Its monthly report's draft survives a reload, and the report shows once sent
    page.get_by_label("完成进度（%）").fill("60")
    page.get_by_label("整改进展").fill("已完成苫盖80%，喷淋设施安装中")
    page.reload()
    assert page.get_by_label("整改进展").input_value() == "已完成苫盖80%，喷淋设施安装中"
    assert "已恢复未报送的草稿" in page.inner_text("#report-form")
    page.get_by_role("button", name="报送").click()
    page.wait_for_url("**done=report*")
    assert "已完成苫盖80%" in page.inner_text("#reports") and "60%" in page.inner_text(
        "#reports")
    # Applying without evidence is refused on the page, saying what is missing, the
    # comment kept
    apply = page.locator("#act-apply_acceptance")
    apply.get_by_label("说明/理由（必填）").fill("已全部整改到位")
    apply.get_by_role("button", name="申请验收").click()
    page.wait_for_load_state()
    refused = page.inner_text("#act-apply_acceptance [role=alert]")
    assert "须上传至少1份佐证材料，已上传0份" in refused
    assert page.locator("#act-apply_acceptance textarea").input_value() == "已全部整改到位"
    assert page.inner_text("#state") == "整改中"
    shot(page, "journey-unit-refused")
    # With the evidence uploaded (its progress shown) the application goes through
    page.locator("#act-apply_acceptance input[type=file]").set_input_files(str(evidence))
    page.wait_for_function("document.querySelector('#act-apply_acceptance .upload-status')"
                           ".textContent.startsWith('已上传')")
    assert page.locator("#act-apply_acceptance progress").get_attribute("value") == "100"
    page.locator("#act-apply_acceptance").get_by_role("button", name="申请验收").click()
    page.wait_for_url("**done=apply_acceptance*")
    assert page.inner_text("#state") == "待验收（待现场核查）"
    assert page.get_by_role("link", name=evidence.name).count() == 1
    shot(page, "journey-unit-applied")

    # The acceptance unit, on a phone, finds the site check due and records it
    acceptor, page = sign_in(browser, first, "wang.gong", width=375)
    page.goto("/inbox")
    assert TITLE in page.inner_text("#inbox")
    page.get_by_role("link", name=TITLE, exact=False).click()
    check = page.locator("#act-site_check")
    check.get_by_label("说明/理由（必填）").fill("现场核查：苫盖到位，喷淋正常")
    check.get_by_role("button", name="现场核查通过").click()
    page.wait_for_url("**done=site_check*")
    assert page.inner_text("#state") == "待验收（公示中）"
    assert "还剩 7 天" in page.inner_text("#countdown")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "journey-acceptor-phone")

    # The office cannot sign off while the 公示 runs: the form says until when
    page = office.pages[0]
    page.goto(issue_path)
    assert "期满后方可办理" in page.inner_text("#act-sign_off")
    page.locator("#act-sign_off").get_by_label("说明/理由（必填）").fill("审签")
    page.locator("#act-sign_off").get_by_role("button", name="审签").click()
    page.wait_for_load_state()
    assert "期满后方可办理" in page.inner_text("#act-sign_off [role=alert]")
    for context in (office, unit, acceptor):
        assert context.pages[0].problems == []  # type: ignore[attr-defined]
        context.close()
    first.process.terminate()

    # 8 days later: the office signs off after 公示 and clears with the checklist
    later = start_server(args=("--now", (START + timedelta(days=8)).isoformat(),
                               "--as", OFFICE))
    office, page = sign_in(browser, later, "office")
    page.goto(issue_path)
    assert "公示期已满" in page.inner_text("#countdown")
    page.locator("#act-sign_off").get_by_label("说明/理由（必填）").fill("公示无异议，同意销号")
    page.locator("#act-sign_off").get_by_role("button", name="审签").click()
    page.wait_for_url("**done=sign_off*")
    assert page.inner_text("#state") == "待验收（已审签）"
    clear = page.locator("#act-clear")
    items = clear.locator(".check-item")
    assert items.count() == 5
    for index in range(5):
        item = items.nth(index)
        item.get_by_label("是").check()
        item.get_by_label("说明").fill("经核查落实到位")
    items.nth(4).get_by_label("否").check()
    items.nth(4).get_by_label("说明").fill("仍有群众反映")
    clear.get_by_label("说明/理由（必填）").fill("验收合格，予以销号")
    clear.locator("input[type=file]").set_input_files(str(evidence))
    page.wait_for_function("document.querySelector('#act-clear .upload-status')"
                           ".textContent.startsWith('已上传')")
    clear.get_by_role("button", name="验收销号").click()
    page.wait_for_load_state()
    assert "“群众不满意决不放过”回答为否（仍有群众反映），销号须每项均为是" in \
        page.inner_text("#act-clear [role=alert]")
    assert page.inner_text("#state") == "待验收（已审签）"
    shot(page, "journey-office-checklist-refused")
    clear = page.locator("#act-clear")
    items = clear.locator(".check-item")
    assert items.nth(4).get_by_label("说明").input_value() == "仍有群众反映"
    items.nth(4).get_by_label("是").check()
    items.nth(4).get_by_label("说明").fill("回访群众满意")
    clear.locator("input[type=file]").set_input_files(str(evidence))
    page.wait_for_function("document.querySelector('#act-clear .upload-status')"
                           ".textContent.startsWith('已上传')")
    clear.get_by_role("button", name="验收销号").click()
    page.wait_for_url("**done=clear*")
    assert page.inner_text("#state") == "已销号"
    shot(page, "journey-office-cleared")

    # The leader reads it and instructs; the instruction is in the timeline
    leader, page = sign_in(browser, later, "wang.fs")
    page.goto(issue_path)
    assert page.inner_text("#state") == "已销号"
    assert page.locator("form[data-trigger]").count() == 0
    assert crafted_post(later, page, issue_path + "/act/start",
                        {"version": "1", "comment": "x"}) == 403
    page.get_by_label("批示内容").fill("巩固整改成果，防止反弹")
    page.get_by_role("button", name="批示").click()
    page.wait_for_url("**done=instruct*")
    assert "巩固整改成果，防止反弹" in timeline(page)
    shot(page, "journey-leader-instructed")
    # And every event of the way is in the timeline with its hash
    verbs = [row.split("\t")[2] for row in timeline(page).splitlines()[1:]]
    assert verbs[-7:] == ["开始整改", "月度进展", "申请验收", "现场核查通过", "审签",
                          "验收销号", "领导批示"], verbs
    for context in (office, leader):
        assert context.pages[0].problems == []  # type: ignore[attr-defined]
        context.close()


def test_a_form_posted_without_the_csrf_token_changes_nothing(
        browser: Browser, server: Server) -> None:  # noqa: F811
    context, page = sign_in(browser, server, "zhang")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    answer = httpx.post(server.url + "/issues/1/act/start", data={"version": "1"},
                        cookies=cookies, follow_redirects=False)
    assert answer.status_code == 403 and "安全令牌" in answer.text
    page.goto("/issues/1")
    assert page.inner_text("#state") == "已交办"
    # And an out-of-range or wrong id is the not-found page, not an error
    for path in ("/issues/99999999999999999999", "/issues/abc", "/issues/" + "9" * 5000,
                 "/issues/１２"):
        shown = page.goto(path)
        assert shown is not None and shown.status == 404
        assert "不存在" in page.inner_text("[role=alert]")
    context.close()


def test_the_demo_serves_its_pages_to_the_accounts_it_prints(browser: Browser,  # noqa: F811
                                                              tmp_path: Path) -> None:
    port = free_port()
    demo = Rectify(["demo", "--serve", "--port", str(port)], {}, tmp_path / "demo.log")
    try:
        wait_for(lambda: "Ctrl-C stops the demo" in demo.output() or not demo.alive(),
                 timeout=120, what="rectify demo --serve printing its accounts")
        printed = demo.output()
        password = re.search(r"password (demo-\S+?)\)", printed)
        assert password, printed
        assert "leader" in printed and "王副市长" in printed
        server = Server(f"http://127.0.0.1:{port}", demo, lambda *a, **k: "")
        wait_for(lambda: _answers(server.url), timeout=60, what="the demo answering")
        context = browser.new_context(base_url=server.url, locale="zh-CN")
        page = context.new_page()
        loopback_only(page)
        page.goto("/login")
        page.get_by_label("账号").fill("office")
        page.get_by_label("密码").fill(password.group(1))
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/ledger")
        assert page.locator("#rows tbody tr").count() > 3
        assert page.problems == []  # type: ignore[attr-defined]
        context.close()
    finally:
        demo.terminate()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_unit_reaches_a_milestone_and_reads_why_its_light_is_lit(
        browser: Browser, server: Server) -> None:  # noqa: F811
    server.cli("issue", "milestones", "1", "--stage", "方案编制=10 working days",
               "--stage", "整改实施=60 working days", "--as", OFFICE)
    context, page = sign_in(browser, server, "zhang")
    page.goto("/issues/1")
    # The light's reason counts the working days left of the step (3 to sign for it) …
    assert re.fullmatch(r"剩余[0-3]个工作日（办理时限\d{4}-\d\d-\d\d）；逾期后将向包保领导、"
                        r"整改办发出红灯督办", page.inner_text("#reason"))
    # … and once started, of the deadline, naming the next rung of the ladder
    page.locator("#act-start").get_by_role("button", name="开始整改").click()
    page.wait_for_url("**done=start*")
    today = datetime.now(SHANGHAI).date()
    left = load_calendar().working_days_between(today, date(2027, 12, 31))
    assert page.inner_text("#reason") == (f"剩余{left}个工作日（整改时限2027-12-31）；"
                                          "逾期后将向包保领导、整改办发出红灯督办")
    assert page.locator("#milestones li").count() == 2
    page.get_by_label("节点").select_option(index=0)
    page.get_by_label("完成情况").fill("整改方案已印发")
    page.get_by_role("button", name="节点完成").click()
    page.wait_for_url("**done=milestone*")
    assert "方案编制（已完成）" in page.inner_text("#milestones")
    assert "完成阶段节点" in timeline(page)
    assert page.problems == []  # type: ignore[attr-defined]
    context.close()


def test_the_office_assigns_a_cooperating_unit_and_splits_it_a_sub_task(
        browser: Browser, server: Server) -> None:  # noqa: F811
    context, page = sign_in(browser, server, "office")
    page.goto("/issues/new")
    page.get_by_label("反馈问题（必填）").fill("跨区河道垃圾清理")
    page.get_by_label("责任单位", exact=True).select_option(UNIT_A)
    page.get_by_label("配合单位（可多选）").select_option([UNIT_B])
    page.get_by_label("整改时限").fill("2031-06-30")
    page.get_by_role("button", name="交办").click()
    page.wait_for_url("**done=create*")
    assert page.inner_text("#cooperating") == UNIT_B
    # When the office splits it, the sub-task is listed with its unit and state
    page.locator("#split-form").get_by_role("button", name="拆分").click()
    page.wait_for_url("**done=split*")
    rows = page.locator("#subtasks tbody tr")
    assert rows.count() == 1 and UNIT_B in rows.inner_text() and "已交办" in rows.inner_text()
    assert page.locator("#split-form").count() == 0  # nothing left to split
    parent_url = page.url.split("?")[0]
    shot(page, "office-subtasks")
    # And the cooperating unit finds it in its inbox, its page naming the parent issue
    other, unit_page = sign_in(browser, server, "li.ke")
    unit_page.get_by_role("link", name=re.compile("配合任务")).click()
    assert unit_page.get_by_role("link", name=re.compile("跨区河道垃圾清理")).get_attribute(
        "href") == parent_url.removeprefix(server.url)
    assert unit_page.locator("#split-form").count() == 0
    assert page.problems == [] and unit_page.problems == []  # type: ignore[attr-defined]
    context.close()
    other.close()
