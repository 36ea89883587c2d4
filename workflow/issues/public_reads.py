"""Reads of what the public sees without signing in: the disclosed issues (the SQL form of
``policy.is_disclosed``, the issues the disclosure list holds) a page at a time, in id
order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from workflow.db import Database
from workflow.models import Issue


def disclosed_clause() -> Any:
    """SQL condition: the disclosure lists the issue (``policy.is_disclosed``: top-level
    issues; a sub-task is disclosed through its parent)."""
    return Issue.parent_id.is_(None)


def disclosed_page(db: Database, *, after: int | None, limit: int) -> tuple[list[Issue], bool]:
    """Up to ``limit`` disclosed issues with an id above ``after``, in id order, and whether
    more follow (keyset pagination by id)."""
    query = select(Issue).where(disclosed_clause()).order_by(Issue.id).limit(limit + 1)
    if after is not None:
        query = query.where(Issue.id > after)
    with db.session() as session:
        found = list(session.scalars(query))
    return found[:limit], len(found) > limit
