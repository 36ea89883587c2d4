"""Accessibility of the pages, in Debian's Chromium on a real `rectify web`: the axe-core
rules for labels, names and contrast (axe-core vendored in ``tests/vendor``, so the check
runs offline) pass on every main page, and the sign-in form works from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.api_support import PASSWORD, Server
from tests.test_pages import browser, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.processes

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
RULES = ["label", "color-contrast", "button-name", "select-name", "input-button-name",
         "form-field-multiple-labels", "aria-input-field-name", "link-name", "document-title",
         "html-has-lang", "html-lang-valid", "duplicate-id-aria", "label-title-only"]


def violations(shown: Page) -> list[str]:
    shown.add_script_tag(path=str(AXE))
    found = shown.evaluate("""rules => axe.run(document, {runOnly: {type: 'rule', values: rules}})
        .then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' '))
        .join(', ')))""", RULES)
    return list(found)


def sign_in(shown: Page, login: str) -> None:
    shown.goto("/login")
    shown.get_by_label("账号").fill(login)
    shown.get_by_label("密码").fill(PASSWORD)
    shown.get_by_role("button", name="登录").click()
    shown.wait_for_load_state()


def test_the_main_pages_pass_the_label_and_contrast_rules(page: Page,  # noqa: F811
                                                          server: Server) -> None:
    page.goto("/login")
    assert violations(page) == []
    # (the check does find what it looks for: an input without a label, pale grey text)
    page.evaluate("""document.querySelector('main').insertAdjacentHTML('beforeend',
        '<input id=bare><p style="color:#ccc;background:#fff">淡灰色文字</p>')""")
    found = " ".join(violations(page))
    assert "label: #bare" in found and "color-contrast" in found
    sign_in(page, "office")
    for path in ("/ledger", "/issues/1", "/issues/new", "/issues/999"):
        page.goto(path)
        assert violations(page) == [], path
    page.problems.clear()  # type: ignore[attr-defined]  (the 404 of /issues/999)
    page.get_by_role("button", name="退出登录").click()
    sign_in(page, "zhang")
    for path in ("/inbox", "/issues/1"):
        page.goto(path)
        assert violations(page) == [], path
    assert page.problems == []  # type: ignore[attr-defined]


def test_signing_in_works_from_the_keyboard(page: Page, server: Server) -> None:  # noqa: F811
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "login"
    page.keyboard.type("office")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/ledger")
    # And on the issue page, Tab reaches the first action's comment and its button
    page.goto("/issues/1")
    page.focus("#comment-start")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "开始整改"
    page.keyboard.press("Enter")
    page.wait_for_url("**done=start*")
    assert page.inner_text("#state") == "整改中"
