"""The public portal (公众), without sign-in: the disclosure list with the latest checkpoint
digest, each issue's public page, the 公示 list with an objection form and a ticket's status.

What these pages show is what the public JSON API gives (``workflow.api.public``): the
disclosed fields (``policy.PUBLIC_FIELDS`` through ``views.public_views``) of the issues the
disclosure lists, never a person, a contact, a note, evidence or the history's hashes. An
issue the disclosure leaves out answers the same 404 page as one that does not exist.

The objection form has no session to hold a CSRF token, so it carries a double-submit
token instead: the form's page sets a random token in a cookie (SameSite=Strict, HttpOnly,
path ``/public``) and in a hidden field, and a post is taken only when both agree; a page
on another site can neither read the cookie nor have the browser send it. The objection is
received through the same calls as the JSON API (``public.objection_wait`` for the limit
per address, then ``objections.receive``)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from workflow.api.issues import MAX_LIMIT, decode_cursor, encode_cursor
from workflow.api.pages import render
from workflow.api.public import notice_items, objection_wait
from workflow.api.security import client_address, is_https, page_issue_id
from workflow.auth.settings import AuthSettings
from workflow.clock import local
from workflow.errors import InputError, NotFoundError, RectifyError
from workflow.issues import objections, policy, public_reads, queries, views
from workflow.issues.checkpoints import Checkpoint, latest_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles

PAGE = 50
TOKEN_COOKIE = "rectify_public_token"
TOKEN_FIELD = "form_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
STATUS_LABELS = {objections.RECEIVED: "已受理，待答复", "answered": "已答复"}
NOT_DISCLOSED = "未找到该问题：它不存在，或不在信息公开的范围内。"
NEAR_TEXT = 4000  # what a refused form keeps of the text typed
CATEGORIES_FOR = 60.0  # seconds the category drop-down's list is kept
_CATEGORIES: dict[str, tuple[float, list[str]]] = {}


def _states(engine: Engine) -> list[tuple[str, str]]:
    """The states of the rectification process's latest version, in the process's order,
    labelled in Chinese."""
    compiled = engine.registry.latest("rectification")
    return [(state.key, state.label_zh) for state in compiled.definition.states]


def _filters(request: Request) -> dict[str, str | None]:
    """The list's filters the address names (trimmed, at most 200 characters): ``q`` (in
    the title, as the ledger's), ``state`` and ``category``."""
    params = request.query_params
    return {name: (params.get(name) or "").strip()[:200] or None
            for name in ("q", "state", "category")}


def _fingerprint(filters: dict[str, str | None]) -> str:
    """What a cursor of this list carries: the filters it was given for."""
    text = "\x1f".join(filters[name] or "" for name in ("q", "state", "category"))
    return "public-page:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _disclosed_page(engine: Engine, filters: dict[str, str | None], after: int | None,
                    limit: int) -> tuple[list[Any], bool, int]:
    return public_reads.filtered_page(engine.db, public_reads.filtered_clauses(**filters),
                                      after=after, limit=limit)


def _categories(engine: Engine) -> list[str]:
    """The categories of the disclosed issues, sorted: read at most once a minute per
    process (a scan of every issue; the drop-down may lag a new category by that much)."""
    key = engine.db.url
    held = _CATEGORIES.get(key)
    if held is not None and time.monotonic() - held[0] < CATEGORIES_FOR:
        return held[1]
    found = public_reads.categories(engine.db)
    _CATEGORIES[key] = (time.monotonic(), found)
    return found


def _checkpoint(engine: Engine) -> dict[str, Any] | None:
    """The latest signed checkpoint as the list shows it, or None when there is none."""
    found: Checkpoint | None = latest_checkpoint(TrustFiles.for_database(engine.db.url))
    if found is None:
        return None
    return {"seq": found.seq, "at": f"{local(found.at):%Y-%m-%d %H:%M}", "digest": found.digest,
            "root": found.root, "issues": found.issues, "events": found.events}


def _not_found() -> Response:
    return render("public_message.html", 404, title="未找到", heading="未找到",
                  message=NOT_DISCLOSED)


def _limit(request: Request) -> int:
    text = request.query_params.get("limit") or ""
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_LIMIT else PAGE


def _form_token(request: Request) -> str:
    """The caller's double-submit token: the one its cookie holds, or a new one."""
    held = request.cookies.get(TOKEN_COOKIE, "")
    return held if _TOKEN.match(held) else secrets.token_urlsafe(32)


def _with_token(answer: Response, request: Request, token: str) -> Response:
    settings: AuthSettings = request.app.state.auth
    answer.set_cookie(TOKEN_COOKIE, token, max_age=int(timedelta(days=1).total_seconds()),
                      path="/public", httponly=True, samesite="strict",
                      secure=is_https(request, settings))
    return answer


