"""``GET /api/v1/issues`` and ``GET /api/v1/issues/{id}``: issues the caller may read, by
the access policy through the read queries; the public role sees the disclosed fields only.
The list is the ledger query (``queries.ledger_page``): filters, a closed set of sorts, and
keyset pagination with an opaque cursor that carries the last row's sort key and the
query's fingerprint."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from workflow.api.actions import caller_view, etag
from workflow.api.security import CallerDep, IssueId
from workflow.errors import InputError
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine

MAX_LIMIT = 200
MAX_TEXT = 200
TextFilter = Annotated[str | None, Query(max_length=MAX_TEXT)]
BAD_CURSOR = ("pass back the next_cursor of the previous page, or leave it out for the "
              "first page")


def encode_cursor(fingerprint: str, position: queries.PagePosition) -> str:
    """The opaque cursor of the page after ``position``, for the query ``fingerprint``
    names."""
    keys = [{"at": k.isoformat()} if isinstance(k, datetime) else k for k in position.keys]
    text = json.dumps({"f": fingerprint, "id": position.after_id, "k": keys,
                       "n": position.in_nulls}, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, fingerprint: str,
                  sort: queries.SortOrder) -> queries.PagePosition | None:
    """Where the page a cursor names starts; InputError for one this API did not give, or
    gave for other filters or another sort."""
    if text is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if value["f"] != fingerprint and isinstance(value["f"], str):
            raise InputError("cursor was given for other filters or another sort; pass it "
                             "with the same filters and sort as the page that gave it, or "
                             "leave it out for the first page")
        position = _position(value, sort)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        position = None
    if position is None:
        raise InputError(f"cursor {text[:80]!r} is not one this API gave; {BAD_CURSOR}")
    return position


def _position(value: Any, sort: queries.SortOrder) -> queries.PagePosition | None:
    after, keys, in_nulls = value["id"], value["k"], value["n"]
    if not (isinstance(after, int) and not isinstance(after, bool) and after >= 0
            and isinstance(in_nulls, bool) and isinstance(keys, list)
            and len(keys) == len(sort.kinds)):
        return None
    if in_nulls:
        return queries.PagePosition(after, (), in_nulls=True) if sort.nullable else None
    parsed = []
    for kind, key in zip(sort.kinds, keys, strict=True):
        if kind is datetime:
            key = datetime.fromisoformat(key["at"])
            if key.tzinfo is None:
                return None
        elif not isinstance(key, kind) or isinstance(key, bool):
            return None
        parsed.append(key)
    return queries.PagePosition(after, tuple(parsed))


def router() -> APIRouter:
    """The issue routes."""
    routes = APIRouter()

    @routes.get("/issues")
    def list_issues(
        request: Request, caller: CallerDep,
        state: TextFilter = None, step: TextFilter = None, light: TextFilter = None,
        unit: TextFilter = None, leader: TextFilter = None, plan: TextFilter = None,
        category: TextFilter = None, overdue: bool | None = None,
        long_term: bool | None = None, q: TextFilter = None,
        key_supervision: bool | None = None,
        sort: Annotated[str, Query(max_length=40)] = queries.DEFAULT_SORT,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        page: Annotated[str | None, Query(alias="cursor", max_length=1000)] = None,
        count: bool = False,
    ) -> dict[str, Any]:
        """The ledger: issues the caller may read that match the filters, in ``sort`` order,
        ``limit`` per page, and ``next_cursor`` (null on the last page) to pass as
        ``cursor`` for the next; with ``count``, how many match (up to 10,000)."""
        engine: Engine = request.app.state.engine
        if sort not in queries.SORTS:
            raise InputError(f"unknown sort {sort!r}; sorts: {', '.join(queries.SORTS)}")
        query = queries.LedgerQuery(state=state, step=step, light=light, unit=unit,
                                    leader=leader, plan=plan, category=category,
                                    overdue=overdue, long_term=long_term, q=q,
                                    key_supervision=key_supervision)
        fingerprint = query.fingerprint(sort)
        position = decode_cursor(page, fingerprint, queries.SORTS[sort])
        now = engine.clock.now()
        found = queries.ledger_page(engine.db, engine.registry, query, actor=caller.actor,
                                    sort=sort, position=position, limit=limit, now=now)
        if policy.reads_disclosed_only(caller.actor):
            items = views.public_views(engine.db, found.issues, engine.registry, now)
        else:
            items = views.issue_views(engine.db, found.issues, engine.registry, now)
        answer: dict[str, Any] = {
            "items": items, "sort": sort,
            "next_cursor": encode_cursor(fingerprint, found.next_position)
            if found.next_position else None}
        if count:
            answer["count"], answer["count_capped"] = queries.ledger_count(
                engine.db, engine.registry, query, actor=caller.actor, now=now)
        return answer

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
        response.headers["ETag"] = etag(issue.version)
        if policy.reads_disclosed_only(caller.actor):
            return views.public_view(engine.db, issue, engine.registry, now)
        return caller_view(engine, caller, issue)

    return routes
