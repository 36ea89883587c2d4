"""The pages in a real browser: Playwright for Python driving Debian's Chromium
(``/usr/bin/chromium``, or ``RECTIFY_TEST_CHROMIUM``) on a real `rectify web`. The office
signs in and filters the ledger; the filter lives in the address; a wrong password is told
on the page; sign-out ends the session. No console error, no request off 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api_support import PASSWORD, UNIT_A, Server

pytestmark = pytest.mark.processes

CHROMIUM = os.environ.get("RECTIFY_TEST_CHROMIUM") or shutil.which("chromium") or \
    "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "test-screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (bash .ci/run does) "
                    "or set RECTIFY_TEST_CHROMIUM")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, locale="zh-CN",
                                  viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    loopback_only(opened)
    yield opened
    context.close()


def loopback_only(page: Page) -> None:
    """Collect in ``page.problems`` every console error, page error and request that
    leaves 127.0.0.1 (a test asserts the list is empty)."""
    page.problems = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("request", lambda r: urlparse(r.url).hostname not in ("127.0.0.1", None)
            and page.problems.append(f"left loopback: {r.url}"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_office_signs_in_and_filters_the_ledger(page: Page, server: Server) -> None:
    # When the office opens the site, it is sent to sign in
    page.goto("/")
    assert page.url.endswith("/login")  # a first visit is not told its session ended
    page.get_by_label("账号").fill("office")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    # Then it sees the ledger with both issues and their lights
    page.wait_for_url("**/ledger")
    rows = page.locator("#rows tbody tr")
    assert rows.count() == 2
    assert "餐饮油烟扰民" in page.inner_text("#rows") and "黑臭水体" in page.inner_text("#rows")
    assert "共 2 项" in page.inner_text("#rows")
    shot(page, "office-ledger")
    # When it picks a unit, the rows change in place and the address keeps the filter
    options = page.locator("#unit option").all_inner_texts()
    assert options[1:] == sorted(options[1:])
    page.select_option("#unit", UNIT_A)
    page.wait_for_url("**unit=*")
    page.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 1")
    assert "餐饮油烟扰民" in page.inner_text("#rows")
    assert "黑臭水体" not in page.inner_text("#rows")
    shot(page, "office-ledger-unit")
    # And the same address opened anew shows the same view
    link = page.url
    page.goto(link)
    assert page.locator("#rows tbody tr").count() == 1
    assert page.locator("#unit").input_value() == UNIT_A
    # When it opens the issue, its page shows the facts, the office's actions and the
    # timeline with each event's hash
    page.get_by_role("link", name="餐饮油烟扰民").click()
    page.wait_for_url("**/issues/1")
    assert "相山区人民政府" in page.inner_text("table.facts")
    timeline = page.locator("#timeline tbody tr")
    assert timeline.count() == 1 and "交办" in timeline.inner_text()
    full_hash = page.locator("#timeline code").get_attribute("title")
    assert full_hash and len(full_hash) == 64
    assert page.locator("[data-trigger=start] legend").inner_text() == "开始整改"
    shot(page, "office-issue")
    page.get_by_role("link", name="← 返回台账").click()
    page.wait_for_url("**/ledger")
    # When it signs out, the ledger sends it back to sign in, saying why
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/login?ended=true")
    assert "会话已结束" in page.inner_text("main")
    page.goto("/ledger")
    assert "/login" in page.url
    assert page.problems == []  # type: ignore[attr-defined]


def test_another_units_issue_page_is_not_found(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("账号").fill("li.ke")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/inbox")  # a unit lands on its own to-do list
    page.goto("/ledger")
    # The unit of issue 2 sees only its own issue, and issue 1's page is as if it did not exist
    assert page.locator("#rows tbody tr").count() == 1
    answer = page.goto("/issues/1")
    assert answer is not None and answer.status == 404
    assert "问题 1 不存在" in page.inner_text("[role=alert]")
    assert "餐饮油烟扰民" not in page.content()


def test_a_wrong_password_is_told_on_the_page(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("账号").fill("office")
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录").click()
    assert page.inner_text("[role=alert]") == "账号或密码错误。"
    assert page.get_by_label("账号").input_value() == "office"
    shot(page, "signin-refused")
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_pages_speak_english_when_asked_and_chinese_again(page: Page, server: Server) -> None:
    # Given the sign-in page in Chinese, when the person switches to English
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**/login")
    # Then the form and, once signed in, the frame speak English
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_label("Login").fill("office")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ledger")
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="Ledger").count() == 1
    # And an issue's page reads in English, its state and actions as the definitions name them
    page.goto("/issues/1")
    assert page.get_by_role("heading", name="What you may do").count() == 1
    assert page.inner_text("#state") == "Assigned"
    assert page.locator("[data-trigger=start] legend").inner_text() == "Start rectification"
    # The ledger's filters, sorts and lights, and the cockpit, read in English too
    page.goto("/ledger")
    assert page.get_by_label("Sort").count() == 1 and page.get_by_label("Overdue").count() == 1
    assert page.locator("#light option[value=red]").inner_text() == "Overdue"
    assert page.locator("#state option[value=assigned]").inner_text() == "Assigned"
    assert "2 in all" in page.inner_text("#count")
    page.goto("/cockpit")
    assert page.get_by_role("heading", name="By light", exact=True).count() == 1
    assert page.locator("#by-state [data-state=assigned] .bar-label").inner_text() == "Assigned"
    # And the switch back keeps the page and its filter
    page.goto("/ledger?light=red")
    page.get_by_role("link", name="中文").click()
    page.wait_for_url("**/ledger?light=red")
    assert page.get_by_role("button", name="退出登录").count() == 1
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_language_switch_never_sends_to_another_site(server: Server) -> None:
    with server.client() as client:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            answer = client.get("/language/en", params={"next": target})
            assert answer.status_code == 303 and answer.headers["location"] == "/", target
        answer = client.get("/language/xx", params={"next": "/public"})
        assert answer.headers["location"] == "/public" and "rectify_lang" not in answer.cookies


def test_every_text_a_template_marks_for_translation_has_its_english() -> None:
    from workflow.api.i18n import ENGLISH

    templates = Path(__file__).resolve().parent.parent / "workflow" / "api" / "templates"
    marked = {m for f in templates.glob("*.html")
              for m in re.findall(r"""_\(["']([^"']+)["']\)""", f.read_text())}
    # and what the pages pass them to translate: the ledger's sorts and yes/no filters
    from workflow.api.page_ledger import FLAG_LABELS, SORT_LABELS, YES_NO

    marked |= {*SORT_LABELS.values(), *FLAG_LABELS.values(), *(text for _, text in YES_NO)}
    assert len(marked) > 50
    assert sorted(m for m in marked if m not in ENGLISH) == []
