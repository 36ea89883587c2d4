"""The web pages on the same application as the API: sign-in (password, one-time code when
set up), sign-out, and the ledger (台账) with its filters. Server-rendered with Jinja2
(every value escaped); htmx swaps the rows when a filter changes and keeps the filter in the
address, so a link reproduces the view and tabs never share it. Every asset is served from
the package (``/static``): an office intranet reaches no CDN.

A page's session is the API's (the same cookie); its CSRF token also sits in a cookie the
page reads back (``rectify_csrf``, SameSite=Strict) and posts with every form, checked
against the hash the session keeps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from workflow.api import i18n
from workflow.api.security import (
    COOKIE,
    CSRF_REFUSED,
    clear_session_cookie,
    client_address,
    end_signed_session,
    is_https,
    set_session_cookie,
)
from workflow.auth.sessions import LiveSession, live_session, start_session
from workflow.auth.settings import AuthSettings
from workflow.errors import AuthenticationError, LockedOutError
from workflow.issues import queries
from workflow.issues.engine import Engine

CSRF_COOKIE = "rectify_csrf"
PAGE = 50
ROLE_LABELS = {"office": "整改办", "unit": "责任单位", "acceptor": "验收单位",
               "leader": "包保领导", "discipline": "纪检监察机关", "public": "公众"}
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(default=True))
# ``_("…")`` in a template: the text in the page's language (a plain string, so it is
# escaped like any other value).
_TEMPLATES.globals["_"] = i18n.gettext
_TEMPLATES.globals["label"] = i18n.label
_TEMPLATES.globals["light_name"] = i18n.light_name


def render(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """The template ``name`` in the request's language (``i18n.current``)."""
    language = i18n.current.get()
    html = _TEMPLATES.get_template(name).render(
        lang=language, html_lang=i18n.HTML_LANG[language], here_url=i18n.here.get(), **values)
    return HTMLResponse(html, status_code=status)


NAV = {"office": (("台账", "/ledger"), ("领导驾驶舱", "/cockpit"), ("新建问题", "/issues/new"),
                  ("系统管理", "/admin")),
       "leader": (("领导驾驶舱", "/cockpit"), ("台账", "/ledger")),
       "unit": (("我的待办", "/inbox"), ("台账", "/ledger")),
       "acceptor": (("验收待办", "/inbox"), ("台账", "/ledger")),
       "discipline": (("台账", "/ledger"),)}
# Where each role lands after signing in (and at ``/``): the first link of its navigation.
HOME = {role: links[0][1] for role, links in NAV.items()}


PAGE_ERRORS = {404: "页面不存在。", 405: "不支持此操作。",
               500: "服务器内部错误，已记录在服务器日志中；请将时间和网址告知系统管理员。"}


def page_or_problem(handler: Callable[[Request, Exception], Response],
                    ) -> Callable[[Request, Exception], Response]:
    """``handler`` (an RFC 9457 problem) for the API; for a browser asking for a page
    (not under /api, accepting HTML) the same refusal as a page in Chinese."""

    def answer(request: Request, exc: Exception) -> Response:
        problem = handler(request, exc)
        if request.url.path.startswith(("/api/", "/static/", "/healthz")) or \
                "text/html" not in request.headers.get("accept", ""):
            return problem
        status = problem.status_code
        message = PAGE_ERRORS.get(status) or (
            "请求的地址有误。" if status == 422 else f"请求未能完成（{status}）。")
        return render("notfound.html", status, title="出错了", message=i18n.gettext(message))

    return answer


def signed_in(request: Request) -> LiveSession | None:
    """The live session of the page's caller, or None (never signed in, signed out, idle
    too long): the page then sends the caller to sign in."""
    engine: Engine = request.app.state.engine
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    return live_session(engine.db, session_id, now=engine.clock.now(),
                        settings=request.app.state.auth)


def frame(request: Request, live: LiveSession) -> dict[str, Any]:
    """What every signed-in page shows around its content: who is signed in, the sign-out
    form's CSRF token and the links of the person's role."""
    role = live.account.role
    return {"person": live.account.person, "csrf": request.cookies.get(CSRF_COOKIE, ""),
            "role_label": ROLE_LABELS.get(role, role), "nav": NAV.get(role, ()),
            "here": request.url.path}


TEXT_FILTERS = ("state", "step", "light", "unit", "leader", "plan", "category", "q")
YES_NO_FILTERS = ("overdue", "long_term", "key_supervision")


def ledger_query(request: Request) -> queries.LedgerQuery:
    """The ledger filters the page's address names: the text ones as given (trimmed, at
    most 200 characters), ``overdue``, ``long_term`` and ``key_supervision`` (重点督办) as
    1 (yes) or 0 (no). A link from the cockpit or a saved view is this address."""
    params = request.query_params
    text = {name: (params.get(name) or "").strip()[:200] or None for name in TEXT_FILTERS}
    flags = {name: {"1": True, "0": False}.get(params.get(name) or "")
             for name in YES_NO_FILTERS}
    return queries.LedgerQuery(**text, **flags)


