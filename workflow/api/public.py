"""``/api/v1/public/``: what anyone may read and send without signing in — the disclosure
list (信息公开: ``policy.PUBLIC_FIELDS`` through ``views.public_views``, the issues the
disclosure lists), the issues now in 公示 with the end of the notice, objections to one of
them (a ticket number back; a rate limit per address) and a ticket's status."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from workflow.api.issues import MAX_LIMIT, decode_cursor, encode_cursor
from workflow.api.problems import problem, problem_responses
from workflow.api.security import IssueId, client_address
from workflow.auth.settings import AuthSettings
from workflow.clock import local
from workflow.errors import NotFoundError
from workflow.issues import objections, policy, public_reads, queries, views
from workflow.issues.engine import Engine


class PublicIssue(BaseModel):
    """An issue as disclosed (``policy.PUBLIC_FIELDS``): no people, contacts, notes, evidence
    or history."""

    id: int
    plan: str | None
    number: str | None
    category: str | None
    title: str
    measures: str | None
    unit: str | None
    responsible_units: list[str]
    deadline: str | None = Field(description="整改时限, a date (Asia/Shanghai)")
    long_term: bool
    state: str
    state_label_zh: str
    state_label_en: str
    cleared_on: str | None = Field(description="销号日期, a date, once cleared")


class PublicIssuePage(BaseModel):
    items: list[PublicIssue]
    next_cursor: str | None = Field(description="pass as ``cursor`` for the next page; null "
                                                "on the last")


class NoticeIssue(PublicIssue):
    """An issue in 公示: its disclosed fields, the step and when the notice ends."""

    notice_stage: str
    notice_label_zh: str
    notice_label_en: str
    notice_until: str | None = Field(description="公示截止, Asia/Shanghai")


class NoticeList(BaseModel):
    items: list[NoticeIssue]


class ObjectionIn(BaseModel):
    """An objection (异议) to an issue in 公示."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=objections.TEXT_MAX,
                      description=f"异议内容, {objections.TEXT_MIN}–{objections.TEXT_MAX} "
                                  "characters once trimmed")
    contact: str | None = Field(default=None, max_length=objections.CONTACT_MAX,
                                description="how to reach the sender (optional; kept for the "
                                            "office, never shown back)")


class ObjectionReceived(BaseModel):
    ticket: str = Field(description="异议编号: look the objection up with it")
    status: str
    issue_id: int
    created_at: str


class TicketIssue(BaseModel):
    id: int
    number: str | None
    title: str


class TicketOutcome(BaseModel):
    """Where the objection sent the issue (e.g. back to 待现场核查)."""

    state: str
    state_label_zh: str
    state_label_en: str
    stage: str | None
    stage_label_zh: str | None
    stage_label_en: str | None


class TicketStatus(BaseModel):
    ticket: str
    status: str = Field(description="received, or answered once the office answers")
    created_at: str
    issue: TicketIssue
    outcome: TicketOutcome
    answer: str | None
    answered_at: str | None


# The cursor of the disclosure list carries this in place of a query's fingerprint, so a
# cursor of another list is refused.
PUBLIC_LIST = "public-disclosure"


def _disclosed(engine: Engine, issue_id: int) -> Any:
    issue = queries.get_issue(engine.db, issue_id)
    if not policy.is_disclosed(issue):
        raise NotFoundError(f"issue {issue_id} does not exist")
    return issue


def _retry_after(sent: list[datetime], settings: AuthSettings, now: datetime) -> int | None:
    """Seconds until the address may send again; None while it is under the limit."""
    if len(sent) < settings.objection_limit:
        return None
    frees = sent[-settings.objection_limit] + settings.objection_window
    return max(1, int((frees - now) / timedelta(seconds=1)) + 1)


def objection_wait(request: Request) -> int | None:
    """Seconds until the caller's address may send another objection (at most
    ``objection_limit`` per ``objection_window``, ``RECTIFY_OBJECTION_LIMIT``); None while it
    is under the limit. The JSON route and the portal's form both ask it first."""
    engine: Engine = request.app.state.engine
    settings: AuthSettings = request.app.state.auth
    now = engine.clock.now()
    sent = objections.sent_since(engine.db, objections.address_hash(client_address(request)),
                                 now - settings.objection_window)
    return _retry_after(sent, settings, now)


