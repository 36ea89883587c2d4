"""The engine's write statements, generated once per dialect from the models and run on the
DBAPI cursor.

``fire`` is the hot path: a read, a guarded update and an insert per transition. Going
through SQLAlchemy's execution layer costs several times the SQL itself, so the SQL text is
compiled once from the Core constructs (the models stay the single source of the schema) and
executed directly, with the two conversions SQLAlchemy would do: UTC datetimes and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import sqlite

from workflow.db import Database
from workflow.models import Issue, IssueEvent

ISSUES = Issue.__table__
EVENTS = IssueEvent.__table__

ISSUE_COLUMNS = [c.key for c in ISSUES.columns if c.key != "id"]
EVENT_COLUMNS = [c.key for c in EVENTS.columns if c.key != "id"]


class WriteStatements:
    """Compiled SQL for creating and moving issues, with named parameters.

    Args:
        db: the database whose dialect the SQL is compiled for.
    """

    def __init__(self, db: Database):
        self._db = db
        self._sqlite = db.is_sqlite
        dialect = sqlite.dialect(paramstyle="named") if db.is_sqlite else db.engine.dialect

        def sql(statement: Any, keys: list[str] | None = None) -> str:
            return str(statement.compile(dialect=dialect, column_keys=keys))

        self.select_for_fire = sql(select(
            ISSUES.c.state, ISSUES.c.version, ISSUES.c.head_hash, ISSUES.c.definition_id,
            ISSUES.c.definition_version).where(ISSUES.c.id == bindparam("issue_id")))
        self.guarded_update = sql(
            update(ISSUES)
            .where(ISSUES.c.id == bindparam("issue_id"),
                   ISSUES.c.version == bindparam("old_version"))
            .values(state=bindparam("new_state"), version=bindparam("new_version"),
                    head_hash=bindparam("new_hash"), updated_at=bindparam("now")))
        self.set_deadline = sql(update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
                                .values(deadline_at=bindparam("new_deadline")))
        self.insert_issue = sql(insert(ISSUES).returning(ISSUES.c.id), ISSUE_COLUMNS)
        self.insert_event = sql(insert(EVENTS), EVENT_COLUMNS)

    def time(self, value: datetime) -> Any:
        """An aware datetime as the column stores it (naive-UTC text on SQLite)."""
        value = value.astimezone(UTC)
        if self._sqlite:  # SQLAlchemy's storage format for SQLite DATETIME
            return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return value

    @staticmethod
    def json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A DBAPI cursor inside one write transaction (SQLite: ``BEGIN IMMEDIATE``);
        commits on success, rolls back on any error."""
        connection = self._db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self._sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            connection.close()
