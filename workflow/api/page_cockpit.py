"""The leader cockpit (领导驾驶舱): a leader's issues and sectors by light, the overdue and
重点督办 lists, the units' ranking and 红黑榜; every figure links to the ledger filtered to
exactly the issues it counts.

A supervising leader (包保领导) sees what it may read (the issues it supervises and those of
its sectors), the office every issue; any other role is refused (403) and sees no figure.
The figures come from ``workflow.issues.cockpit``, counted in SQL; the charts are drawn on
the server (CSS bars, each bar a link) with the same figures in a table beside them. An
issue's 批示 is given on its issue page, where the cockpit's lists lead."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from workflow.api.pages import frame, render, sign_in_again, signed_in
from workflow.api.security import actor_of
from workflow.clock import local
from workflow.documents.briefing import RANKED
from workflow.issues import cockpit
from workflow.issues.engine import Engine

ROLES = ("leader", "office")


def _english_states(engine: Engine) -> dict[str, str]:
    """The English label of each state of the latest rectification process."""
    compiled = engine.registry.latest("rectification")
    return {state.key: state.label_en for state in compiled.definition.states if state.label_en}


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/cockpit")
    def cockpit_page(request: Request) -> Response:
        """The cockpit of the signed-in leader or office."""
        engine: Engine = request.app.state.engine
        live = signed_in(request)
        if live is None:
            return sign_in_again()
        if live.account.role not in ROLES:
            return render("notfound.html", 403, title="无权访问",
                          message="领导驾驶舱仅供包保领导和整改办查看。", **frame(request, live))
        actor = actor_of(engine, live)
        now = engine.clock.now()
        board = cockpit.cockpit(engine.db, engine.registry, actor, now=now, ranked=RANKED)
        return render("cockpit.html", title="领导驾驶舱", **frame(request, live), board=board,
                      as_of=f"{local(now):%Y-%m-%d %H:%M}", ranked=RANKED,
                      leader=actor.role == "leader",
                      widest_state=max((f.count for _, _, f in board.by_state), default=0),
                      state_en=_english_states(engine))

    return routes