def sign_in_refusal(exc: AuthenticationError) -> str:
    """Why a sign-in was refused, as the sign-in page says it."""
    from workflow.auth import providers

    if isinstance(exc, LockedOutError):
        return (f"登录失败次数过多，该账号或地址已暂时锁定，请 {max(1, -(-exc.retry_after // 60))}"
                " 分钟后再试。")
    return {providers.WRONG: "账号或密码错误。",
            providers.TOTP_NEEDED: "此账号需要动态口令：请同时填写 6 位动态口令。",
            providers.TOTP_WRONG: "动态口令错误或已使用过。",
            providers.TOTP_REQUIRED: "整改办账号须开启动态口令（双重认证），此账号尚未设置；"
                                     "请管理员执行 rectify accounts totp 为其设置。",
            }.get(str(exc), f"登录失败：{exc}")


def sign_in_again() -> RedirectResponse:
    return RedirectResponse("/login?ended=true", status_code=303)


def csrf_refusal(request: Request, live: LiveSession, form: Any) -> Response | None:
    """The 403 page for a form posted without the session's CSRF token; None when it
    carries it."""
    if live.csrf_matches(str(form.get("csrf_token") or "")):
        return None
    return render("notfound.html", 403, title="请求被拒绝", message=CSRF_REFUSED,
                  **frame(request, live))


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/")
    def home(request: Request) -> RedirectResponse:
        """The signed-in person's first page (their role's), else the sign-in page."""
        live = signed_in(request)
        if live is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse(HOME.get(live.account.role, "/ledger"), status_code=303)

    @routes.get("/language/{code}")
    def choose_language(code: str, next: str | None = None) -> RedirectResponse:
        """Switch the pages' language (``zh`` or ``en``) and go back to the page."""
        answer = RedirectResponse(i18n.same_site_path(next), status_code=303)
        if code in i18n.LANGUAGES:
            answer.set_cookie(i18n.COOKIE, code, max_age=365 * 86400, path="/",
                              samesite="lax")
        return answer

    @routes.get("/login")
    def sign_in_page(ended: bool = False) -> HTMLResponse:
        return render("signin.html", title="登录", ended=ended)

    @routes.post("/login")
    async def sign_in(request: Request) -> Response:
        engine: Engine = request.app.state.engine
        settings: AuthSettings = request.app.state.auth
        form = await request.form()
        login = str(form.get("login", ""))[:200]
        credentials = {"login": login, "password": str(form.get("password", ""))[:4096],
                       "totp": str(form.get("totp", "")).strip()[:16]}
        now = engine.clock.now()
        address = client_address(request)
        try:
            signed = request.app.state.provider.authenticate(credentials, address=address,
                                                             now=now)
        except AuthenticationError as exc:
            return render("signin.html", title="登录", error=sign_in_refusal(exc), login=login)
        new = start_session(engine.db, signed.account_id, address=address, now=now,
                            settings=settings)
        answer = RedirectResponse(HOME.get(signed.role, "/ledger"), status_code=303)
        set_session_cookie(answer, request, settings, new.session_id)
        answer.set_cookie(CSRF_COOKIE, new.csrf_token,
                          max_age=int(settings.session_max.total_seconds()), path="/",
                          samesite="strict", secure=is_https(request, settings))
        return answer

    @routes.post("/logout")
    async def sign_out(request: Request) -> Response:
        live = signed_in(request)
        form = await request.form()
        if live is not None and live.csrf_matches(str(form.get("csrf_token", ""))):
            end_signed_session(request.app.state.engine, live, request)
        answer = RedirectResponse("/login?ended=true", status_code=303)
        clear_session_cookie(answer, request, request.app.state.auth)
        answer.delete_cookie(CSRF_COOKIE, path="/")
        return answer

    from workflow.api import page_ledger

    def framed(request: Request, live: LiveSession, answer: page_ledger.Answer) -> Response:
        if isinstance(answer, Response):
            return answer
        return render(answer.template, answer.status, **frame(request, live), **answer.values)

    @routes.get("/ledger")
    def ledger(request: Request) -> Response:
        """The ledger the signed-in person may read, filtered and sorted as the address
        says (``page_ledger``)."""
        live = signed_in(request)
        return sign_in_again() if live is None else \
            framed(request, live, page_ledger.ledger(request, live))

    @routes.get("/ledger/export.xlsx")
    def ledger_export(request: Request) -> Response:
        live = signed_in(request)
        return sign_in_again() if live is None else \
            framed(request, live, page_ledger.export(request, live))

    @routes.post("/ledger/chase")
    async def ledger_chase(request: Request) -> Response:
        live = signed_in(request)
        return sign_in_again() if live is None else \
            framed(request, live, await page_ledger.chase_units(request, live))

    @routes.post("/ledger/filters")
    async def ledger_save_filter(request: Request) -> Response:
        live = signed_in(request)
        return sign_in_again() if live is None else \
            framed(request, live, await page_ledger.save_view(request, live))

    @routes.post("/ledger/filters/{filter_id}/delete")
    async def ledger_delete_filter(request: Request, filter_id: str) -> Response:
        live = signed_in(request)
        return sign_in_again() if live is None else \
            framed(request, live, await page_ledger.delete_view(request, live, filter_id))
    return routes
