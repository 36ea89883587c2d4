"""What callers do to issues over HTTP: create one (the office), read its timeline, upload
evidence and download it, and fire a transition under ``If-Match`` (the version the caller
last saw) with an optional ``Idempotency-Key``. Every rule is the engine's and the access
policy's; this module turns HTTP into their calls and their answers into HTTP."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field
from python_multipart.multipart import MultipartParser, parse_options_header

from workflow.api import idempotency
from workflow.api.problems import engine_problem
from workflow.api.security import CallerDep, IssueId
from workflow.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    RectifyError,
    StaleVersionError,
    VersionRequiredError,
)
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.evidence import EvidenceRef
from workflow.org.directory import sectors_of

ETAG = re.compile(r'^"(\d{1,12})"$')
UPLOAD_SLACK = 64 * 1024  # multipart headers and boundaries around the file


def etag(version: int) -> str:
    return f'"{version}"'


class EvidenceItem(BaseModel):
    """A file uploaded with ``POST /issues/{id}/evidence``, as its answer named it."""

    sha256: str = Field(min_length=64, max_length=64)
    name: str = Field(min_length=1, max_length=255)


class Transition(BaseModel):
    """The body of ``POST /issues/{id}/transitions/{trigger}``."""

    comment: str | None = Field(default=None, max_length=10_000)
    checklist: dict[str, str | dict[str, str]] | None = Field(
        default=None, description="item key → {\"answer\": \"是\"|\"否\", \"note\": …} "
                                  "(or \"是:NOTE\")")
    fields: dict[str, Any] | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=50)


class IssueIn(BaseModel):
    """The body of ``POST /issues``: the ledger's columns of a new issue."""

    title: str = Field(min_length=1, max_length=2000)
    plan: str | None = Field(default=None, max_length=200)
    number: str | None = Field(default=None, max_length=32)
    category: str | None = Field(default=None, max_length=200)
    target: str | None = Field(default=None, max_length=5000)
    measures: str | None = Field(default=None, max_length=10_000)
    leader: str | None = Field(default=None, max_length=200)
    lead_unit: str | None = Field(default=None, max_length=200)
    units: list[str] = Field(default_factory=list, max_length=50,
                             description="责任单位; the first is the main one")
    cooperating_units: list[str] = Field(default_factory=list, max_length=50)
    acceptance_unit: str | None = Field(default=None, max_length=200)
    deadline: date | None = None
    long_term: bool = False
    definition: str = Field(default="rectification", max_length=64)


def _version(if_match: str | None, issue_id: int) -> int:
    if if_match is None:
        raise VersionRequiredError(
            f"firing a transition needs If-Match: \"VERSION\" with the version of issue "
            f"{issue_id} you last read (the ETag of GET /api/v1/issues/{issue_id}), so a "
            "change made meanwhile is not overwritten")
    found = ETAG.match(if_match.strip())
    if found is None:
        raise InputError(f"If-Match must be one version in quotes, as the ETag gives it "
                         f"(e.g. \"3\"); got {if_match[:40]!r}")
    return int(found.group(1))


def readable_issue(engine: Engine, caller: CallerDep, issue_id: IssueId, *,
                   history: bool = False) -> Any:
    """The issue, when the caller may read it (or its history): 404 otherwise."""
    issue = queries.get_issue(engine.db, issue_id)
    queries.check_readable(engine.db, caller.actor, issue, history=history)
    return issue


def caller_view(engine: Engine, caller: CallerDep, issue: Any) -> dict[str, Any]:
    """The issue as the caller sees it after reading or acting: its view and ``actions``,
    the triggers the caller may fire now and what each requires."""
    view = views.issue_view(engine.db, issue, engine.registry, engine.clock.now())
    view["actions"] = views.actions_for(caller.actor, issue, engine.registry,
                                        sectors=sectors_of(engine.db, caller.actor))
    return view


