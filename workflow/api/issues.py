"""``GET /api/v1/issues`` and ``GET /api/v1/issues/{id}``: issues the caller may read, by
the access policy through the read queries; the public role sees the disclosed fields only.
Pagination is keyset by id, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from workflow.api.security import CallerDep, IssueId
from workflow.errors import InputError
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine
from workflow.org.directory import sectors_of

MAX_LIMIT = 200


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(text: str | None) -> int | None:
    """The id a page cursor continues after; InputError for one this API did not give."""
    if text is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        after = value["after"]
        if isinstance(after, int) and not isinstance(after, bool) and after >= 0:
            return after
    except (ValueError, TypeError, KeyError, binascii.Error):
        pass
    raise InputError(f"cursor {text[:80]!r} is not one this API gave; pass back the "
                     "next_cursor of the previous page, or leave it out for the first page")


def router() -> APIRouter:
    """The issue routes."""
    routes = APIRouter()

    @routes.get("/issues")
    def list_issues(
        request: Request, caller: CallerDep,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        page: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
    ) -> dict[str, Any]:
        """Issues the caller may read, in id order: ``limit`` per page, and ``next_cursor``
        (null on the last page) to pass as ``cursor`` for the next."""
        engine: Engine = request.app.state.engine
        found, more = queries.issue_page(engine.db, after=decode_cursor(page), limit=limit,
                                         keep=queries.readable(engine.db, caller.actor))
        now = engine.clock.now()
        if policy.reads_disclosed_only(caller.actor):
            items = views.public_views(engine.db, found, engine.registry, now)
        else:
            items = views.issue_views(engine.db, found, engine.registry, now)
        return {"items": items,
                "next_cursor": encode_cursor(found[-1].id) if more and found else None}

    @routes.get("/issues/{issue_id}")
    def show_issue(request: Request, response: Response, caller: CallerDep,
                   issue_id: IssueId) -> dict[str, Any]:
        """One issue the caller may read, with its version as the ``ETag`` (send it back
        as ``If-Match`` to fire a transition) and ``actions``: the triggers the caller may
        fire now and what each requires. One outside their scope is 404, like one that
        does not exist."""
        engine: Engine = request.app.state.engine
        issue = queries.get_issue(engine.db, issue_id)
        queries.check_readable(engine.db, caller.actor, issue)
        now = engine.clock.now()
        response.headers["ETag"] = f'"{issue.version}"'
        if policy.reads_disclosed_only(caller.actor):
            return views.public_view(engine.db, issue, engine.registry, now)
        view = views.issue_view(engine.db, issue, engine.registry, now)
        view["actions"] = views.actions_for(caller.actor, issue, engine.registry,
                                            sectors=sectors_of(engine.db, caller.actor))
        return view

    return routes
