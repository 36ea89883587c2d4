"""The issue pages: 一案一档 (the facts, the light with its reason, milestones, monthly
reports and the timeline with each event's hash and evidence) and the forms of what the
signed-in person may do there — fire a transition (evidence uploaded with progress, the
checklist answered item by item, the 公示 countdown), report a month, reach a milestone,
instruct (批示); the office's form to create and assign an issue; and the inbox of a unit
or an acceptance unit, most urgent first.

Every form posts to a page route here that calls the same domain functions as the API and
the CLI: the rules are theirs. A refused action shows the guard's messages on the page,
with what was typed kept, and changes nothing; a success answers with a redirect to the
issue page (so a reload never posts twice). A form carries the CSRF token of the session
and the version of the issue the page showed: a change made meanwhile is not overwritten."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from workflow.api.pages import (
    csrf_refusal,
    frame,
    render,
    sign_in_again,
    signed_in,
)
from workflow.api.security import actor_of, page_issue_id
from workflow.auth.sessions import LiveSession
from workflow.clock import local
from workflow.errors import (
    ActionDeniedError,
    ConflictError,
    InputError,
    NotFoundError,
    OutOfScopeError,
    PermissionDeniedError,
    RectifyError,
    RequirementError,
)
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine, NewIssue
from workflow.org.actors import Actor
from workflow.org.directory import people, sectors_of, units

URGENCY = {"red": 0, "yellow": 1, "blue": 2, "green": 3}
TEXT_MAX = 5000


def refusal(exc: RectifyError) -> tuple[int, list[str]]:
    """The HTTP status and the lines a page shows for a refused action: the guard's own
    lines in Chinese, or a Chinese lead with the engine's message. A form filled in wrong
    or overtaken by another change is answered 200 with the form again (as a form page
    is); a request the person may not make is 403."""
    if isinstance(exc, RequirementError):
        return 200, exc.problems_zh
    if isinstance(exc, ConflictError):
        return 200, ["此问题已被他人更新，页面已刷新为最新情况，请确认后重新办理。"]
    if isinstance(exc, ActionDeniedError | PermissionDeniedError):
        return 403, [f"您无权办理此操作。（{exc}）"]
    if isinstance(exc, OutOfScopeError):
        return 403, [f"此问题不在您的职责范围内。（{exc}）"]
    if isinstance(exc, NotFoundError):
        return 404, [f"未找到。（{exc}）"]
    return 200, [f"未能办理：{exc}"]


def _text(form: FormData, name: str, limit: int = TEXT_MAX) -> str:
    return str(form.get(name) or "").strip()[:limit]


def _timeline(engine: Engine, issue: Any) -> list[dict[str, Any]]:
    states, verbs = views.event_labels(engine.registry, issue.definition_id,
                                       issue.definition_version)
    return [{"seq": e.seq, "at": f"{local(e.at):%Y-%m-%d %H:%M}",
             "verb": verbs.get(e.trigger, e.trigger), "actor": e.actor,
             "change": (f"{states.get(e.from_state, e.from_state)} → " if e.from_state
                        else "") + states.get(e.to_state, e.to_state),
             "comment": e.comment, "hash": e.hash,
             "evidence": (e.payload or {}).get("evidence", [])}
            for e in queries.history(engine.db, issue.id)]


def issue_values(request: Request, live: LiveSession, issue: Any) -> dict[str, Any]:
    """Everything the issue page shows of ``issue`` to the signed-in person."""
    from workflow.supervision.monthly_reports import report_view, reports

    engine: Engine = request.app.state.engine
    actor = actor_of(engine, live)
    now = engine.clock.now()
    view = views.issue_view(engine.db, issue, engine.registry, now)
    history = policy.may_take(actor, policy.READ_HISTORY)
    actions = views.actions_for(actor, issue, engine.registry,
                                sectors=sectors_of(engine.db, actor))
    for action in actions:
        until = action["requires"]["not_before"]
        if until:
            ends = local(issue.stage_until)
            action["wait_days"] = max((ends.date() - local(now).date()).days, 0)
            action["open"] = now >= issue.stage_until
            action["until_text"] = f"{ends:%Y-%m-%d %H:%M}"
    compiled = engine.registry.get(issue.definition_id, issue.definition_version)
    state = compiled.definition.state(issue.state)
    open_issue = not (state.completed or state.terminal)
    may_read = queries.readable(engine.db, actor)
    children = queries.subtasks(engine.db, issue.id)
    split_units = [u for u in issue.cooperating_units or []
                   if u not in {c.unit for c in children}]
    parent = queries.get_issue(engine.db, issue.parent_id) if issue.parent_id else None
    return {
        **frame(request, live), "title": f"问题 {view['number'] or issue.id}", "issue": view,
        "reason": views.light_reason(view, engine.registry, engine.calendar, now),
        "events": _timeline(engine, issue) if history else None,
        "reports": [report_view(r) for r in reports(engine, issue.id)] if history else [],
        "actions": actions, "month": f"{local(now):%Y-%m}",
        "may_report": open_issue and policy.may_take(actor, policy.REPORT_PROGRESS)
        and _may_act(engine, actor, issue),
        "may_reach": open_issue and policy.may_take(actor, policy.REACH_MILESTONE)
        and _may_act(engine, actor, issue),
        "may_instruct": policy.may_take(actor, policy.INSTRUCT)
        and _may_act(engine, actor, issue),
        "may_upload": policy.may_take(actor, policy.UPLOAD_EVIDENCE),
        "stage_until": f"{local(issue.stage_until):%Y-%m-%d %H:%M}"
        if issue.stage_until else None,
        "stage_over": issue.stage_until is not None and now >= issue.stage_until,
        "stage_days_left": max((local(issue.stage_until).date() - local(now).date()).days, 0)
        if issue.stage_until else None,
        "may_notice": actor.role in ("office", "leader") and view["light"] != "green",
        "subtasks": views.issue_views(engine.db, [c for c in children if may_read(c)],
                                      engine.registry, now),
        "parent": parent if parent is not None and may_read(parent) else None,
        "split_units": split_units if open_issue and policy.may_take(actor, policy.SPLIT_ISSUE)
        and _may_act(engine, actor, issue) else [],
        "failed": None, "messages": [], "entered": {}, "done": None,
    }


def _may_act(engine: Engine, actor: Actor, issue: Any) -> bool:
    try:
        policy.check_act_scope(actor, issue, issue_id=issue.id, action="act",
                               sectors=sectors_of(engine.db, actor))
    except OutOfScopeError:
        return False
    return True


def _readable(request: Request, live: LiveSession, issue_id: int | None) -> Any:
    """The issue when the signed-in person may read it; None otherwise (the same 404)."""
    if issue_id is None:
        return None
    engine: Engine = request.app.state.engine
    try:
        issue = queries.get_issue(engine.db, issue_id)
        queries.check_readable(engine.db, actor_of(engine, live), issue)
    except RectifyError:
        return None
    return issue


def _not_found(request: Request, live: LiveSession, text: str) -> Response:
    return render("notfound.html", 404, title="未找到", message=f"问题 {text[:20]} 不存在。",
                  **frame(request, live))


async def _signed_form(request: Request) -> Response | tuple[LiveSession, FormData]:
    """The signed-in person and the form they posted, or the answer when either is
    missing: sign in again, or the CSRF refusal."""
    live = signed_in(request)
    if live is None:
        return sign_in_again()
    form = await request.form()
    if (refused := csrf_refusal(request, live, form)) is not None:
        return refused
    return live, form


async def _posted(request: Request, issue_id: str,
                  ) -> Response | tuple[LiveSession, FormData, Any]:
    """The signed-in person, the form and the issue a form on its page posted, or the
    answer when one of them is missing: sign in again, the CSRF refusal, not found."""
    signed = await _signed_form(request)
    if isinstance(signed, Response):
        return signed
    live, form = signed
    issue = _readable(request, live, page_issue_id(issue_id))
    if issue is None:
        return _not_found(request, live, issue_id)
    return live, form, issue


def _refused(request: Request, live: LiveSession, issue_id: int, failed: str,
             exc: RectifyError, entered: dict[str, Any]) -> Response:
    engine: Engine = request.app.state.engine
    status, lines = refusal(exc)
    issue = queries.get_issue(engine.db, issue_id)
    values = issue_values(request, live, issue)
    values.update(failed=failed, messages=lines, entered=entered)
    return render("issue.html", status, **values)


def _done(issue_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(f"/issues/{issue_id}?done={what}#result", status_code=303)


def _checklist(form: FormData, action: dict[str, Any]) -> dict[str, Any] | None:
    items = action["requires"]["checklist"]
    if not items:
        return None
    answers: dict[str, Any] = {}
    for item in items:
        answer = _text(form, f"check_{item['key']}", 10)
        note = _text(form, f"note_{item['key']}", 1000)
        answers[item["key"]] = {"answer": answer, "note": note} if answer else ""
    return answers


def router() -> APIRouter:
    """The issue pages and their forms (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/issues/new")
    def new_issue_page(request: Request) -> Response:
        live = signed_in(request)
        if live is None:
            return sign_in_again()
        return _new_issue_form(request, live)

    @routes.post("/issues/new")
    async def create_issue(request: Request) -> Response:
        """Create and assign (交办) an issue: the office only."""
        signed = await _signed_form(request)
        if isinstance(signed, Response):
            return signed
        live, form = signed
        engine: Engine = request.app.state.engine
        entered = {name: _text(form, name) for name in
                   ("title", "number", "category", "plan", "unit", "leader",
                    "acceptance_unit", "deadline", "measures", "target")}
        cooperating = tuple(dict.fromkeys(str(v)[:200] for v in form.getlist("cooperating")
                                          if str(v).strip()))
        entered["cooperating"] = cooperating  # type: ignore[assignment]
        try:
            deadline = None
            if entered["deadline"]:
                try:
                    deadline = date.fromisoformat(entered["deadline"])
                except ValueError:
                    raise InputError("整改时限须为日期，如 2027-06-30") from None
            if not entered["title"]:
                raise InputError("请填写反馈问题（标题）")
            new = NewIssue(title=entered["title"], number=entered["number"] or None,
                           category=entered["category"] or None,
                           plan=entered["plan"] or None, unit=entered["unit"] or None,
                           leader=entered["leader"] or None,
                           acceptance_unit=entered["acceptance_unit"] or None,
                           measures=entered["measures"] or None,
                           target=entered["target"] or None, deadline=deadline,
                           long_term=form.get("long_term") == "1",
                           cooperating_units=cooperating)
            issue_id = engine.create_issue(new, actor=actor_of(engine, live))
        except RectifyError as exc:
            status, lines = refusal(exc)
            return _new_issue_form(request, live, status=status, messages=lines,
                                   entered=entered)
        return _done(issue_id, "create")

    @routes.get("/issues/{issue_id}")
    def issue_page(request: Request, issue_id: str, done: str | None = None) -> Response:
        """一案一档: outside the person's scope, or not there, 404."""
        live = signed_in(request)
        if live is None:
            return sign_in_again()
        issue = _readable(request, live, page_issue_id(issue_id))
        if issue is None:
            return _not_found(request, live, issue_id)
        values = issue_values(request, live, issue)
        if done:
            labels = {a["trigger"]: a["label_zh"] for a in _all_transitions(request, issue)}
            labels.update(create="交办", report="月度进展报送", milestone="节点完成",
                          instruct="批示", split="拆分配合任务")
            values["done"] = labels.get(done[:40], "操作")
        return render("issue.html", **values)

    @routes.post("/issues/{issue_id}/act/{trigger}")
    async def act(request: Request, issue_id: str, trigger: str) -> Response:
        """Fire ``trigger`` with the form's comment, evidence, checklist and fields, at the
        version the page showed."""
        posted = await _posted(request, issue_id)
        if isinstance(posted, Response):
            return posted
        live, form, issue = posted
        engine: Engine = request.app.state.engine
        actor = actor_of(engine, live)
        trigger = trigger[:64]
        entered = {"comment": _text(form, "comment"),
                   **{k: str(v)[:1000] for k, v in form.items()
                      if k.startswith(("check_", "note_", "field_"))}}
        action = next((a for a in views.actions_for(actor, issue, engine.registry,
                                                    sectors=sectors_of(engine.db, actor))
                       if a["trigger"] == trigger), None)
        try:
            version = int(str(form.get("version") or "0"))
            if action is None:  # not this person's, or not now: the engine says which
                roles = _firing_roles(request, issue, trigger)
                if actor.role not in roles:
                    raise ActionDeniedError(action=f"fire '{trigger}'", role=actor.role,
                                            roles=roles)
                engine.fire(issue.id, trigger, actor=actor, comment=entered["comment"],
                            expected_version=version)
            else:
                refs = [engine.evidence.stored(str(v)[:64], str(v)[65:][:255] or str(v)[:64])
                        for v in form.getlist("evidence") if len(str(v)) >= 64][:50]
                fields = {name: _text(form, f"field_{name}", 200)
                          for name in action["requires"]["fields"]}
                engine.fire(issue.id, trigger, actor=actor, comment=entered["comment"],
                            evidence=refs, checklist=_checklist(form, action),
                            fields=fields or None, expected_version=version)
        except ValueError:
            return _refused(request, live, issue.id, trigger,
                            InputError("页面缺少问题版本号，请刷新后重试"), entered)
        except RectifyError as exc:
            return _refused(request, live, issue.id, trigger, exc, entered)
        return _done(issue.id, trigger)

    @routes.post("/issues/{issue_id}/report")
    async def report_month(request: Request, issue_id: str) -> Response:
        """A monthly report (月度进展) of the issue's unit or the office."""
        from workflow.supervision.monthly_reports import NewProgress, report

        return await _note_form(request, issue_id, "report", lambda engine, issue, form, actor:
                                report(engine, issue.id, NewProgress(
                                    _text(form, "month", 7), _text(form, "text"),
                                    _percent(form), form.get("on_schedule") == "1"),
                                    actor=actor))

    @routes.post("/issues/{issue_id}/milestone")
    async def reach(request: Request, issue_id: str) -> Response:
        """A milestone (阶段性节点) reached."""
        return await _note_form(request, issue_id, "milestone",
                                lambda engine, issue, form, actor: engine.reach_milestone(
                                    issue.id, _text(form, "name", 200), actor=actor,
                                    comment=_text(form, "text") or None))

    @routes.post("/issues/{issue_id}/split")
    async def split(request: Request, issue_id: str) -> Response:
        """Split the issue: a sub-task (配合任务) for each cooperating unit ticked."""
        return await _note_form(request, issue_id, "split",
                                lambda engine, issue, form, actor: engine.create_subtasks(
                                    issue.id, actor=actor, units=_split_units(form)))

    @routes.post("/issues/{issue_id}/instruct")
    async def instruct(request: Request, issue_id: str) -> Response:
        """A leader's instruction (批示), sent to the issue's units."""
        from workflow.supervision.instructions import instruct as give

        return await _note_form(request, issue_id, "instruct",
                                lambda engine, issue, form, actor: give(
                                    engine, issue.id, _text(form, "text"), actor=actor))

    async def _note_form(request: Request, issue_id: str, what: str, run: Any) -> Response:
        posted = await _posted(request, issue_id)
        if isinstance(posted, Response):
            return posted
        live, form, issue = posted
        engine: Engine = request.app.state.engine
        entered = {k: str(v)[:TEXT_MAX] for k, v in form.items() if k != "csrf_token"}
        try:
            run(engine, issue, form, actor_of(engine, live))
        except RectifyError as exc:
            return _refused(request, live, issue.id, what, exc, entered)
        return _done(issue.id, what)

    @routes.get("/inbox")
    def inbox(request: Request) -> Response:
        """My issues, most urgent first: for a unit the issues it works on, for an
        acceptance unit the site checks due."""
        live = signed_in(request)
        if live is None:
            return sign_in_again()
        engine: Engine = request.app.state.engine
        actor = actor_of(engine, live)
        now = engine.clock.now()
        query = queries.LedgerQuery(step="applied") if actor.role == "acceptor" else \
            queries.LedgerQuery()
        found = queries.ledger_page(engine.db, engine.registry, query, actor=actor,
                                    sort="due_at,id", position=None, limit=200, now=now)
        items = [v for v in views.issue_views(engine.db, found.issues, engine.registry, now)
                 if v["light"] != "green" or v["state"] not in ("cleared", "follow_up")]
        items.sort(key=lambda v: (URGENCY.get(v["light"], 9), v["due"] or "9999", v["id"]))
        for item in items:
            item["reason"] = views.light_reason(item, engine.registry, engine.calendar, now)
        title = "验收待办" if actor.role == "acceptor" else "我的待办"
        return render("inbox.html", title=title, items=items, acceptor=actor.role == "acceptor",
                      **frame(request, live))

    return routes


def _split_units(form: FormData) -> list[str]:
    chosen = [str(v)[:200] for v in form.getlist("unit") if str(v).strip()]
    if not chosen:
        raise InputError("请至少勾选一个配合单位")
    return chosen


def _percent(form: FormData) -> int:
    text = _text(form, "percent", 4)
    if not text.isdigit():
        raise InputError("完成进度须为0到100之间的整数")
    return int(text)


def _firing_roles(request: Request, issue: Any, trigger: str) -> list[str]:
    """The roles that fire ``trigger`` anywhere in the issue's definition: a page gone
    stale may still show it to them; a crafted request from another role is refused."""
    engine: Engine = request.app.state.engine
    compiled = engine.registry.get(issue.definition_id, issue.definition_version)
    return sorted({role for t in compiled.definition.transitions if t.trigger == trigger
                   for role in t.roles})


def _all_transitions(request: Request, issue: Any) -> list[dict[str, str]]:
    engine: Engine = request.app.state.engine
    compiled = engine.registry.get(issue.definition_id, issue.definition_version)
    return [{"trigger": t.trigger, "label_zh": t.label_zh}
            for t in compiled.definition.transitions]


def _new_issue_form(request: Request, live: LiveSession, *, status: int = 200,
                    messages: list[str] | None = None,
                    entered: dict[str, str] | None = None) -> Response:
    engine: Engine = request.app.state.engine
    actor = actor_of(engine, live)
    if not policy.may_take(actor, policy.CREATE_ISSUE):
        return render("notfound.html", 403, title="无权访问",
                      message="只有整改办可以新建和交办问题。", **frame(request, live))
    everyone = people(engine.db)
    return render("new_issue.html", status, title="新建问题", **frame(request, live),
                  units=sorted(u.name for u in units(engine.db)),
                  leaders=sorted(p.name for p in everyone if "leader" in (p.roles or [])),
                  messages=messages or [], entered=entered or {})
