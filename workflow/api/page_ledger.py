"""The ledger page (台账): the issues the signed-in person may read, filtered by every field
of the ledger query, sorted by one of its orders and paged by keyset (下一页 carries the
cursor of ``GET /api/v1/issues``); the count beside it (capped at 10,000); the xlsx export
of exactly what is filtered; and for the office the saved views (保存的筛选) and 一键催办.

The filter and the sort live in the address: htmx swaps the rows and pushes the address,
so a link reproduces the view and tabs never share it. Drop-downs offer the definitions'
states, steps and lights in process order and the directory's and plans' names sorted.
A wrong value in the address, or a cursor given for another view, is told on the page in
Chinese; nothing is queried with it.

Only the office saves and deletes views and chases (一键催办: ``supervision.chase``); the
other roles get neither form, and a crafted request from them is refused (403)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData, QueryParams

from workflow.api import i18n
from workflow.api.documents import DOWNLOAD, XLSX
from workflow.api.issues import decode_cursor, encode_cursor
from workflow.api.security import CSRF_REFUSED, actor_of, client_address
from workflow.audit import AuditEntry, append_audit
from workflow.auth.sessions import LiveSession
from workflow.clock import local
from workflow.errors import InputError, NotFoundError, RectifyError
from workflow.issues import policy, queries, saved_filters, views
from workflow.issues.checkpoints import latest_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles
from workflow.models import Issue
from workflow.org.actors import Actor
from workflow.org.directory import OfficeAct, people, units
from workflow.org.plans import plans
from workflow.spec.timers import LIGHT_LABELS

PAGE = 50
EXPORT_BATCH = 500
OFFICE = "office"
CURSOR_MAX = 1000
# The orders of the ledger query (``queries.SORTS``), as the page names them.
SORT_LABELS = {
    "id": "编号（先建在前）", "-id": "编号（后建在前）", "number,id": "序号",
    "deadline_at,id": "整改时限（早的在前）", "-deadline_at,-id": "整改时限（晚的在前）",
    "due_at,id": "当前期限（早的在前）", "-due_at,-id": "当前期限（晚的在前）",
}
# Column headers that sort: the order a click gives, and the one after it.
HEADER_SORTS = {"number": ("number,id", "number,id"),
                "deadline": ("deadline_at,id", "-deadline_at,-id"),
                "due": ("due_at,id", "-due_at,-id")}
YES_NO = (("1", "是"), ("0", "否"))
FLAG_LABELS = {"overdue": "是否超期", "long_term": "长期坚持", "key_supervision": "重点督办"}
TEXT_FILTERS = ("state", "step", "light", "unit", "leader", "plan", "category", "q")
YES_NO_FILTERS = ("overdue", "long_term", "key_supervision")
BAD_CURSOR = "翻页位置无效或已失效（筛选条件或排序已改变，或链接不完整），请回到第一页重新查看。"


@dataclass(frozen=True)
class Shown:
    """A page to render: the template, the status and the values (the page routes add the
    frame around it: ``pages.frame``)."""

    template: str
    status: int
    values: dict[str, Any]


Answer = Response | Shown


def _query(params: Mapping[str, str]) -> queries.LedgerQuery:
    """The ledger filters ``params`` name (``pages.ledger_query``'s rules: text trimmed, at
    most 200 characters; the yes/no ones 1 or 0)."""
    text = {name: (params.get(name) or "").strip()[:200] or None for name in TEXT_FILTERS}
    flags = {name: {"1": True, "0": False}.get(params.get(name) or "")
             for name in YES_NO_FILTERS}
    return queries.LedgerQuery(**text, **flags)


def _choices(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """What each drop-down offers, as (value, label): states and steps of the latest
    rectification process in process order, lights from green to red (labelled in the
    page's language), units, leaders, plans and categories sorted by name."""
    compiled = engine.registry.latest("rectification")
    english = i18n.current.get() == "en"

    def named_as(spec: Any) -> str:
        return spec.label_en if english and spec.label_en else spec.label_zh

    states = [(s.key, named_as(s)) for s in compiled.definition.states]
    steps = list({stage.key: (stage.key, f"{named_as(stage)}（{named_as(state)}）")
                  for state in compiled.definition.states for stage in state.stages}.values())
    found_plans = plans(engine.db)
    categories = sorted({c for plan in found_plans for c in plan.categories or []})

    def named(names: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(set(names))]

    return {"state": states, "step": steps,
            "light": [(key, labels[1 if english else 0]) for key, labels in LIGHT_LABELS.items()],
            "unit": named(u.name for u in units(engine.db)),
            "leader": named(p.name for p in people(engine.db) if "leader" in (p.roles or [])),
            "plan": named(p.name for p in found_plans), "category": named(categories)}


def _refused_filters(query: queries.LedgerQuery, choices: Mapping[str, list[tuple[str, str]]],
                     engine: Engine) -> list[str]:
    """What is wrong with the address's state, step or light, in Chinese (each names the
    values allowed)."""
    problems = []
    allowed = {"state": lambda: queries.allowed_states(engine.db, engine.registry),
               "step": lambda: queries.allowed_steps(engine.db, engine.registry),
               "light": lambda: list(LIGHT_LABELS)}
    names = {"state": "整改状态", "step": "办理环节", "light": "亮灯"}
    for field, label in names.items():
        value = getattr(query, field)
        if value is not None and value not in allowed[field]():
            offered = "、".join(text for _, text in choices[field]) or "无"
            problems.append(f"{label}“{value}”不存在；可选：{offered}。")
    return problems


def ledger_values(request: Request, live: LiveSession, params: Mapping[str, str],
                  ) -> tuple[int, dict[str, Any]]:
    """The status and the values of the ledger page for the view ``params`` name (filters,
    ``sort``, ``cursor`` and the page number ``p``)."""
    engine: Engine = request.app.state.engine
    actor = actor_of(engine, live)
    query = _query(params)
    choices = _choices(engine)
    for name in ("unit", "leader", "category", "plan"):  # a name from a link, kept shown
        value = getattr(query, name)
        if value is not None and value not in {v for v, _ in choices[name]}:
            choices[name] = sorted([*choices[name], (value, value)])
    sort = (params.get("sort") or queries.DEFAULT_SORT).strip()
    cursor = (params.get("cursor") or "").strip()[:CURSOR_MAX] or None
    number = params.get("p") or "1"
    page_number = int(number) if number.isdigit() and 0 < int(number) < 10**6 else 1
    shown = saved_filters.clean_query(urlencode(
        [(k, v) for k, v in params.items() if k != "cursor"]))
    problems = _refused_filters(query, choices, engine)
    if sort not in queries.SORTS:
        problems.append(f"排序方式“{sort[:50]}”不可用；可选：{'、'.join(SORT_LABELS.values())}。")
    items: list[dict[str, Any]] = []
    count, capped, next_link, bad_cursor = 0, False, None, False
    now = engine.clock.now()
    if not problems:
        order = queries.SORTS[sort]
        fingerprint = query.fingerprint(sort)
        try:
            position = decode_cursor(cursor, fingerprint, order)
        except InputError:
            position, bad_cursor = None, True
            problems.append(BAD_CURSOR)
        if not bad_cursor:
            try:
                found = queries.ledger_page(engine.db, engine.registry, query, actor=actor,
                                            sort=sort, position=position, limit=PAGE, now=now)
                count, capped = queries.ledger_count(engine.db, engine.registry, query,
                                                     actor=actor, now=now)
            except RectifyError as exc:
                problems.append(f"查询未能完成：{exc}")
            else:
                items = views.issue_views(engine.db, found.issues, engine.registry, now)
                if found.next_position is not None:
                    next_link = _link(shown, cursor=encode_cursor(fingerprint,
                                                                  found.next_position),
                                      p=str(page_number + 1))
    office = live.account.role == OFFICE
    first = (page_number - 1) * PAGE + 1 if cursor and not problems else 1
    values = {
        "title": "台账", "query": query, "sort": sort,
        "sorts": list(SORT_LABELS.items()), "choices": choices, "yes_no": YES_NO,
        "flag_labels": FLAG_LABELS, "items": items, "count": count, "capped": capped,
        "cap": queries.COUNT_CAP, "problems": problems, "bad_cursor": bad_cursor,
        "page": PAGE, "page_number": page_number if cursor and not problems else 1,
        "first_row": first, "last_row": first + len(items) - 1,
        "next_link": next_link, "first_link": _link(shown) if cursor else None,
        "shown_query": shown, "header_links": _header_links(shown, sort),
        "office": office, "may_export": policy.may_take(actor, policy.EXPORT_LEDGER),
        "saved": saved_filters.saved_filters(engine.db) if office else [],
        "chase": None, "save_problem": None, "entered_name": "",
        "now_text": f"{local(now):%Y-%m-%d %H:%M}",
    }
    return (400 if problems else 200), values


def _link(shown: str, **extra: str) -> str:
    parts = [shown] if shown else []
    if extra:
        parts.append(urlencode(extra))
    return "/ledger" + ("?" + "&".join(parts) if parts else "")


def _header_links(shown: str, sort: str) -> dict[str, str]:
    """The address each sortable column header leads to: its order, or its other
    direction when the ledger is sorted by it already."""
    kept = [(k, v) for k, v in QueryParams(shown).multi_items() if k != "sort"]
    links = {}
    for column, (first, other) in HEADER_SORTS.items():
        wanted = other if sort == first else first
        links[column] = "/ledger?" + urlencode([*kept, ("sort", wanted)])
    return links


def _back(form: FormData) -> QueryParams:
    """The view a form was posted from (its ``back`` field: the page's query)."""
    return QueryParams(saved_filters.clean_query(str(form.get("back") or "")[:4000]))


def _forbidden(message: str) -> Shown:
    return Shown("notfound.html", 403, {"title": "请求被拒绝", "message": message})


def _checked(live: LiveSession, form: FormData) -> Shown | None:
    """A refusal page when the form lacks the session's CSRF token or the person is not
    the office (403); None when the form may be acted on."""
    if not live.csrf_matches(str(form.get("csrf_token") or "")):
        return _forbidden(CSRF_REFUSED)
    if live.account.role != OFFICE:
        return _forbidden("只有整改办可以办理此操作（一键催办、保存或删除筛选），"
                                         "未作任何更改。")
    return None


def _chase_result(engine: Engine, report: Any) -> dict[str, Any]:
    """What the page says of a chase: how many were chased, which were chased already today
    (序号), which have no unit, and the units without a contact."""
    ids = [*report.already, *report.no_unit]
    numbers: dict[int, str] = {}
    if ids:
        with engine.db.session() as session:
            numbers = {issue_id: number or str(issue_id) for issue_id, number in session.execute(
                select(Issue.id, Issue.number).where(Issue.id.in_(ids)))}
    return {"chased": len(report.chased), "already": len(report.already),
            "already_numbers": [numbers.get(i, str(i)) for i in report.already],
            "no_unit": [numbers.get(i, str(i)) for i in report.no_unit],
            "no_contact": sorted(report.no_contact)}


def ledger(request: Request, live: LiveSession) -> Answer:
    """The ledger the signed-in person may read, as the address says."""
    status, values = ledger_values(request, live, request.query_params)
    return Shown("ledger.html", status, values)


def export(request: Request, live: LiveSession) -> Answer:
    """Exactly the filtered view as the office's xlsx ledger (``export_ledger``, at most
    10,000 issues), the download on the audit trail as the API's are."""
    from workflow.documents.ledger_export import export_ledger

    engine: Engine = request.app.state.engine
    actor = actor_of(engine, live)
    if not policy.may_take(actor, policy.EXPORT_LEDGER):
        return _forbidden("只有整改办和纪检监察机关可以导出台账。")
    status, values = ledger_values(request, live, request.query_params)
    if status != 200:
        return Shown("ledger.html", status, values)
    if values["capped"]:
        values["problems"] = [f"符合条件的问题超过 {queries.COUNT_CAP} 项，无法导出；"
                              "请缩小筛选范围后再导出。"]
        return Shown("ledger.html", 400, values)
    issues = _all_issues(engine, actor, request.query_params)
    with TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.xlsx"
        export_ledger(engine, path, issues=issues, checkpoint=latest_checkpoint(
            TrustFiles.for_database(engine.db.url)))
        body = path.read_bytes()
    entry = AuditEntry(actor.name, actor.role, actor.os_user, DOWNLOAD, "ledger.xlsx", {
        "address": client_address(request), "via": "page", "query": values["shown_query"],
        "issues": len(issues)})
    with engine.db.session(write=True) as session:
        append_audit(session, entry, at=engine.clock.now(), key=engine.keys.current)
    name = f"整改台账-{local(engine.clock.now()):%Y%m%d-%H%M}.xlsx"
    return Response(body, media_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff"})


async def chase_units(request: Request, live: LiveSession) -> Answer:
    """一键催办 of the ticked issues (the office only): for htmx the result alone, else the
    ledger with it."""
    from workflow.supervision.chase import CHASE_MAX, chase

    form = await request.form()
    if (refused := _checked(live, form)) is not None:
        return refused
    engine: Engine = request.app.state.engine
    picked = [str(v) for v in form.getlist("issue")]
    ids = list(dict.fromkeys(int(v) for v in picked if v.isdigit() and 0 < int(v) < 2**31))
    result: dict[str, Any] = {"problem": None}
    if not ids:
        result["problem"] = "请先勾选要催办的问题，再点“一键催办”。"
    elif len(ids) > CHASE_MAX:
        result["problem"] = f"一次最多催办 {CHASE_MAX} 项；已勾选 {len(ids)} 项。"
    else:
        try:
            result |= _chase_result(engine, chase(engine, ids, actor=actor_of(engine, live)))
        except NotFoundError:
            result["problem"] = "勾选的问题中有不存在的问题，未催办任何问题；请刷新页面后重试。"
        except RectifyError as exc:
            result["problem"] = f"未能催办：{exc}"
    if request.headers.get("HX-Request"):
        return Shown("ledger_chase.html", 200, {"chase": result})
    status, values = ledger_values(request, live, _back(form))
    values["chase"] = result
    return Shown("ledger.html", status, values)


async def save_view(request: Request, live: LiveSession) -> Answer:
    """Save the view under a name (the office only); a name refused is told on the page."""
    form = await request.form()
    if (refused := _checked(live, form)) is not None:
        return refused
    engine: Engine = request.app.state.engine
    name = str(form.get("name") or "").strip()
    query = saved_filters.clean_query(str(form.get("query") or "")[:4000])
    problem = None
    if not name:
        problem = "请填写筛选名称。"
    elif len(name) > saved_filters.NAME_MAX:
        problem = f"筛选名称最多 {saved_filters.NAME_MAX} 个字，现为 {len(name)} 个字。"
    elif any(s.name == name for s in saved_filters.saved_filters(engine.db)):
        problem = f"已有名为“{name}”的筛选，请换一个名称。"
    else:
        try:
            saved_filters.save_filter(engine.db, name, query, by=OfficeAct(
                actor_of(engine, live), engine.keys.current))
        except RectifyError as exc:
            problem = f"未能保存：{exc}"
    if problem is None:
        return RedirectResponse(_link(query) + "#saved-filters", status_code=303)
    _, values = ledger_values(request, live, QueryParams(query))
    values.update(save_problem=problem, entered_name=name[:200])
    return Shown("ledger.html", 400, values)


async def delete_view(request: Request, live: LiveSession, filter_id: str) -> Answer:
    """Delete a saved view (any office person may)."""
    form = await request.form()
    if (refused := _checked(live, form)) is not None:
        return refused
    engine: Engine = request.app.state.engine
    back = str(_back(form))
    try:
        if not (filter_id.isdigit() and int(filter_id) < 2**31):
            raise NotFoundError(f"saved filter {filter_id[:20]} does not exist")
        saved_filters.delete_filter(engine.db, int(filter_id), by=OfficeAct(
            actor_of(engine, live), engine.keys.current))
    except NotFoundError:
        _, values = ledger_values(request, live, QueryParams(back))
        values["save_problem"] = "要删除的筛选不存在（可能已被他人删除）。"
        return Shown("ledger.html", 404, values)
    return RedirectResponse(_link(back) + "#saved-filters", status_code=303)

def _all_issues(engine: Engine, actor: Actor, params: Mapping[str, str]) -> list[Any]:
    """Every issue of the view ``params`` name, in its order, page by page (keyset)."""
    query = _query(params)
    sort = (params.get("sort") or queries.DEFAULT_SORT).strip()
    now: datetime = engine.clock.now()
    found: list[Any] = []
    position = None
    while True:
        page = queries.ledger_page(engine.db, engine.registry, query, actor=actor, sort=sort,
                                   position=position, limit=EXPORT_BATCH, now=now)
        found.extend(page.issues)
        if page.next_position is None or len(found) > queries.COUNT_CAP:
            return found
        position = page.next_position
