"""Who calls: a browser session (cookie, with a CSRF token on every unsafe request) or an
API token (``Authorization: Bearer …``; a read token on safe methods only). Refusals go to
the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from workflow.auth.sessions import LiveSession, end_session, live_session
from workflow.auth.settings import AuthSettings
from workflow.auth.tokens import READ, WRITE, use_token
from workflow.auth.trail import REFUSED, SIGN_OUT, TOKEN_USE, record_sign_in_event
from workflow.errors import AuthenticationError, InputError, RequestRefusedError
from workflow.issues.engine import Engine, holds_nul
from workflow.models import Account
from workflow.org.actors import Actor
from workflow.org.directory import resolve_actor

COOKIE = "rectify_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
SIGN_IN_FIRST = ("sign in first: POST /api/v1/session with login and password, or send "
                 "Authorization: Bearer TOKEN")


@dataclass(frozen=True)
class Caller:
    """The signed-in caller of a request: the account, the actor it acts as, how it signed
    in (``session`` or ``token``) and what it may do (``read`` or ``write``)."""

    account: Account
    actor: Actor
    via: str
    scope: str
    session: LiveSession | None = None


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def is_https(request: Request, settings: AuthSettings) -> bool:
    """Whether the client reached us over https (``X-Forwarded-Proto`` only when trusted)."""
    if settings.trust_forwarded_proto:
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        if forwarded:
            return forwarded.lower() == "https"
    return request.url.scheme == "https"


def _refuse(engine: Engine, account: Account, request: Request, now: datetime,
            reason: str) -> RequestRefusedError:
    record_sign_in_event(engine.db, REFUSED, key=engine.keys.current, login=account.login, now=now,
                         person=account.person, role=account.role,
                         address=client_address(request), method=request.method,
                         path=request.url.path, reason=reason)
    return RequestRefusedError(reason)


# What a page says to a form posted without the session's CSRF token.
CSRF_REFUSED = "请求缺少有效的安全令牌（CSRF），未作任何更改；请刷新页面后重试。"


def actor_of(engine: Engine, session: LiveSession) -> Actor:
    """The person a page's session acts for, as the directory has them now (as the API's
    caller: an account whose person is gone is refused)."""
    return _actor(engine, session.account)


def _actor(engine: Engine, account: Account) -> Actor:
    try:
        return resolve_actor(engine.db, account.person, account.role)
    except InputError as exc:  # the directory changed under the account
        raise AuthenticationError(f"account {account.login} no longer acts for a registered "
                                  f"person: {exc}") from None


def authenticate(request: Request) -> Caller:
    """The caller of ``request``.

    Raises:
        AuthenticationError: no credentials, an ended session, a bad token.
        RequestRefusedError: an unsafe request without its CSRF token, or with a read token.
    """
    engine: Engine = request.app.state.engine
    settings: AuthSettings = request.app.state.auth
    now = engine.clock.now()
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the Authorization header must be 'Bearer TOKEN'")
        use = use_token(engine.db, token.strip(), now=now)
        if use is None:
            raise AuthenticationError("the token is unknown, expired or revoked")
        if use.scope == READ and request.method not in SAFE_METHODS:
            raise _refuse(engine, use.account, request, now,
                          f"token {use.id} has scope read: it may only read (GET); "
                          "a write token is made with `rectify tokens create --scope write`")
        if use.record_use:
            record_sign_in_event(engine.db, TOKEN_USE,
                                 key=engine.keys.current, login=use.account.login, now=now,
                                 person=use.account.person, role=use.account.role,
                                 token=use.id, address=client_address(request))
        return Caller(use.account, _actor(engine, use.account), "token", use.scope)
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise AuthenticationError(SIGN_IN_FIRST)
    live = live_session(engine.db, session_id, now=now, settings=settings)
    if live is None:
        raise AuthenticationError("the session has ended (signed out, idle too long or past "
                                  "its limit); sign in again")
    if request.method not in SAFE_METHODS and \
            not live.csrf_matches(request.headers.get(CSRF_HEADER)):
        raise _refuse(engine, live.account, request, now,
                      f"an unsafe request with a session cookie needs the {CSRF_HEADER} header "
                      "with the csrf_token sign-in returned")
    return Caller(live.account, _actor(engine, live.account), "session", WRITE, live)


CallerDep = Annotated[Caller, Depends(authenticate)]


def set_session_cookie(response: Response, request: Request, settings: AuthSettings,
                       session_id: str) -> None:
    """The session cookie of a sign-in: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(COOKIE, session_id, max_age=int(settings.session_max.total_seconds()),
                        path="/", httponly=True, samesite="lax",
                        secure=is_https(request, settings))


def clear_session_cookie(response: Response, request: Request,
                         settings: AuthSettings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_https(request, settings))


def end_signed_session(engine: Engine, session: LiveSession, request: Request) -> None:
    """End a session on the server and put the sign-out on the audit trail."""
    now = engine.clock.now()
    end_session(engine.db, session.id, now=now)
    record_sign_in_event(engine.db, SIGN_OUT, key=engine.keys.current,
                         login=session.account.login, now=now,
                         person=session.account.person, role=session.account.role,
                         address=client_address(request))


async def refuse_nul(request: Request) -> None:
    """Refuse a request whose query or JSON body holds a NUL character (U+0000): no
    database column can store one, and no user means one. Runs before every route."""
    if "%00" in request.url.query or "\x00" in request.url.path:
        raise InputError("the request's address holds a NUL character (%00), which is "
                         "never valid here; remove it")
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if b"\x00" in body or (b"\\u0000" in body and holds_nul(_json_or_none(body))):
            raise InputError("the request body holds a NUL character (\\u0000), which "
                             "cannot be stored; remove it and send again")


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None  # the route's own parsing says what is wrong with it


MAX_ID = 2_147_483_647  # ids are 32-bit integers on PostgreSQL
IssueId = Annotated[int, Path(ge=1, le=MAX_ID, description="the issue's id")]


def page_issue_id(text: str) -> int | None:
    """The issue id a page's address names, or None (the page answers 404) for anything
    but ASCII digits of an id in range — checked before ``int()``, which refuses a number
    of thousands of digits."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None