def _span_zh(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, label in ((86400, "天"), (3600, "小时"), (60, "分钟")):
        if seconds % unit == 0:
            return f"{seconds // unit} {label}"
    return f"{seconds} 秒"


def _objection_problems(text: str, contact: str) -> list[str]:
    """What is wrong with an objection as typed, in Chinese, each line saying what is
    allowed (the rules of ``objections.check_text``); none when it may be sent."""
    if "\x00" in text or "\x00" in contact:
        return ["内容含有不可见的控制字符（U+0000），请只填写普通文字。"]
    problems = []
    length = len(text.strip())
    if not objections.TEXT_MIN <= length <= objections.TEXT_MAX:
        problems.append(f"异议内容为 {length} 字；须为 {objections.TEXT_MIN}–"
                        f"{objections.TEXT_MAX} 字（首尾空白不计）。")
    if len(contact.strip()) > objections.CONTACT_MAX:
        problems.append(f"联系方式为 {len(contact.strip())} 字；最多 {objections.CONTACT_MAX}"
                        " 字，也可以不填。")
    return problems


def _notices(engine: Engine) -> list[dict[str, Any]]:
    items = notice_items(engine)
    for item in items:
        item["until_text"] = (f"{datetime.fromisoformat(item['notice_until']):%Y-%m-%d %H:%M}"
                              if item["notice_until"] else None)
    return items


def _ticket_values(view: dict[str, Any]) -> dict[str, Any]:
    outcome = view["outcome"]
    return {**view, "status_label": STATUS_LABELS.get(view["status"], view["status"]),
            "created_text": f"{datetime.fromisoformat(view['created_at']):%Y-%m-%d %H:%M}",
            "answered_text": f"{datetime.fromisoformat(view['answered_at']):%Y-%m-%d %H:%M}"
            if view["answered_at"] else None,
            "outcome_text": outcome["state_label_zh"] + (
                f"（{outcome['stage_label_zh']}）" if outcome["stage_label_zh"] else "")}


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)
    by_id = queries.SORTS[queries.DEFAULT_SORT]

    @routes.get("/public")
    def disclosure(request: Request) -> Response:
        """信息公开: the disclosed issues matching the address's filters, a page at a time
        (``cursor`` for the next), and the latest checkpoint's digest; to htmx (a filter
        changed) the rows only."""
        engine: Engine = request.app.state.engine
        filters = _filters(request)
        limit = _limit(request)
        cursor = (request.query_params.get("cursor") or "")[:1000] or None
        error = None
        try:
            position = decode_cursor(cursor, _fingerprint(filters), by_id)
            found, more, count = _disclosed_page(
                engine, filters, position.after_id if position else None, limit)
        except InputError:
            error = "翻页链接已失效（筛选条件已改变或链接不完整）：已回到第一页。"
            found, more, count = _disclosed_page(engine, filters, None, limit)
        items = views.public_views(engine.db, found, engine.registry, engine.clock.now())
        following = None
        if more and found:
            following = {**{k: v for k, v in filters.items() if v},
                         **({"limit": str(limit)} if limit != PAGE else {}),
                         "cursor": encode_cursor(_fingerprint(filters),
                                                 queries.PagePosition(found[-1].id))}
        rows = {"filters": filters, "items": items, "count": count, "next_query": following,
                "error": error, "paged": cursor is not None and error is None,
                "cap": queries.COUNT_CAP}
        if request.headers.get("hx-request") and not request.headers.get(
                "hx-history-restore-request"):  # htmx swaps the rows only
            return render("public_rows.html", **rows)
        return render("public.html", title="信息公开", here="/public", **rows,
                      states=_states(engine), categories=_categories(engine),
                      checkpoint=_checkpoint(engine))

    @routes.get("/public/issues/{issue_id}")
    def public_issue(request: Request, issue_id: str) -> Response:
        """One disclosed issue's public page; the same 404 page for one not disclosed."""
        engine: Engine = request.app.state.engine
        number = page_issue_id(issue_id)
        if number is None:
            return _not_found()
        try:
            issue = queries.get_issue(engine.db, number)
        except NotFoundError:
            return _not_found()
        if not policy.is_disclosed(issue):
            return _not_found()
        view = views.public_view(engine.db, issue, engine.registry, engine.clock.now())
        step = objections.notice_step(engine.registry, issue)
        until = f"{local(issue.stage_until):%Y-%m-%d %H:%M}" \
            if step is not None and issue.stage_until else None
        return render("public_issue.html", title=f"问题 {view['number'] or view['id']}",
                      here="", issue=view, at_notice=step is not None, notice_until=until)

    @routes.get("/public/notices")
    def notices(request: Request) -> Response:
        """公示: the issues in public notice now, each with its objection form."""
        return _notice_page(request, _form_token(request))

    def _notice_page(request: Request, token: str, *, status: int = 200,
                     failed: int | None = None, messages: list[str] | None = None,
                     entered: dict[str, str] | None = None,
                     alert: str | None = None) -> Response:
        engine: Engine = request.app.state.engine
        answer = render("public_notices.html", status, title="公示", here="/public/notices",
                        items=_notices(engine), token=token, failed=failed,
                        messages=messages or [], entered=entered or {}, alert=alert,
                        text_min=objections.TEXT_MIN, text_max=objections.TEXT_MAX,
                        contact_max=objections.CONTACT_MAX)
        return _with_token(answer, request, token)

    @routes.post("/public/issues/{issue_id}/objections")
    async def send_objection(request: Request, issue_id: str) -> Response:
        """An objection from the 公示 list's form: the double-submit token first, then the
        limit per address, the text, and the issue at its 公示."""
        engine: Engine = request.app.state.engine
        settings: AuthSettings = request.app.state.auth
        form = await request.form()
        held = request.cookies.get(TOKEN_COOKIE, "")
        sent = str(form.get(TOKEN_FIELD) or "")
        if not (_TOKEN.match(held) and secrets.compare_digest(held, sent)):
            return render("public_message.html", 403, title="请求被拒绝", heading="请求被拒绝",
                          message="提交缺少有效的表单令牌，未作任何处理。请打开“公示”页面，"
                                  "在页面上的表单中重新填写并提交。",
                          link=("/public/notices", "前往公示页面"))
        number = page_issue_id(issue_id)
        if number is None:
            return _not_found()
        wait = objection_wait(request)
        if wait is not None:
            until = local(engine.clock.now() + timedelta(seconds=wait))
            answer = render(
                "public_message.html", 429, title="提交过于频繁", heading="提交过于频繁",
                message=f"同一网络地址每 {_span_zh(settings.objection_window)}最多提交 "
                        f"{settings.objection_limit} 条异议，本次未受理。"
                        f"请于 {until:%Y-%m-%d %H:%M}"
                        f"（约 {max(1, -(-wait // 60))} 分钟后）再试。",
                link=("/public/notices", "返回公示页面"))
            answer.headers["Retry-After"] = str(wait)
            return answer
        text = str(form.get("text") or "")
        contact = str(form.get("contact") or "")
        entered = {"text": text[:NEAR_TEXT], "contact": contact[:NEAR_TEXT]}
        problems = _objection_problems(text, contact)
        if problems:
            return _notice_page(request, held, failed=number, messages=problems,
                                entered=entered)
        try:
            received = objections.receive(engine, number, text=text, contact=contact or None,
                                          address=client_address(request))
        except NotFoundError:
            return _not_found()
        except objections.NotAtNoticeError:
            return _notice_page(request, held, alert=(
                f"问题 {number} 当前不在公示期，未受理此异议。只有正在公示（公示中）的问题"
                "可以提出异议；请在下列公示中的问题中选择。"))
        except RectifyError as exc:
            return _notice_page(request, held, failed=number, messages=[f"未能受理：{exc}"],
                                entered=entered)
        issue = queries.get_issue(engine.db, number)
        return render("public_received.html", title="异议已受理", here="",
                      ticket=received.ticket, issue_title=issue.title,
                      created=f"{local(received.created_at):%Y-%m-%d %H:%M}")

    @routes.get("/public/tickets")
    def ticket_lookup(request: Request) -> Response:
        """查询受理编号: the lookup form; with ``number``, that ticket's status page."""
        typed = (request.query_params.get("number") or "").strip()[:objections.TICKET_MAX]
        if not typed:
            return render("public_lookup.html", title="查询受理编号", here="/public/tickets",
                          typed="", error=None)
        wanted = objections.normal_ticket(typed)
        if not objections.TICKET_PATTERN.match(wanted):
            return render("public_lookup.html", title="查询受理编号", here="/public/tickets",
                          typed=typed, error=(
                              f"“{typed}”不是受理编号：受理编号为 2 位数字加 10 位字母或数字，"
                              "共 12 位，如 26K7QH3M9TXA（不区分大小写，可含空格或短横线）。"))
        return RedirectResponse(f"/public/tickets/{wanted}", status_code=303)

    @routes.get("/public/tickets/{number}")
    def ticket(request: Request, number: str) -> Response:
        """A ticket's status: received or answered, the answer if any, where the issue went."""
        engine: Engine = request.app.state.engine
        try:
            view = objections.ticket_view(engine.db, engine.registry,
                                          number[:objections.TICKET_MAX])
        except NotFoundError:
            return render("public_lookup.html", 404, title="未找到受理编号",
                          here="/public/tickets", typed=number[:objections.TICKET_MAX],
                          error="未找到此受理编号，请核对后重新输入（受理编号为 12 位，"
                                "如 26K7QH3M9TXA）。")
        return render("public_ticket.html", title=f"受理编号 {view['ticket']}",
                      here="/public/tickets", ticket=_ticket_values(view))

    return routes
