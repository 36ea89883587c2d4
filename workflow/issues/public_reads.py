"""Reads of what the public sees without signing in: the disclosed issues (the SQL form of
``policy.is_disclosed``, the issues the disclosure list holds) a page at a time, in id
order, filtered as the public portal filters them, and their categories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import distinct, func, select

from workflow.db import Database
from workflow.issues.queries import COUNT_CAP
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


def filtered_clauses(*, q: str | None = None, state: str | None = None,
                     category: str | None = None) -> list[Any]:
    """The disclosure's condition and the portal's filters: ``q`` text the title contains
    (as the ledger's, ``%`` and ``_`` as text), ``state`` and ``category`` as given."""
    clauses = [disclosed_clause()]
    if q:
        clauses.append(Issue.title.contains(q, autoescape=True))
    if state:
        clauses.append(Issue.state == state)
    if category:
        clauses.append(Issue.category == category)
    return clauses


def filtered_page(db: Database, clauses: list[Any], *, after: int | None, limit: int,
                  ) -> tuple[list[Issue], bool, int]:
    """Up to ``limit`` issues matching ``clauses`` (``filtered_clauses``) with an id above
    ``after`` in id order, whether more follow, and how many match (counted in SQL up to
    ``COUNT_CAP``, as the ledger; one more means more than that)."""
    query = select(Issue).where(*clauses).order_by(Issue.id).limit(limit + 1)
    if after is not None:
        query = query.where(Issue.id > after)
    with db.session() as session:
        found = list(session.scalars(query))
        capped = select(Issue.id).where(*clauses).limit(COUNT_CAP + 1).subquery()
        count = session.scalar(select(func.count()).select_from(capped)) or 0
    return found[:limit], len(found) > limit, count


def categories(db: Database) -> list[str]:
    """The categories (问题类别) of the disclosed issues, sorted."""
    with db.session() as session:
        return list(session.scalars(
            select(distinct(Issue.category))
            .where(disclosed_clause(), Issue.category.is_not(None))
            .order_by(Issue.category)))
