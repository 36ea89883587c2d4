"""The web pages on the same application as the API: sign-in (password, one-time code when
set up), sign-out, and the ledger (台账) with its filters. Server-rendered with Jinja2
(every value escaped); htmx swaps the rows when a filter changes and keeps the filter in the
address, so a link reproduces the view and tabs never share it. Every asset is served from
the package (``/static``): an office intranet reaches no CDN.

A page's session is the API's (the same cookie); its CSRF token also sits in a cookie the
page reads back (``rectify_csrf``, SameSite=Strict) and posts with every form, checked
against the hash the session keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from workflow.api.security import COOKIE, client_address, is_https
from workflow.auth.sessions import LiveSession, end_session, live_session, start_session
from workflow.auth.settings import AuthSettings
from workflow.auth.trail import SIGN_OUT, record_sign_in_event
from workflow.errors import AuthenticationError, InputError, RectifyError
from workflow.issues import queries, views
from workflow.issues.engine import Engine
from workflow.org.directory import resolve_actor, units
from workflow.spec.timers import LIGHT_LABELS

CSRF_COOKIE = "rectify_csrf"
PAGE = 50
ROLE_LABELS = {"office": "整改办", "unit": "责任单位", "acceptor": "验收单位",
               "leader": "包保领导", "discipline": "纪检监察机关", "public": "公众"}
_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(default=True))


def render(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(_TEMPLATES.get_template(name).render(**values), status_code=status)


def _live(request: Request) -> LiveSession | None:
    engine: Engine = request.app.state.engine
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    return live_session(engine.db, session_id, now=engine.clock.now(),
                        settings=request.app.state.auth)


def _states(engine: Engine) -> list[tuple[str, str]]:
    """The states of the rectification process's latest version, labelled in Chinese."""
    compiled = engine.registry.get("rectification",
                                   engine.registry.latest_version("rectification"))
    return [(state.key, state.label_zh) for state in compiled.definition.states]


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/ledger", status_code=303)

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
            return render("signin.html", title="登录", error=str(exc), login=login)
        new = start_session(engine.db, signed.account_id, address=address, now=now,
                            settings=settings)
        answer = RedirectResponse("/ledger", status_code=303)
        secure = is_https(request, settings)
        max_age = int(settings.session_max.total_seconds())
        answer.set_cookie(COOKIE, new.session_id, max_age=max_age, path="/", httponly=True,
                          samesite="lax", secure=secure)
        answer.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, path="/",
                          samesite="strict", secure=secure)
        return answer

    @routes.post("/logout")
    async def sign_out(request: Request) -> Response:
        engine: Engine = request.app.state.engine
        live = _live(request)
        form = await request.form()
        if live is not None and live.csrf_matches(str(form.get("csrf_token", ""))):
            now = engine.clock.now()
            end_session(engine.db, live.id, now=now)
            record_sign_in_event(engine.db, SIGN_OUT, key=engine.keys.current,
                                 login=live.account.login, now=now,
                                 person=live.account.person, role=live.account.role,
                                 address=client_address(request))
        answer = RedirectResponse("/login?ended=true", status_code=303)
        answer.delete_cookie(COOKIE, path="/")
        answer.delete_cookie(CSRF_COOKIE, path="/")
        return answer

    @routes.get("/ledger")
    def ledger(request: Request) -> Response:
        """The ledger the signed-in person may read, filtered as the address says."""
        engine: Engine = request.app.state.engine
        live = _live(request)
        if live is None:
            return RedirectResponse("/login?ended=true", status_code=303)
        actor = resolve_actor(engine.db, live.account.person, live.account.role)
        params = request.query_params
        text = {name: (params.get(name) or "").strip()[:200] or None
                for name in ("state", "light", "unit", "q")}
        query = queries.LedgerQuery(state=text["state"], light=text["light"],
                                    unit=text["unit"], q=text["q"])
        now = engine.clock.now()
        error = None
        try:
            found = queries.ledger_page(engine.db, engine.registry, query, actor=actor,
                                        sort="id", position=None, limit=PAGE, now=now)
            count, capped = queries.ledger_count(engine.db, engine.registry, query,
                                                 actor=actor, now=now)
            items = views.issue_views(engine.db, found.issues, engine.registry, now)
        except (InputError, RectifyError) as exc:
            error, items, count, capped = str(exc), [], 0, False
        return render(
            "ledger.html", 400 if error else 200, title="台账", person=live.account.person,
            role_label=ROLE_LABELS.get(live.account.role, live.account.role),
            csrf=request.cookies.get(CSRF_COOKIE, ""), query=query, items=items,
            count=count, capped=capped, error=error,
            states=_states(engine), lights=[(k, v[0]) for k, v in LIGHT_LABELS.items()],
            units=sorted(u.name for u in units(engine.db)), page=PAGE)

    return routes
