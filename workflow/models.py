"""SQLAlchemy 2.0 typed models: definitions, issues and their append-only event history.

All timestamps are stored as UTC (``UTCDateTime``); Alembic migrations in
``workflow/migrations`` create these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns aware UTC datetimes.

    SQLite has no time zones, so the value is stored naive-in-UTC there; PostgreSQL keeps
    ``timestamptz``. A naive value is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the engine stores only aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class DefinitionRecord(Base):
    """A process definition version as loaded; the source text is kept so running issues
    keep the exact rules they started under."""

    __tablename__ = "process_definitions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(500))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Issue(Base):
    """One rectification item (问题) moving through a definition's states."""

    __tablename__ = "issues"
    __table_args__ = (
        ForeignKeyConstraint(["definition_id", "definition_version"],
                             ["process_definitions.id", "process_definitions.version"]),
        UniqueConstraint("plan", "number", name="uq_issues_plan_number"),
        Index("ix_issues_state", "state"),
        Index("ix_issues_unit", "unit"),
        Index("ix_issues_leader", "leader"),
        Index("ix_issues_deadline_at", "deadline_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    leader: Mapped[str | None] = mapped_column(String(200))
    lead_unit: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str | None] = mapped_column(String(200))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    long_term: Mapped[bool] = mapped_column(default=False)
    definition_id: Mapped[str] = mapped_column(String(64))
    definition_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IssueEvent(Base):
    """An append-only history event; ``hash`` covers its content and ``prev_hash`` (the hash
    of the issue's previous event), so each issue's history is a tamper-evident chain."""

    __tablename__ = "issue_events"
    __table_args__ = (UniqueConstraint("issue_id", "seq", name="uq_issue_events_issue_seq"),
                      ForeignKeyConstraint(["issue_id"], ["issues.id"]))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(64))
    to_state: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
