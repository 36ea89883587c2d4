"""The 督办单: an issue's blue, yellow or red supervision notice as a printable page.

The page is the notice of the issue's light as it stands now: its document number, the
issue's facts, the light with its reason in working days (``views.light_reason``, as the
issue page says it), the rung of the escalation ladder reached and the next one, who it is
sent to, and the issuing office with the day (Asia/Shanghai). The browser prints it (A4; the
navigation and the buttons are hidden in print) or saves it as PDF: no PDF library.

The number is ``{year}-督-{issue id:04d}-{rung}``, deterministic: the year of the time limit
the light counts to (Asia/Shanghai), and the rung 蓝 (blue reminder), 黄 (yellow warning) or
红N for red, N the rung of the ladder reached (1 红灯督办 until the next is reached, 2 重点督办,
3 问责建议 with the default definition). The office opens every issue's notice; a leader
those of the issues they may read; another role is refused (403). A green issue has no
notice: the page says so."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workflow.api.pages import frame, render, sign_in_again, signed_in
from workflow.api.security import actor_of, page_issue_id
from workflow.clock import local
from workflow.errors import RectifyError
from workflow.issues import queries, views
from workflow.issues.engine import Engine

NOTICE_ROLES = ("office", "leader")
KINDS = {"blue": "蓝色提醒单（催办）", "yellow": "黄色预警督办单", "red": "红色督办单"}
RUNG_CODES = {"blue": "蓝", "yellow": "黄"}


def notice_number(issue_id: int, light: str, due_year: int, reached: int) -> str:
    """The 督办单编号: ``{year}-督-{issue id:04d}-{rung}``; ``reached`` is the index of the
    ladder's rung a red issue has reached (-1: none recorded yet, counted as the first)."""
    rung = RUNG_CODES.get(light) or f"红{max(reached, 0) + 1}"
    return f"{due_year}-督-{issue_id:04d}-{rung}"


def notice_values(engine: Engine, issue: Any, now: datetime) -> dict[str, Any]:
    """What the 督办单 of ``issue`` says at ``now``; ``due`` None for a green issue."""
    view = views.issue_view(engine.db, issue, engine.registry, now)
    reason = views.light_reason(view, engine.registry, engine.calendar, now)
    definition = engine.registry.get(issue.definition_id, issue.definition_version).definition
    roles = {key: role.label_zh for key, role in definition.roles.items()}
    ladder = list(definition.notices.escalation)
    keys = [rung.key for rung in ladder]
    reached = keys.index(view["escalation_level"]) if view["escalation_level"] in keys else -1
    light = view["light"]
    values: dict[str, Any] = {
        "view": view, "light": light, "light_label": view["light_label_zh"], "reason": reason,
        "units": "、".join(dict.fromkeys([u for u in (view["unit"], *view["responsible_units"])
                                          if u])) or "—",
        "deadline": "长期坚持" if view["long_term"] and not view["deadline"]
        else (view["deadline"] or "未设整改时限"),
        "office": engine.settings.office_name, "issued_on": f"{local(now):%Y年%m月%d日}",
        "due": None}
    if light == "green" or not view["due"]:
        return values
    if light == "red":
        current = ladder[reached].label_zh if reached >= 0 else (
            ladder[0].label_zh if ladder else "逾期")
        notify = ladder[max(reached, 0)].notify if ladder else []
        following = ladder[reached + 1] if reached + 1 < len(ladder) else None
    else:
        current = ""
        notify = definition.notices.remind if light == "blue" else \
            definition.notices.milestone_missed
        following = ladder[0] if ladder else None
    if following is not None:
        after = str(following.after or "").replace(" days", "天").replace(" day", "天") \
            .replace(" hours", "小时")
        when = f"逾期{after}后" if after else "逾期后"
        told = "、".join(roles.get(r, r) for r in following.notify)
        next_rung = f"{following.label_zh}（{when}，发送{told}）"
    else:
        next_rung = "已至督办最高一级"
    due_year = datetime.fromisoformat(view["due"]).year
    values.update(
        due=view["due"][:10], kind=KINDS.get(light, "督办单"), rung=current,
        next_rung=next_rung, to="、".join(roles.get(r, r) for r in notify),
        number=notice_number(issue.id, light, due_year, reached))
    return values


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/issues/{issue_id}/notice")
    def notice(request: Request, issue_id: str) -> Response:
        """The 督办单 of an issue the office, or a leader who may read it, opens."""
        live = signed_in(request)
        if live is None:
            return sign_in_again()
        engine: Engine = request.app.state.engine
        actor = actor_of(engine, live)
        if actor.role not in NOTICE_ROLES:
            return render("notfound.html", 403, title="无权访问",
                          message="督办单由整改办签发，整改办和包保领导可以查看。",
                          **frame(request, live))
        number = page_issue_id(issue_id)
        try:
            if number is None:
                raise LookupError
            issue = queries.get_issue(engine.db, number)
            queries.check_readable(engine.db, actor, issue)
        except (RectifyError, LookupError):
            return render("notfound.html", 404, title="未找到",
                          message=f"问题 {issue_id[:20]} 不存在。", **frame(request, live))
        values = notice_values(engine, issue, engine.clock.now())
        return render("notice.html", title="督办单", **frame(request, live), **values)

    return routes