def notice_items(engine: Engine) -> list[dict[str, Any]]:
    """The issues now in 公示: their disclosed fields, the step and when the notice ends
    (``notice_until``, Asia/Shanghai, ISO 8601)."""
    found = objections.at_notice(engine.db, engine.registry)
    items = []
    for issue, view in zip(found, views.public_views(engine.db, found, engine.registry,
                                                     engine.clock.now()), strict=True):
        step = objections.notice_step(engine.registry, issue)
        assert step is not None  # at_notice found it there
        items.append({**view, "notice_stage": step.stage,
                      "notice_label_zh": step.label_zh, "notice_label_en": step.label_en,
                      "notice_until": local(issue.stage_until).isoformat()
                      if issue.stage_until else None})
    return items


def router() -> APIRouter:
    """The public routes (no sign-in)."""
    by_id = queries.SORTS[queries.DEFAULT_SORT]
    routes = APIRouter(prefix="/public", tags=["public"])

    @routes.get("/issues", summary="The disclosure list (信息公开)",
                response_model=PublicIssuePage, responses=problem_responses(422))
    def list_public(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        page: Annotated[str | None, Query(alias="cursor", max_length=1000)] = None,
    ) -> dict[str, Any]:
        """The issues the disclosure lists, their disclosed fields only, in id order:
        ``limit`` per page and ``next_cursor`` for the next."""
        engine: Engine = request.app.state.engine
        position = decode_cursor(page, PUBLIC_LIST, by_id)
        found, more = public_reads.disclosed_page(
            engine.db, after=position.after_id if position else None, limit=limit)
        return {"items": views.public_views(engine.db, found, engine.registry,
                                            engine.clock.now()),
                "next_cursor": encode_cursor(PUBLIC_LIST, queries.PagePosition(found[-1].id))
                if more and found else None}

    @routes.get("/issues/{issue_id}", summary="One disclosed issue",
                response_model=PublicIssue, responses=problem_responses(404, 422))
    def show_public(request: Request, issue_id: IssueId) -> dict[str, Any]:
        """One issue's disclosed fields; 404 for none (or one the disclosure leaves out)."""
        engine: Engine = request.app.state.engine
        issue = _disclosed(engine, issue_id)
        return views.public_view(engine.db, issue, engine.registry, engine.clock.now())

    @routes.get("/notices", summary="Issues in 公示 now", response_model=NoticeList)
    def list_notices(request: Request) -> dict[str, Any]:
        """The issues now at their definition's public-notice step (公示, where the public
        may object), with their disclosed fields and when the notice ends
        (``notice_until``, Asia/Shanghai)."""
        return {"items": notice_items(request.app.state.engine)}

    @routes.post("/issues/{issue_id}/objections", status_code=201,
                 summary="Object to an issue in 公示", response_model=ObjectionReceived,
                 responses=problem_responses(404, 422, 429))
    def send_objection(request: Request, issue_id: IssueId, body: ObjectionIn) -> Any:
        """Send an objection (异议) while the issue is in 公示: it goes on the issue's
        history (sending it back to the site check) and the answer is a ticket number to
        look it up by. 422 when the issue is not in 公示, saying when objections are
        accepted; 429 with Retry-After beyond the limit per address
        (``RECTIFY_OBJECTION_LIMIT``)."""
        engine: Engine = request.app.state.engine
        settings: AuthSettings = request.app.state.auth
        wait = objection_wait(request)
        if wait is not None:
            return problem(429, "too-many-objections", "异议提交过于频繁 / too many objections",
                           f"at most {settings.objection_limit} objections per "
                           f"{settings.objection_window} from one address; try again in "
                           f"{wait} s", request, {"Retry-After": str(wait)})
        received = objections.receive(engine, issue_id, text=body.text, contact=body.contact,
                                      address=client_address(request))
        return JSONResponse({"ticket": received.ticket, "status": objections.RECEIVED,
                             "issue_id": received.issue_id,
                             "created_at": local(received.created_at).isoformat()},
                            status_code=201)

    @routes.get("/objections/{ticket}", summary="An objection's status",
                response_model=TicketStatus, responses=problem_responses(404))
    def show_ticket(request: Request,
                    ticket: Annotated[str, Path(max_length=objections.TICKET_MAX)]
                    ) -> dict[str, Any]:
        """What became of an objection: its status, when it was received, the issue's id,
        number and title, and where the issue went (back to the site check). Never the
        sender's address or contact."""
        engine: Engine = request.app.state.engine
        return objections.ticket_view(engine.db, engine.registry, ticket)

    return routes
