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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workflow.db import Database
from workflow.errors import ConflictError
from workflow.issues.history import event_hash
from workflow.models import (
    AccountabilityIssue,
    AccountabilityProposal,
    AccountabilityRecord,
    Issue,
    IssueEvent,
    Milestone,
    Notification,
    Person,
    Plan,
    ProgressReport,
    Timer,
    Unit,
)
from workflow.spec.timers import (
    CANCELLED,
    DONE,
    LEASED,
    MILESTONE,
    MILESTONE_SEP,
    PENDING,
    PlannedTimer,
)

ISSUES = Issue.__table__
EVENTS = IssueEvent.__table__

TIMERS = Timer.__table__
MILESTONES = Milestone.__table__
NOTIFICATIONS = Notification.__table__
PROPOSALS = AccountabilityProposal.__table__
RECORDS = AccountabilityRecord.__table__
RECORD_ISSUES = AccountabilityIssue.__table__
RECORD_COLUMNS = [c.key for c in RECORDS.columns if c.key != "id"]
PROGRESS = ProgressReport.__table__
PROGRESS_COLUMNS = [c.key for c in PROGRESS.columns if c.key != "id"]
# Events the engine writes by itself (timers, calendar updates) carry this actor and role.
SYSTEM_ACTOR, SYSTEM_ROLE = "rectify", "system"
NOTIFICATION_COLUMNS = ["dedupe_key", "issue_id", "timer_id", "kind", "level", "recipient",
                        "channel", "address", "subject", "body", "status", "attempts",
                        "next_attempt_at", "created_at"]
ISSUE_COLUMNS = [c.key for c in ISSUES.columns if c.key != "id"]
EVENT_COLUMNS = [c.key for c in EVENTS.columns if c.key != "id"]
# The facts of an issue that a ledger import may change (整改情况清单 columns).
FACT_COLUMNS = ("category", "title", "target", "measures", "leader", "lead_unit", "unit",
                "responsible_units", "cooperating_units", "acceptance_unit", "deadline_at",
                "long_term", "progress_note")
TIMER_COLUMNS = ["issue_id", "state", "kind", "level", "rank", "deadline_at", "due_at", "status",
                 "attempts", "created_at"]


class IssueRow(NamedTuple):
    """What a write needs to know about an issue, read at the start of its transaction."""

    state: str
    version: int
    head_hash: str
    definition_id: str
    definition_version: int
    deadline_at: datetime | None
    due_at: datetime | None
    due_provisional: bool
    escalation_level: str | None
    key_supervision: bool
    unit: str | None
    lead_unit: str | None
    leader: str | None
    number: str | None
    title: str
    responsible_units: list[str]
    cooperating_units: list[str]
    acceptance_unit: str | None
    stage: str | None
    stage_until: datetime | None

    def units(self) -> set[str]:
        """Every unit that works the issue: lead, responsible and cooperating units."""
        return {u for u in (self.unit, self.lead_unit, *self.responsible_units,
                            *self.cooperating_units) if u}


@dataclass(frozen=True)
class Due:
    """The deadline bookkeeping an issue carries after a write."""

    at: datetime | None
    provisional: bool
    level: str | None
    key_supervision: bool

    @classmethod
    def of(cls, row: IssueRow) -> Due:
        return cls(row.due_at, row.due_provisional, row.escalation_level, row.key_supervision)


