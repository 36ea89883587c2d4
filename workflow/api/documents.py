"""The documents over HTTP, made by the same code as ``rectify report`` and ``rectify ledger
export``: the progress figures (JSON), the ledger (xlsx), the monthly briefing (HTML) and the
disclosure list (HTML, xlsx). Each names the latest signed checkpoint, and every download is
on the audit trail (who, which document, with what filters)."""

from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from workflow.api.security import CallerDep, client_address
from workflow.audit import AuditEntry, append_audit
from workflow.errors import InputError
from workflow.issues import policy
from workflow.issues.checkpoints import Checkpoint, latest_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html; charset=utf-8"
DOWNLOAD = "document_download"
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

PlanQuery = Annotated[str | None, Query(max_length=200, description="整改方案 name")]


def _checkpoint(engine: Engine) -> Checkpoint | None:
    return latest_checkpoint(TrustFiles.for_database(engine.db.url))


def _record(engine: Engine, caller: CallerDep, request: Request, document: str,
            **filters: Any) -> None:
    """A download on the audit trail, in its own transaction."""
    details = {"address": client_address(request), "via": caller.via,
               **{k: v for k, v in filters.items() if v is not None}}
    entry = AuditEntry(caller.actor.name, caller.actor.role, caller.actor.os_user, DOWNLOAD,
                       document, details)
    with engine.db.session(write=True) as session:
        append_audit(session, entry, at=engine.clock.now(), key=engine.keys.current)


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff"})


def router() -> APIRouter:
    """The document routes."""
    routes = APIRouter()

    @routes.get("/documents/progress")
    def progress(request: Request, caller: CallerDep, plan: PlanQuery = None,
                 as_of: date | None = None) -> dict[str, Any]:
        """整改进展: totals by state, category, unit and leader, the overdue list, the
        accountability figures and the summary sentences, as recorded at the end of
        ``as_of`` (Asia/Shanghai; default now)."""
        from workflow.documents.figures import progress_report

        engine: Engine = request.app.state.engine
        policy.check_action(caller.actor, policy.READ_REPORTS)
        report = progress_report(engine, plan=plan, as_of=as_of,
                                 checkpoint=_checkpoint(engine))
        _record(engine, caller, request, "progress", plan=plan,
                as_of=as_of.isoformat() if as_of else None)
        return report.as_dict()

    @routes.get("/documents/ledger.xlsx")
    def ledger(request: Request, caller: CallerDep, plan: PlanQuery = None,
               state: Annotated[str | None, Query(max_length=64)] = None,
               unit: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        """The ledger (台账) as xlsx, as `rectify ledger export` writes it."""
        from workflow.documents.ledger_export import export_ledger

        engine: Engine = request.app.state.engine
        policy.check_action(caller.actor, policy.EXPORT_LEDGER)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.xlsx"
            export_ledger(engine, path, checkpoint=_checkpoint(engine), plan=plan,
                          state=state, unit=unit)
            content = path.read_bytes()
        _record(engine, caller, request, "ledger.xlsx", plan=plan, state=state, unit=unit)
        return _attachment(content, XLSX, f"{plan or ''}整改台账.xlsx")

    @routes.get("/documents/monthly")
    def monthly(request: Request, caller: CallerDep,
                month: Annotated[str, Query(description="YYYY-MM")],
                plan: PlanQuery = None) -> Response:
        """The monthly briefing (月度调度) as one HTML page, its burn-down chart inline."""
        from workflow.documents.briefing import write_monthly

        engine: Engine = request.app.state.engine
        policy.check_action(caller.actor, policy.READ_REPORTS)
        if not MONTH.match(month):
            raise InputError(f"month {month[:20]!r}: give it as YYYY-MM, e.g. 2026-11")
        with tempfile.TemporaryDirectory() as folder:
            paths = write_monthly(engine, month=month, out=Path(folder), plan=plan)
            page = next(p for p in paths if p.suffix == ".html")
            html = _inline_images(page)
        _record(engine, caller, request, "monthly", month=month, plan=plan)
        return Response(html, media_type=HTML,
                        headers={"X-Content-Type-Options": "nosniff"})

    @routes.get("/documents/disclosure.{kind}")
    def disclosure(request: Request, caller: CallerDep, kind: str,
                   plan: PlanQuery = None) -> Response:
        """The disclosure list (信息公开) as ``html`` or ``xlsx``: the disclosed columns only."""
        from workflow.documents.disclosure import write_public

        engine: Engine = request.app.state.engine
        if kind not in ("html", "xlsx"):
            raise InputError(f"disclosure.{kind[:10]}: the disclosure list is served as "
                             "disclosure.html or disclosure.xlsx")
        with tempfile.TemporaryDirectory() as folder:
            paths = write_public(engine, out=Path(folder), checkpoint=_checkpoint(engine),
                                 plan=plan)
            content = next(p for p in paths if p.suffix == f".{kind}").read_bytes()
        _record(engine, caller, request, f"disclosure.{kind}", plan=plan)
        if kind == "html":
            return Response(content, media_type=HTML,
                            headers={"X-Content-Type-Options": "nosniff"})
        return _attachment(content, XLSX, f"{plan or ''}信息公开.xlsx")

    return routes


def _inline_images(page: Path) -> str:
    """The HTML page with the images beside it inlined as data: URLs, so it is one file."""
    import base64

    html = page.read_text(encoding="utf-8")
    for image in page.parent.glob("*.png"):
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        html = html.replace(f'src="{image.name}"', f'src="data:image/png;base64,{data}"')
    return html