def router() -> APIRouter:
    """The routes that act on issues."""
    routes = APIRouter()

    @routes.post("/issues", status_code=201)
    def create_issue(request: Request, caller: CallerDep, body: IssueIn) -> JSONResponse:
        """Create an issue in its definition's first state (已交办); the office only."""
        engine: Engine = request.app.state.engine
        units = [u.strip() for u in body.units if u.strip()]
        new = NewIssue(title=body.title, plan=body.plan, number=body.number,
                       category=body.category, target=body.target, measures=body.measures,
                       leader=body.leader, lead_unit=body.lead_unit,
                       unit=units[0] if units else None, responsible_units=tuple(units[1:]),
                       cooperating_units=tuple(body.cooperating_units),
                       acceptance_unit=body.acceptance_unit, deadline=body.deadline,
                       long_term=body.long_term)
        issue_id = engine.create_issue(new, actor=caller.actor, definition=body.definition)
        issue = queries.get_issue(engine.db, issue_id)
        view = views.issue_view(engine.db, issue, engine.registry, engine.clock.now())
        return JSONResponse(view, status_code=201,
                            headers={"ETag": etag(issue.version),
                                     "Location": f"/api/v1/issues/{issue_id}"})

    @routes.get("/issues/{issue_id}/events")
    def events(request: Request, caller: CallerDep, issue_id: IssueId) -> dict[str, Any]:
        """The issue's timeline, oldest first, each event with its hash and the previous
        one's; not for the public (internal records: people, notes, evidence)."""
        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id, history=True)
        return {"issue_id": issue_id,
                "items": [views.event_view(e) for e in queries.history(engine.db, issue_id)]}

    @routes.post("/issues/{issue_id}/transitions/{trigger}")
    def fire(request: Request, caller: CallerDep, issue_id: IssueId, trigger: str,
             body: Transition,
             if_match: Annotated[str | None, Header(alias="If-Match")] = None,
             key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
             ) -> JSONResponse:
        """Fire ``trigger`` on the issue at the version ``If-Match`` names (428 without it,
        412 when the issue has moved on); the answer is the issue as it now stands with its
        new ``ETag``. With ``Idempotency-Key`` a repeat gets the first answer back."""
        engine: Engine = request.app.state.engine
        expected = _version(if_match, issue_id)

        def run() -> idempotency.Stored:
            try:
                return _fire(engine, caller, issue_id, trigger, body, expected)
            except RectifyError as exc:
                answer = engine_problem(request, exc)
                return idempotency.Stored(answer.status_code, json.loads(answer.body),
                                          answer.media_type or "", None)

        if key is None:
            stored = _fire(engine, caller, issue_id, trigger, body, expected)
            return stored.response(replayed=False)
        fingerprint = idempotency.request_hash(
            "POST", request.url.path, body.model_dump(mode="json"), if_match)
        return idempotency.run_once(engine.db, account_id=caller.account.id,
                                    key=idempotency.check_key(key), fingerprint=fingerprint,
                                    now=engine.clock.now(), run=run)

    @routes.post("/issues/{issue_id}/evidence", status_code=201)
    async def upload(request: Request, caller: CallerDep, issue_id: IssueId) -> JSONResponse:
        """Upload one evidence file (multipart/form-data, field ``file``) for the issue:
        streamed to the store, checked for size and type; the answer names it for a
        transition's ``evidence``."""
        engine: Engine = request.app.state.engine
        issue = readable_issue(engine, caller, issue_id)
        policy.check_action(caller.actor, policy.UPLOAD_EVIDENCE)
        policy.check_act_scope(caller.actor, issue, issue_id=issue_id,
                               action="upload evidence",
                               sectors=sectors_of(engine.db, caller.actor))
        ref = await _receive(request, engine)
        return JSONResponse(ref.as_dict(), status_code=201)

    @routes.get("/issues/{issue_id}/evidence/{sha256}")
    def download(request: Request, caller: CallerDep, issue_id: IssueId,
                 sha256: str) -> FileResponse:
        """An evidence file of the issue's timeline, to those who may read its history."""
        engine: Engine = request.app.state.engine
        readable_issue(engine, caller, issue_id, history=True)
        for event in queries.history(engine.db, issue_id):
            for item in (event.payload or {}).get("evidence", []):
                if item.get("sha256") == sha256:
                    path = engine.evidence.path_of(sha256)
                    if path.is_file():
                        return FileResponse(path, filename=item.get("name") or sha256,
                                            media_type="application/octet-stream")
        raise NotFoundError(f"issue {issue_id} has no evidence {sha256[:64]}")

    return routes


def _fire(engine: Engine, caller: CallerDep, issue_id: IssueId, trigger: str, body: Transition,
          expected: int) -> idempotency.Stored:
    readable_issue(engine, caller, issue_id)
    refs: list[EvidenceRef] = [engine.evidence.stored(item.sha256, item.name)
                               for item in body.evidence]
    try:
        engine.fire(issue_id, trigger, actor=caller.actor, comment=body.comment,
                    evidence=refs, checklist=body.checklist, fields=body.fields,
                    expected_version=expected)
    except ConflictError as exc:
        actual = queries.get_issue(engine.db, issue_id).version
        raise StaleVersionError(
            f"issue {issue_id} is at version {actual}, not {expected}: someone changed it "
            "since you read it; read it again (GET) and decide anew") from exc
    issue = queries.get_issue(engine.db, issue_id)
    return idempotency.Stored(200, caller_view(engine, caller, issue), "application/json",
                              etag(issue.version))


async def _receive(request: Request, engine: Engine) -> EvidenceRef:
    """Stream the multipart body's ``file`` part to a temporary file beside the store and
    put it into the store (checked there); nothing is kept of a refused upload."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InputError("upload evidence as multipart/form-data with the file in a part "
                         "named 'file'")
    limit = engine.evidence.max_bytes
    engine.evidence.root.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed and removed in finally)
        dir=engine.evidence.root, prefix=".upload-", delete=False)
    state: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "name": None,
                             "in_file": False, "size": 0, "files": 0}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition",
                                                                   b""))
        state["in_file"] = disposition.get(b"name") == b"file" and b"filename" in disposition
        if state["in_file"]:
            state["files"] += 1
            raw = disposition[b"filename"]
            try:
                state["name"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                state["name"] = raw.decode("latin-1")
        state["headers"] = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"] and state["files"] == 1:
            state["size"] += end - start
            if state["size"] <= limit:
                handle.write(data[start:end])

    callbacks: dict[str, Callable[..., None]] = {
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + UPLOAD_SLACK:
                raise InputError(f"the upload is over {limit / 1_000_000:g} MB, the largest "
                                 "evidence file taken (RECTIFY_EVIDENCE_MAX_MB)")
            parser.write(chunk)
        parser.finalize()
        handle.close()
        if state["files"] != 1 or not state["name"]:
            raise InputError("upload exactly one file, in a multipart part named 'file' "
                             f"with its file name; got {state['files']} file part(s)")
        if state["size"] > limit:
            raise InputError(f"evidence file {state['name']} is over "
                             f"{limit / 1_000_000:g} MB (RECTIFY_EVIDENCE_MAX_MB)")
        name = Path(state["name"].replace("\\", "/")).name
        return engine.evidence.put(handle.name, name=name)
    except ValueError as exc:  # the multipart parser's own refusals
        raise InputError(f"the upload is not well-formed multipart/form-data: {exc}") from None
    finally:
        handle.close()
        if os.path.exists(handle.name):
            os.unlink(handle.name)