@dataclass(frozen=True)
class EventDraft:
    """One history event to append (who, what, and the state change)."""

    actor: str
    role: str
    trigger: str
    from_state: str | None
    to_state: str
    comment: str | None
    payload: dict[str, Any]


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def constant(value: str) -> Any:
    """A string constant written into the SQL text: the statements run with the caller's
    parameters only, so nothing may hide in SQLAlchemy's own bound values."""
    return literal_column("'" + value.replace("'", "''") + "'")


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

        self.select_for_fire = sql(select(*(ISSUES.c[name] for name in IssueRow._fields))
                                   .where(ISSUES.c.id == bindparam("issue_id")))
        self.guarded_update = sql(
            update(ISSUES)
            .where(ISSUES.c.id == bindparam("issue_id"),
                   ISSUES.c.version == bindparam("old_version"))
            .values(state=bindparam("new_state"), version=bindparam("new_version"),
                    head_hash=bindparam("new_hash"), updated_at=bindparam("now"),
                    due_at=bindparam("new_due_at"), due_provisional=bindparam("new_provisional"),
                    escalation_level=bindparam("new_level"),
                    key_supervision=bindparam("new_key_supervision")))
        # Milestone timers outlive a transition within the same state (an extension), not a
        # change of state.
        self.cancel_timers = sql(
            update(TIMERS)
            .where(TIMERS.c.issue_id == bindparam("issue_id"),
                   TIMERS.c.status.in_([constant(PENDING), constant(LEASED)]),
                   or_(TIMERS.c.kind != constant(MILESTONE),
                       bindparam("with_milestones", type_=Boolean) == true()))
            .values(status=constant(CANCELLED), finished_at=bindparam("now"), lease_owner=null(),
                    lease_until=null()))
        self.insert_timer = sql(insert(TIMERS), TIMER_COLUMNS)
        # A sweeper settles a timer that is pending, leased to it, or whose lease ran out;
        # never one another sweeper holds right now.
        self.finish_timer_sql = sql(
            update(TIMERS)
            .where(TIMERS.c.id == bindparam("timer_id"),
                   or_(TIMERS.c.status == constant(PENDING),
                       and_(TIMERS.c.status == constant(LEASED),
                            or_(TIMERS.c.lease_owner == bindparam("owner"),
                                TIMERS.c.lease_until < bindparam("now")))))
            .values(status=bindparam("new_status"), finished_at=bindparam("now"),
                    lease_owner=null(), lease_until=null()))
        self.select_entered_at = sql(
            select(EVENTS.c.at)
            .where(EVENTS.c.issue_id == bindparam("issue_id"),
                   EVENTS.c.to_state == bindparam("state"),
                   EVENTS.c.seq <= bindparam("version"),
                   or_(EVENTS.c.from_state.is_(None), EVENTS.c.from_state != EVENTS.c.to_state))
            .order_by(EVENTS.c.seq.desc()))
        self.delete_open_milestones = sql(
            delete(MILESTONES).where(MILESTONES.c.issue_id == bindparam("issue_id"),
                                     MILESTONES.c.reached_at.is_(None)))
        self.insert_milestone = sql(insert(MILESTONES), ["issue_id", "name", "due_at"])
        self.reach_milestone_sql = sql(
            update(MILESTONES)
            .where(MILESTONES.c.issue_id == bindparam("issue_id"),
                   MILESTONES.c.name == bindparam("name"), MILESTONES.c.reached_at.is_(None))
            .values(reached_at=bindparam("now")))
        self.cancel_milestone_timers = sql(
            update(TIMERS)
            .where(TIMERS.c.issue_id == bindparam("issue_id"),
                   TIMERS.c.status.in_([constant(PENDING), constant(LEASED)]),
                   TIMERS.c.kind == constant(MILESTONE),
                   TIMERS.c.level.like(bindparam("level_like"), escape="\\"))
            .values(status=constant(CANCELLED), finished_at=bindparam("now"), lease_owner=null(),
                    lease_until=null()))
        self.select_open_milestones = sql(
            select(MILESTONES.c.name, MILESTONES.c.due_at)
            .where(MILESTONES.c.issue_id == bindparam("issue_id"),
                   MILESTONES.c.reached_at.is_(None)))
        self.select_milestone_rank = sql(
            select(func.max(TIMERS.c.rank))
            .where(TIMERS.c.issue_id == bindparam("issue_id"),
                   TIMERS.c.kind == constant(MILESTONE), TIMERS.c.status == constant(DONE),
                   TIMERS.c.level.like(bindparam("level_like"), escape="\\"),
                   TIMERS.c.deadline_at == bindparam("deadline_at")))
        self.select_due_timers = sql(
            select(TIMERS.c.id, TIMERS.c.issue_id, TIMERS.c.state, TIMERS.c.kind,
                   TIMERS.c.level, TIMERS.c.rank, TIMERS.c.deadline_at, TIMERS.c.due_at)
            .where(TIMERS.c.issue_id == bindparam("issue_id"),
                   TIMERS.c.status.in_([constant(PENDING), constant(LEASED)]),
                   TIMERS.c.due_at <= bindparam("now"))
            .order_by(TIMERS.c.id))
        upsert = sqlite_insert if db.is_sqlite else postgresql_insert
        self.insert_notification = sql(
            upsert(NOTIFICATIONS).on_conflict_do_nothing(index_elements=["dedupe_key"]),
            NOTIFICATION_COLUMNS)
        self.insert_proposal = sql(
            upsert(PROPOSALS).on_conflict_do_nothing(index_elements=["issue_id", "timer_id"]),
            ["issue_id", "timer_id", "reason", "status", "opened_at"])
        self.set_deadline = sql(update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
                                .values(deadline_at=bindparam("new_deadline")))
        self.insert_issue = sql(insert(ISSUES).returning(ISSUES.c.id), ISSUE_COLUMNS)
        self.insert_event = sql(insert(EVENTS), EVENT_COLUMNS)
        self.set_definition_sql = sql(
            update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"),
                                 ISSUES.c.version == bindparam("version"))
            .values(definition_id=bindparam("definition_id"),
                    definition_version=bindparam("definition_version")))
        self.set_schedule_status_sql = sql(
            update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
            .values(schedule_status=bindparam("status")))
        self.select_progress = sql(
            select(PROGRESS.c.id, PROGRESS.c.status)
            .where(PROGRESS.c.issue_id == bindparam("issue_id"),
                   PROGRESS.c.month == bindparam("month")))
        self.insert_progress = sql(insert(PROGRESS), PROGRESS_COLUMNS)
        self.select_newest_progress = sql(
            select(PROGRESS.c.status, PROGRESS.c.on_schedule)
            .where(PROGRESS.c.issue_id == bindparam("issue_id"))
            .order_by(PROGRESS.c.month.desc()))
        self.submit_missing_progress = sql(
            update(PROGRESS).where(PROGRESS.c.id == bindparam("report_id"),
                                   PROGRESS.c.status == constant("missing"))
            .values(status=constant("submitted"), text=bindparam("text"),
                    percent=bindparam("percent"), on_schedule=bindparam("on_schedule"),
                    reported_by=bindparam("reported_by"), reported_at=bindparam("reported_at")))
        self.set_acceptor_sql = sql(
            update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
            .values(accepted_by=bindparam("person"), accepted_unit=bindparam("unit")))
        self.set_stage_sql = sql(
            update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
            .values(stage=bindparam("stage"), stage_until=bindparam("stage_until")))
        self.select_children = sql(
            select(ISSUES.c.id, ISSUES.c.unit, ISSUES.c.state, ISSUES.c.definition_id,
                   ISSUES.c.definition_version)
            .where(ISSUES.c.parent_id == bindparam("issue_id")).order_by(ISSUES.c.id))
        self.update_facts = sql(
            update(ISSUES).where(ISSUES.c.id == bindparam("issue_id"))
            .values(**{column: bindparam(f"new_{column}") for column in FACT_COLUMNS}))
        self.insert_unit_if_new = sql(
            upsert(Unit.__table__).on_conflict_do_nothing(index_elements=["name"]),
            ["name", "parent"])
        self.insert_person_if_new = sql(
            upsert(Person.__table__).on_conflict_do_nothing(index_elements=["name"]),
            ["name", "title", "rank", "unit", "roles", "sectors"])
        self.insert_plan_if_new = sql(
            upsert(Plan.__table__).on_conflict_do_nothing(index_elements=["name"]),
            ["name", "inspection", "issued_on", "categories"])
        self.insert_record = sql(insert(RECORDS).returning(RECORDS.c.id), RECORD_COLUMNS)
        self.insert_record_issue = sql(insert(RECORD_ISSUES), ["record_id", "issue_id"])
        self.select_proposal = sql(
            select(PROPOSALS.c.issue_id, PROPOSALS.c.status)
            .where(PROPOSALS.c.id == bindparam("proposal_id")))
        self.decide_proposal_sql = sql(
            update(PROPOSALS)
            .where(PROPOSALS.c.id == bindparam("proposal_id"),
                   PROPOSALS.c.status == constant("open"))
            .values(status=bindparam("new_status"), decided_at=bindparam("now"),
                    decided_by=bindparam("actor")))

    def read_issue(self, cursor: Any, issue_id: int) -> IssueRow | None:
        """The issue's row inside the caller's transaction, times as aware UTC."""
        cursor.execute(self.select_for_fire, {"issue_id": issue_id})
        row = cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        for index in (5, 6, 19):  # deadline_at, due_at, stage_until
            values[index] = self.from_time(values[index])
        values[7], values[9] = bool(values[7]), bool(values[9])
        for index in (15, 16):  # responsible_units, cooperating_units (JSON)
            value = values[index]
            values[index] = list(json.loads(value) if isinstance(value, str) else value or [])
        return IssueRow(*values)

    def record(self, cursor: Any, *, issue_id: int, old_version: int, prev_hash: str,
               now: datetime, event: EventDraft, due: Due) -> str:
        """Move the issue under the version guard and append its hash-chained event.

        Raises:
            ConflictError: the issue is no longer at ``old_version``.
        """
        seq = old_version + 1
        new_hash = event_hash(issue_id=issue_id, seq=seq, at=now, actor=event.actor,
                              role=event.role, trigger=event.trigger,
                              from_state=event.from_state, to_state=event.to_state,
                              comment=event.comment, payload=event.payload,
                              prev_hash=prev_hash)
        at = self.time(now)
        cursor.execute(self.guarded_update, {
            "issue_id": issue_id, "old_version": old_version, "new_state": event.to_state,
            "new_version": seq, "new_hash": new_hash, "now": at,
            "new_due_at": self.time(due.at) if due.at else None,
            "new_provisional": due.provisional, "new_level": due.level,
            "new_key_supervision": due.key_supervision})
        if cursor.rowcount != 1:
            raise ConflictError(issue_id=issue_id, expected=old_version)
        cursor.execute(self.insert_event, {
            "issue_id": issue_id, "seq": seq, "at": at, "actor": event.actor,
            "role": event.role, "trigger": event.trigger, "from_state": event.from_state,
            "to_state": event.to_state, "comment": event.comment,
            "payload": self.json(event.payload), "prev_hash": prev_hash, "hash": new_hash})
        return new_hash

    def schedule(self, cursor: Any, *, issue_id: int, state: str, deadline: datetime,
                 timers: list[PlannedTimer], now: datetime) -> None:
        """Write the planned timers of a state's deadline (one round trip)."""
        if timers:
            deadline_at, created_at = self.time(deadline), self.time(now)
            cursor.executemany(self.insert_timer, [{
                "issue_id": issue_id, "state": state, "kind": timer.kind, "level": timer.level,
                "rank": timer.rank, "deadline_at": deadline_at,
                "due_at": self.time(timer.due_at), "status": PENDING, "attempts": 0,
                "created_at": created_at} for timer in timers])

    def entered_at(self, cursor: Any, issue_id: int, state: str, version: int) -> datetime:
        """When the issue last moved into ``state`` (or was created in it)."""
        cursor.execute(self.select_entered_at, {"issue_id": issue_id, "state": state,
                                                "version": version})
        entered = self.from_time(cursor.fetchone()[0])
        cursor.fetchall()  # the older entries, not needed
        return entered

    def replace_milestones(self, cursor: Any, issue_id: int,
                           milestones: list[tuple[str, datetime]]) -> None:
        """Replace the issue's unreached milestones; reached ones stay on record."""
        cursor.execute(self.delete_open_milestones, {"issue_id": issue_id})
        cursor.executemany(self.insert_milestone, [
            {"issue_id": issue_id, "name": name, "due_at": self.time(due)}
            for name, due in milestones])

    def reach_milestone(self, cursor: Any, issue_id: int, name: str, now: datetime) -> bool:
        cursor.execute(self.reach_milestone_sql, {"issue_id": issue_id, "name": name,
                                                  "now": self.time(now)})
        return cursor.rowcount == 1

    def cancel_milestones(self, cursor: Any, issue_id: int, now: datetime,
                          name: str | None = None) -> None:
        """Cancel the pending timers of one milestone (or of all of them)."""
        pattern = "%" if name is None else _like_prefix(f"{name}{MILESTONE_SEP}")
        cursor.execute(self.cancel_milestone_timers, {"issue_id": issue_id, "now": self.time(now),
                                                      "level_like": pattern})

    def open_milestones(self, cursor: Any, issue_id: int) -> dict[str, datetime | None]:
        """Unreached milestones of the issue: name → due time."""
        cursor.execute(self.select_open_milestones, {"issue_id": issue_id})
        return {name: self.from_time(due) for name, due in cursor.fetchall()}

    def milestone_reached_rank(self, cursor: Any, issue_id: int, name: str,
                               deadline_at: datetime) -> int:
        """The highest step already sent on a milestone's timeline (-1 for none)."""
        cursor.execute(self.select_milestone_rank, {
            "issue_id": issue_id, "level_like": _like_prefix(f"{name}{MILESTONE_SEP}"),
            "deadline_at": self.time(deadline_at)})
        rank = cursor.fetchone()[0]
        return -1 if rank is None else rank

    def due_timers(self, cursor: Any, issue_id: int, now: datetime) -> list[tuple[Any, ...]]:
        """The issue's unsettled timers that are due, oldest first (times as aware UTC)."""
        cursor.execute(self.select_due_timers, {"issue_id": issue_id, "now": self.time(now)})
        return [(*row[:6], self.from_time(row[6]), self.from_time(row[7]))
                for row in cursor.fetchall()]

    def finish_timer(self, cursor: Any, timer_id: int, *, owner: str, status: str,
                     now: datetime) -> bool:
        """Settle a timer; False when another sweeper holds it (or it is settled already)."""
        cursor.execute(self.finish_timer_sql, {"timer_id": timer_id, "owner": owner,
                                               "new_status": status, "now": self.time(now)})
        return cursor.rowcount == 1

    def enqueue(self, cursor: Any, values: dict[str, Any]) -> int:
        """Queue one notification unless its dedupe key is queued already; returns 1 or 0."""
        values = {**values, "next_attempt_at": self.time(values["next_attempt_at"]),
                  "created_at": self.time(values["created_at"])}
        cursor.execute(self.insert_notification, values)
        return max(cursor.rowcount, 0)

    def open_proposal(self, cursor: Any, *, issue_id: int, timer_id: int | None, now: datetime,
                      reason: str) -> None:
        """Open an accountability proposal (问责建议) for the office: once per escalation
        timer, or on a transition that opens one (``timer_id`` None)."""
        cursor.execute(self.insert_proposal, {"issue_id": issue_id, "timer_id": timer_id,
                                              "reason": reason, "status": "open",
                                              "opened_at": self.time(now)})

    def set_definition(self, cursor: Any, issue_id: int, version: int, definition_id: str,
                       definition_version: int) -> None:
        """Pin the issue (at ``version``) to another definition version."""
        cursor.execute(self.set_definition_sql, {
            "issue_id": issue_id, "version": version, "definition_id": definition_id,
            "definition_version": definition_version})
        if cursor.rowcount != 1:
            raise ConflictError(issue_id=issue_id, expected=version)

    def set_stage(self, cursor: Any, issue_id: int, stage: str | None,
                  until: datetime | None) -> None:
        cursor.execute(self.set_stage_sql, {"issue_id": issue_id, "stage": stage,
                                            "stage_until": self.time(until) if until else None})

    def set_acceptor(self, cursor: Any, issue_id: int, person: str, unit: str) -> None:
        """Record who accepted the issue and for which unit (谁验收、谁负责)."""
        cursor.execute(self.set_acceptor_sql, {"issue_id": issue_id, "person": person,
                                               "unit": unit})

    def children(self, cursor: Any, issue_id: int) -> list[tuple[int, str | None, str, str, int]]:
        """The issue's sub-tasks: ``(id, unit, state, definition id, definition version)``."""
        cursor.execute(self.select_children, {"issue_id": issue_id})
        return [tuple(row) for row in cursor.fetchall()]  # type: ignore[misc]

    def set_schedule_status(self, cursor: Any, issue_id: int, status: str | None) -> None:
        cursor.execute(self.set_schedule_status_sql, {"issue_id": issue_id, "status": status})

    def refresh_schedule_status(self, cursor: Any, issue_id: int) -> None:
        """Set the issue's schedule status from its newest month on record: missing, or
        on / behind schedule as that report said."""
        cursor.execute(self.select_newest_progress, {"issue_id": issue_id})
        row = cursor.fetchone()
        cursor.fetchall()  # the older months, not needed
        if row is None:
            return
        status = "missing" if row[0] == "missing" else "on" if row[1] else "behind"
        self.set_schedule_status(cursor, issue_id, status)

    def progress_of(self, cursor: Any, issue_id: int, month: str) -> tuple[int, str] | None:
        """``(id, status)`` of the issue's report row for ``month``, or None."""
        cursor.execute(self.select_progress, {"issue_id": issue_id, "month": month})
        row = cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def add_progress(self, cursor: Any, values: dict[str, Any]) -> None:
        """Insert a progress report row (submitted, or marked missing)."""
        cursor.execute(self.insert_progress, {
            **{key: None for key in PROGRESS_COLUMNS}, **values,
            "reported_at": self.time(values["reported_at"]) if values.get("reported_at")
            else None,
            "flagged_at": self.time(values["flagged_at"]) if values.get("flagged_at")
            else None})

    def fill_missing_progress(self, cursor: Any, report_id: int, values: dict[str, Any]) -> None:
        """A late report fills the month that was marked missing."""
        cursor.execute(self.submit_missing_progress, {
            "report_id": report_id, **values, "reported_at": self.time(values["reported_at"])})

    def add_record(self, cursor: Any, values: dict[str, Any], issue_ids: list[int]) -> int:
        """Insert an accountability record and its links to issues; returns its id."""
        cursor.execute(self.insert_record, {
            **values, "methods": self.json(values["methods"]),
            "decided_on": values["decided_on"].isoformat() if self._sqlite
            else values["decided_on"], "recorded_at": self.time(values["recorded_at"])})
        record_id = int(cursor.fetchone()[0])
        cursor.executemany(self.insert_record_issue, [
            {"record_id": record_id, "issue_id": issue_id} for issue_id in issue_ids])
        return record_id

    def proposal(self, cursor: Any, proposal_id: int) -> tuple[int, str] | None:
        """``(issue id, status)`` of an accountability proposal, or None."""
        cursor.execute(self.select_proposal, {"proposal_id": proposal_id})
        row = cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def decide_proposal(self, cursor: Any, proposal_id: int, *, status: str, actor: str,
                        now: datetime) -> bool:
        """Close an open proposal as ``adopted`` or ``dismissed``; False if it was not open."""
        cursor.execute(self.decide_proposal_sql, {"proposal_id": proposal_id,
                                                  "new_status": status, "actor": actor,
                                                  "now": self.time(now)})
        return cursor.rowcount == 1

    def from_time(self, value: Any) -> datetime | None:
        """A stored time read through the DBAPI, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

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
