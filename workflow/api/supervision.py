"""Supervision over HTTP, by the same functions as the command line: a unit's monthly report
(月度进展), milestones reached, a leader's instruction (批示), and the escalation proposals
(问责建议) and accountability records (问责情况). Who may do what is the access policy's
(each function checks it); an issue outside the caller's scope is 404 as everywhere."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from workflow.api.actions import caller_view, etag, readable_issue
from workflow.api.security import MAX_ID, CallerDep, IssueId
from workflow.clock import local
from workflow.errors import InputError
from workflow.issues import policy, queries
from workflow.issues.engine import Engine


class MonthlyReport(BaseModel):
    """The body of ``POST /issues/{id}/reports``."""

    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")
    text: str = Field(min_length=1, max_length=5000, description="整改进展: what was done")
    percent: int = Field(ge=0, le=100)
    on_schedule: bool = Field(default=True, description="false: 未达序时进度 (yellow)")


class Note(BaseModel):
    """A text: an instruction, what was done at a milestone, a reason."""

    text: str = Field(min_length=1, max_length=5000)


def _issue_answer(engine: Engine, caller: CallerDep, issue_id: int,
                  status: int) -> JSONResponse:
    issue = queries.get_issue(engine.db, issue_id)
    return JSONResponse(caller_view(engine, caller, issue), status_code=status,
                        headers={"ETag": etag(issue.version)})


def router() -> APIRouter:
    """The supervision routes."""
    routes = APIRouter()

    @routes.get("/issues/{issue_id}/reports")
    def monthly_reports(request: Request, caller: CallerDep,
                        issue_id: IssueId) -> dict[str, Any]:
        """The issue's monthly reports, and the months flagged as unreported."""
        from workflow.supervision.monthly_reports import report_view, reports

        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id, history=True)
        return {"issue_id": issue_id,
                "items": [report_view(r) for r in reports(engine, issue_id)]}

    @routes.post("/issues/{issue_id}/reports", status_code=201)
    def report_month(request: Request, caller: CallerDep, issue_id: IssueId,
                     body: MonthlyReport) -> JSONResponse:
        """Report a month's progress (the issue's unit, or the office); the answer is the
        issue as it now stands."""
        from workflow.supervision.monthly_reports import NewProgress, report

        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id)
        report(engine, issue_id, NewProgress(body.month, body.text, body.percent,
                                             body.on_schedule), actor=caller.actor)
        return _issue_answer(engine, caller, issue_id, 201)

    @routes.post("/issues/{issue_id}/instructions", status_code=201)
    def instruct(request: Request, caller: CallerDep, issue_id: IssueId,
                 body: Note) -> JSONResponse:
        """A supervising leader's instruction (批示), recorded in the history and sent to
        the issue's units."""
        from workflow.supervision.instructions import instruct as give

        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id)
        give(engine, issue_id, body.text, actor=caller.actor)
        return _issue_answer(engine, caller, issue_id, 201)

    @routes.post("/issues/{issue_id}/milestones/{name}/reached")
    def reach(request: Request, caller: CallerDep, issue_id: IssueId,
              name: Annotated[str, Path(max_length=200)],
              body: Note | None = None) -> JSONResponse:
        """Record that a milestone (阶段性节点) was reached."""
        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id)
        engine.reach_milestone(issue_id, name, actor=caller.actor,
                               comment=body.text if body else None)
        return _issue_answer(engine, caller, issue_id, 200)

    @routes.get("/accountability/proposals")
    def proposals(request: Request, caller: CallerDep,
                  status: Annotated[str | None, Query(max_length=16)] = "open",
                  ) -> dict[str, Any]:
        """Escalation proposals (问责建议): ``status`` open (default), adopted, dismissed,
        or ``all``; for the office and the discipline body."""
        from workflow.supervision.accountability import PROPOSAL_STATUSES
        from workflow.supervision.accountability import proposals as found

        engine: Engine = request.app.state.engine
        policy.check_action(caller.actor, policy.RECORD_ACCOUNTABILITY)
        if status not in (*PROPOSAL_STATUSES, "all"):
            raise InputError(f"status {status!r} is not a proposal status; statuses: "
                             f"{', '.join(PROPOSAL_STATUSES)}, all")
        return {"items": [
            {"id": p.id, "issue_id": p.issue_id, "reason": p.reason, "status": p.status,
             "opened_at": local(p.opened_at).isoformat(), "decided_by": p.decided_by}
            for p in found(engine, status=None if status == "all" else status)]}

    @routes.post("/accountability/proposals/{proposal_id}/dismiss")
    def dismiss(request: Request, caller: CallerDep,
                proposal_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                body: Note) -> dict[str, Any]:
        """Close an open proposal without accountability, with the office's reason."""
        from workflow.supervision.accountability import dismiss as close

        engine: Engine = request.app.state.engine
        close(engine, proposal_id, actor=caller.actor, reason=body.text)
        return {"id": proposal_id, "status": "dismissed"}

    @routes.get("/accountability/records")
    def records(request: Request, caller: CallerDep,
                issue: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                ) -> dict[str, Any]:
        """Accountability records (问责情况), optionally those linked to one issue, with
        the summary sentence; for the office and the discipline body."""
        from workflow.supervision.accountability import records as found
        from workflow.supervision.accountability import summary

        engine: Engine = request.app.state.engine
        policy.check_action(caller.actor, policy.RECORD_ACCOUNTABILITY)
        return {"items": found(engine, issue=issue),
                "summary_zh": summary(engine).sentence_zh()}

    return routes
