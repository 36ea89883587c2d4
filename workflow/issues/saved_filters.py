"""Saved ledger views (保存的筛选): the office saves the ledger page's query (its filters and
sort) under a name, and every office person sees the list and opens a view from it.

Saving and deleting are office acts on the audit trail (``OfficeAct``), in the change's own
write transaction. A name is required, at most ``NAME_MAX`` characters and unique; the query
is kept as the page's address gives it (at most ``QUERY_MAX`` characters), without a page
cursor, so a saved view always opens on its first page.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select

from workflow.clock import SystemClock
from workflow.db import Database, add_unique
from workflow.errors import InputError, NotFoundError
from workflow.models import SavedFilter
from workflow.org.directory import OfficeAct

NAME_MAX = 50
QUERY_MAX = 2000
# What a saved query keeps of the page's address: the ledger filters and the sort.
KEPT = ("state", "step", "light", "unit", "leader", "plan", "category", "q", "overdue",
        "long_term", "key_supervision", "sort")


def clean_query(query: str) -> str:
    """``query`` (an address's query string) with only the ledger's filters and sort, empty
    ones left out, in a fixed order."""
    given = {name: value.strip() for name, value in parse_qsl(query, keep_blank_values=False)
             if name in KEPT and value.strip()}
    return urlencode([(name, given[name]) for name in KEPT if name in given])


def save_filter(db: Database, name: str, query: str, *, by: OfficeAct) -> int:
    """Save the ledger view ``query`` under ``name`` (an office act, on the audit trail);
    returns its id.

    Raises:
        InputError: an empty name, one longer than ``NAME_MAX`` characters, one saved
            already, or a query longer than ``QUERY_MAX``; nothing is saved.
        ActionDeniedError: ``by`` is not the office.
    """
    name = name.strip()
    if not name:
        raise InputError("a saved filter needs a name")
    if len(name) > NAME_MAX:
        raise InputError(f"a saved filter's name has at most {NAME_MAX} characters; "
                         f"got {len(name)}")
    kept = clean_query(query)
    if len(kept) > QUERY_MAX:
        raise InputError(f"a saved filter's query has at most {QUERY_MAX} characters")
    now = SystemClock().now()
    with db.session(write=True) as session:
        by.check(session, "save ledger filters")
        if session.scalar(select(SavedFilter.id).where(SavedFilter.name == name)) is not None:
            raise InputError(f"saved filter {name!r} is registered already")
        saved = SavedFilter(name=name, query=kept, created_by=by.actor.name, created_at=now)
        filter_id = add_unique(session, saved, f"saved filter {name!r}")
        by.record(session, "saved_filter_add", f"saved filter {filter_id} {name}", at=now,
                  query=kept)
        return filter_id


def delete_filter(db: Database, filter_id: int, *, by: OfficeAct) -> str:
    """Delete a saved view (any office person may, on the audit trail); returns its name.

    Raises:
        NotFoundError: no saved filter has that id.
        ActionDeniedError: ``by`` is not the office.
    """
    with db.session(write=True) as session:
        by.check(session, "delete saved ledger filters")
        saved = session.get(SavedFilter, filter_id)
        if saved is None:
            raise NotFoundError(f"saved filter {filter_id} does not exist")
        name = saved.name
        by.record(session, "saved_filter_delete", f"saved filter {filter_id} {name}",
                  at=SystemClock().now(), query=saved.query, saved_by=saved.created_by)
        session.delete(saved)
        return name


def saved_filters(db: Database) -> list[SavedFilter]:
    """Every saved view, by name."""
    with db.session() as session:
        return list(session.scalars(select(SavedFilter).order_by(SavedFilter.name,
                                                                 SavedFilter.id)))
