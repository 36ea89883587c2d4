"""The FastAPI application: ``/healthz``, sign-in and sign-out (``/api/v1/session``), the
caller (``/api/v1/me``), the issues (``workflow.api.issues``) and what is done to them
(``workflow.api.actions``), documents (``workflow.api.documents``), supervision
(``workflow.api.supervision``), what the public reads
and sends without sign-in (``workflow.api.public``), the OpenAPI document
(``/api/openapi.json``) and its interactive docs (``/api/docs``, Swagger UI served from the
``swagger-ui-bundle`` package, no CDN); every error as problem+json
(``workflow.api.problems``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from swagger_ui_bundle import swagger_ui_path

from workflow.api import (
    actions,
    admin,
    documents,
    i18n,
    issues,
    page_admin,
    page_cockpit,
    page_issue,
    page_notice,
    page_public,
    pages,
    public,
    supervision,
)
from workflow.api.problems import (
    engine_problem,
    http_problem,
    internal_problem,
    problem_responses,
    validation_problem,
)
from workflow.api.security import (
    CallerDep,
    clear_session_cookie,
    client_address,
    end_signed_session,
    refuse_nul,
    set_session_cookie,
)
from workflow.auth.providers import PasswordProvider
from workflow.auth.sessions import start_session
from workflow.auth.settings import AuthSettings
from workflow.clock import local
from workflow.errors import RectifyError, RequestRefusedError
from workflow.issues.engine import Engine
from workflow.migrate import current_revision, head_revision

DOCS_STATIC = "/api/docs/static"


class SignIn(BaseModel):
    """The body of ``POST /api/v1/session``."""

    login: str = Field(max_length=200)
    password: str = Field(max_length=4096)
    totp: str | None = Field(default=None, max_length=16)


def create_app(engine: Engine, auth: AuthSettings) -> FastAPI:
    """The application on ``engine``'s database, signing in as ``auth`` says."""
    app = FastAPI(title="rectify", version="1", openapi_url="/api/openapi.json",
                  docs_url=None, redoc_url=None, dependencies=[Depends(refuse_nul)],
                  responses=problem_responses(422))  # a request that does not parse, anywhere
    app.state.engine, app.state.auth = engine, auth
    app.state.provider = PasswordProvider(engine.db, auth, key=engine.keys.current)
    app.add_exception_handler(RectifyError, pages.page_or_problem(engine_problem))
    app.add_exception_handler(HTTPException, pages.page_or_problem(http_problem))
    app.add_exception_handler(RequestValidationError,
                              pages.page_or_problem(validation_problem))
    app.add_exception_handler(Exception, pages.page_or_problem(internal_problem))
    @app.middleware("http")
    async def page_language(request: Request, call_next: Any) -> Response:
        """The language the pages of this request speak (``workflow.api.i18n``)."""
        query = request.url.query
        tokens = (i18n.current.set(i18n.language_of(request)),
                  i18n.here.set(request.url.path + (f"?{query}" if query else "")))
        try:
            return await call_next(request)
        finally:
            i18n.current.reset(tokens[0])
            i18n.here.reset(tokens[1])

    app.mount(DOCS_STATIC, StaticFiles(directory=str(swagger_ui_path)), name="docs-static")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI on the OpenAPI document, its script and style from this server."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "", title="rectify API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge from swagger.io

    @app.get("/healthz", summary="Health and schema version")
    def healthz() -> dict[str, Any]:
        """200 with the schema version the database is at and the one this code expects."""
        return {"status": "ok", "schema": current_revision(engine.db), "head": head_revision()}

    @app.post("/api/v1/session", summary="Sign in", responses=problem_responses(401, 422, 429))
    def sign_in(body: SignIn, request: Request, response: Response) -> dict[str, Any]:
        """Sign in with login, password and (where the account has one) a one-time code:
        sets the session cookie and returns the CSRF token every unsafe request must carry
        in X-CSRF-Token."""
        now = engine.clock.now()
        address = client_address(request)
        credentials = {"login": body.login, "password": body.password, "totp": body.totp or ""}
        signed = app.state.provider.authenticate(credentials, address=address, now=now)
        new = start_session(engine.db, signed.account_id, address=address, now=now,
                            settings=auth)
        set_session_cookie(response, request, auth, new.session_id)
        return {"csrf_token": new.csrf_token, "login": signed.login, "person": signed.person,
                "role": signed.role, "idle_timeout_s": int(auth.session_idle.total_seconds()),
                "expires_at": local(now + auth.session_max).isoformat()}

    @app.delete("/api/v1/session", status_code=204, summary="Sign out",
                responses=problem_responses(401, 403))
    def sign_out(caller: CallerDep, request: Request) -> Response:
        """Sign out: the session is revoked on the server and the cookie cleared."""
        if caller.session is None:
            raise RequestRefusedError("sign-out ends a browser session; an API token is "
                                      "revoked with `rectify tokens revoke ID`")
        end_signed_session(engine, caller.session, request)
        response = Response(status_code=204)
        clear_session_cookie(response, request, auth)
        return response

    @app.get("/api/v1/me", summary="Who is signed in", responses=problem_responses(401))
    def me(caller: CallerDep) -> dict[str, Any]:
        """Who is signed in: login, person, role, unit, how (session or token) and scope."""
        return {"login": caller.account.login, "person": caller.account.person,
                "role": caller.actor.role, "unit": caller.actor.unit, "via": caller.via,
                "scope": caller.scope, "totp": caller.account.totp_secret is not None}

    app.include_router(issues.router(), prefix="/api/v1")
    app.include_router(actions.router(), prefix="/api/v1")
    app.include_router(documents.router(), prefix="/api/v1")
    app.include_router(supervision.router(), prefix="/api/v1")
    app.include_router(public.router(), prefix="/api/v1")
    app.include_router(page_issue.router())
    app.include_router(page_notice.router())
    app.include_router(page_cockpit.router())
    app.include_router(page_public.router())
    app.include_router(page_admin.router())
    app.include_router(pages.router())
    app.mount("/static", StaticFiles(directory=str(Path(pages.__file__).parent / "static")),
              name="static")
    app.include_router(admin.router(), prefix="/api/v1")
    return app


def app_from_env() -> FastAPI:
    """The application on the database and settings the environment names (``rectify web``).

    Raises:
        ConfigurationError: the database is not initialised, or a setting is unusable.
    """
    from workflow.config import Settings
    from workflow.startup import open_engine

    return create_app(open_engine(Settings.from_env()), AuthSettings.from_env())
