"""The one write path: ``IssueTx``, a write transaction on one DBAPI connection with a
typed method for every write the domain makes — read an issue under the transaction, move it
under its version guard and append its hash-chained event (an HMAC under the current
history key), plan and settle timers, queue notifications, record progress reports and
accountability, and append an administrative change's audit record in the same transaction.

The engine and every domain writer (sweep, supervision, ledger import, version moves) take
an ``IssueTx`` from ``Engine.transaction()``; none of them touches a cursor or an SQL string.
Times are converted here (aware UTC in, aware UTC out; SQLite stores naive UTC text) and JSON
columns are encoded here, the two conversions SQLAlchemy's execution layer would do.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from workflow.audit import GENESIS as AUDIT_GENESIS
from workflow.audit import AuditEntry, audit_hash
from workflow.clock import Clock, local
from workflow.db import Database
from workflow.errors import ConflictError, InputError
from workflow.issues.history import hash_stored, payload_json
from workflow.issues.keys import HistoryKey
from workflow.issues.rows import FACT_COLUMNS, Due, EventDraft, IssueRow
from workflow.issues.statements import OBJECTION_COLUMNS, PROGRESS_COLUMNS, Statements
from workflow.spec.timers import MILESTONE_SEP, PENDING, PlannedTimer


@functools.lru_cache(maxsize=1024)  # an office has dozens of units, issues repeat them
def _decode_units(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def compile_statements(db: Database) -> Statements:
    """The write SQL for ``db``'s dialect, compiled once; keep it for the database's life
    (the engine holds one) and hand it to ``open_transaction``."""
    return Statements(db)


def check_not_ahead(now: datetime, latest: datetime | None) -> None:
    """Refuse a time after ``latest`` (the real time; None: a training database, any time).

    Raises:
        InputError: ``now`` is ahead of ``latest``.
    """
    if latest is not None and now > latest:
        raise InputError(f"the time {local(now):%Y-%m-%d %H:%M} (Asia/Shanghai) is ahead of the "
                         f"real time {local(latest):%Y-%m-%d %H:%M}: on a database not created "
                         "for training no record is dated in the future. Act at the real "
                         "time, or use a training database (`rectify init --training`)")


class open_transaction:
    """One write transaction (SQLite: ``BEGIN IMMEDIATE``) as an ``IssueTx`` whose events are
    hashed under ``key`` and dated no later than ``real_clock`` says (None: any time, a
    training database); commits on success, rolls back on any error (a class, not a
    generator: it runs on every transition)."""

    __slots__ = ("_integrity_error", "_key", "_raw", "_real_clock", "_statements")

    def __init__(self, db: Database, statements: Statements, key: HistoryKey, *,
                 real_clock: Clock | None = None):
        self._raw = db.raw_transaction()
        self._statements, self._key, self._real_clock = statements, key, real_clock
        self._integrity_error = statements.integrity_error

    def __enter__(self) -> IssueTx:
        cursor = self._raw.__enter__()
        return IssueTx(self._statements, cursor, self._key, real_clock=self._real_clock,
                       integrity_error=self._integrity_error)

    def __exit__(self, kind: Any, error: Any, trace: Any) -> bool | None:
        return self._raw.__exit__(kind, error, trace)


class IssueTx:
    """Typed writes inside one transaction.

    Args:
        statements: the compiled SQL for the database's dialect.
        cursor: the DBAPI cursor of the open transaction.
        key: the history key every event appended here is hashed with.
        real_clock: the real time, which no event may be dated after; None on a training
            database, whose clock may be moved.
        integrity_error: the DBAPI's ``IntegrityError`` (a unique key refused a row).
    """

    def __init__(self, statements: Statements, cursor: Any, key: HistoryKey, *,
                 real_clock: Clock | None = None,
                 integrity_error: type[Exception] = Exception):
        self._sql = statements
        self._cursor = cursor
        self._key = key
        self._real_clock = real_clock
        self._integrity_error = integrity_error
        self._last_time: datetime | None = None
        self._last_stored: Any = None

    def insert_issue(self, values: Mapping[str, Any]) -> int:
        """Insert an issue row (every column but ``id``; times aware, lists as lists);
        returns its id."""
        row = dict(values)
        for key in ("responsible_units", "cooperating_units"):
            row[key] = self._json(row[key])
        for key in ("deadline_at", "created_at", "updated_at", "stage_until"):
            row[key] = self._time(row[key]) if row[key] is not None else None
        try:
            self._cursor.execute(self._sql.insert_issue, row)
        except self._integrity_error:
            raise InputError(f"plan {row.get('plan')!r} has an item with 序号 "
                             f"{row.get('number')!r} already; a 序号 is unique within its "
                             "plan, give another") from None
        return int(self._cursor.fetchone()[0])

    def set_deadline(self, issue_id: int, deadline_at: datetime) -> None:
        """Move the issue's 整改时限 (an approved extension, a rebound's new deadline)."""
        self._cursor.execute(self._sql.set_deadline, {"issue_id": issue_id,
                                                      "new_deadline": self._time(deadline_at)})

    def cancel_timers(self, issue_id: int, now: datetime, *, with_milestones: bool) -> None:
        """Cancel the issue's unsettled timers (milestone timers too when
        ``with_milestones``: the issue leaves the state they belong to)."""
        statement = self._sql.cancel_all_timers if with_milestones else \
            self._sql.cancel_timers_but_milestones
        self._cursor.execute(statement, {"issue_id": issue_id, "now": self._time(now)})

    def update_facts(self, issue_id: int, facts: Mapping[str, Any]) -> None:
        """Write the descriptive facts of ``FACT_COLUMNS`` (a ledger import's update)."""
        values = {f"new_{key}": facts[key] for key in FACT_COLUMNS}
        for key in ("responsible_units", "cooperating_units"):
            values[f"new_{key}"] = self._json(list(values[f"new_{key}"] or []))
        if values["new_deadline_at"] is not None:
            values["new_deadline_at"] = self._time(values["new_deadline_at"])
        self._cursor.execute(self._sql.update_facts, {"issue_id": issue_id, **values})

    def add_plan_if_new(self, name: str, categories: list[str]) -> None:
        """Register a plan with its categories unless one of that name exists."""
        self._cursor.execute(self._sql.insert_plan_if_new, {
            "name": name, "inspection": None, "issued_on": None,
            "categories": self._json(categories)})

    def add_unit_if_new(self, name: str) -> int:
        """Register a unit unless it exists; returns 1 when it was new, else 0."""
        self._cursor.execute(self._sql.insert_unit_if_new, {"name": name, "parent": None})
        return max(self._cursor.rowcount, 0)

    def add_person_if_new(self, name: str, role: str) -> int:
        """Register a person in one role unless they exist; returns 1 when new, else 0."""
        self._cursor.execute(self._sql.insert_person_if_new, {
            "name": name, "title": None, "rank": None, "unit": None,
            "roles": self._json([role]), "sectors": self._json([])})
        return max(self._cursor.rowcount, 0)

    def read_issue(self, issue_id: int) -> IssueRow | None:
        """The issue's row inside the caller's transaction, times as aware UTC."""
        self._cursor.execute(self._sql.select_for_fire, {"issue_id": issue_id})
        row = self._cursor.fetchone()
        if row is None:
            return None
        values = list(row)
        from_time, units = self._from_time, self._units
        for index in (5, 6, 19):  # deadline_at, due_at, stage_until
            if values[index] is not None:
                values[index] = from_time(values[index])
        values[7], values[9] = bool(values[7]), bool(values[9])
        values[15], values[16] = units(values[15]), units(values[16])
        return IssueRow(*values)

    @staticmethod
    def _units(value: Any) -> list[str]:
        """A JSON list of units as read through the DBAPI (text on SQLite)."""
        if not value or value == "[]":
            return []
        return list(_decode_units(value) if isinstance(value, str) else value)

    def record(self, *, issue_id: int, old_version: int, prev_hash: str,
               now: datetime, event: EventDraft, due: Due) -> str:
        """Move the issue under the version guard and append its hash-chained event.

        Raises:
            ConflictError: the issue is no longer at ``old_version``.
            InputError: ``now`` is ahead of the real time on a database not for training.
        """
        if self._real_clock is not None:
            check_not_ahead(now, self._real_clock.now())
        seq = old_version + 1
        if event.os_user is not None:
            event = replace(event, payload={**event.payload, "os_user": event.os_user})
        payload = payload_json(event.payload)
        new_hash = hash_stored(issue_id=issue_id, seq=seq, at=now, actor=event.actor,
                               role=event.role, trigger=event.trigger,
                               from_state=event.from_state, to_state=event.to_state,
                               comment=event.comment, payload_text=payload,
                               prev_hash=prev_hash, key=self._key)
        at = self._time(now)
        self._cursor.execute(self._sql.guarded_update, {
            "issue_id": issue_id, "old_version": old_version, "new_state": event.to_state,
            "new_version": seq, "new_hash": new_hash, "now": at,
            "new_due_at": self._time(due.at) if due.at else None,
            "new_provisional": due.provisional, "new_level": due.level,
            "new_key_supervision": due.key_supervision})
        if self._cursor.rowcount != 1:
            raise ConflictError(issue_id=issue_id, expected=old_version)
        self._cursor.execute(self._sql.insert_event, {
            "issue_id": issue_id, "seq": seq, "at": at, "actor": event.actor,
            "role": event.role, "trigger": event.trigger, "from_state": event.from_state,
            "to_state": event.to_state, "comment": event.comment,
            "payload": payload, "prev_hash": prev_hash, "hash": new_hash,
            "key_id": self._key.id})
        return new_hash

    def schedule(self, *, issue_id: int, state: str, deadline: datetime,
                 timers: list[PlannedTimer], now: datetime) -> None:
        """Write the planned timers of a state's deadline (one round trip)."""
        if timers:
            deadline_at, created_at = self._time(deadline), self._time(now)
            self._cursor.executemany(self._sql.insert_timer, [{
                "issue_id": issue_id, "state": state, "kind": timer.kind, "level": timer.level,
                "rank": timer.rank, "deadline_at": deadline_at,
                "due_at": self._time(timer.due_at), "status": PENDING, "attempts": 0,
                "created_at": created_at} for timer in timers])

    def entered_at(self, issue_id: int, state: str, version: int) -> datetime:
        """When the issue last moved into ``state`` (or was created in it)."""
        self._cursor.execute(self._sql.select_entered_at, {"issue_id": issue_id, "state": state,
                                                           "version": version})
        entered = self._from_time(self._cursor.fetchone()[0])
        self._cursor.fetchall()  # the older entries, not needed
        return entered

    def replace_milestones(self, issue_id: int,
                           milestones: list[tuple[str, datetime]]) -> None:
        """Replace the issue's unreached milestones; reached ones stay on record."""
        self._cursor.execute(self._sql.delete_open_milestones, {"issue_id": issue_id})
        self._cursor.executemany(self._sql.insert_milestone, [
            {"issue_id": issue_id, "name": name, "due_at": self._time(due)}
            for name, due in milestones])

    def reach_milestone(self, issue_id: int, name: str, now: datetime) -> bool:
        self._cursor.execute(self._sql.reach_milestone_sql, {"issue_id": issue_id, "name": name,
                                                             "now": self._time(now)})
        return self._cursor.rowcount == 1

    def cancel_milestones(self, issue_id: int, now: datetime,
                          name: str | None = None) -> None:
        """Cancel the pending timers of one milestone (or of all of them)."""
        pattern = "%" if name is None else _like_prefix(f"{name}{MILESTONE_SEP}")
        self._cursor.execute(self._sql.cancel_milestone_timers, {
            "issue_id": issue_id, "now": self._time(now), "level_like": pattern})

    def open_milestones(self, issue_id: int) -> dict[str, datetime | None]:
        """Unreached milestones of the issue: name → due time."""
        self._cursor.execute(self._sql.select_open_milestones, {"issue_id": issue_id})
        return {name: self._from_time(due) for name, due in self._cursor.fetchall()}

    def milestone_reached_rank(self, issue_id: int, name: str,
                               deadline_at: datetime) -> int:
        """The highest step already sent on a milestone's timeline (-1 for none)."""
        self._cursor.execute(self._sql.select_milestone_rank, {
            "issue_id": issue_id, "level_like": _like_prefix(f"{name}{MILESTONE_SEP}"),
            "deadline_at": self._time(deadline_at)})
        rank = self._cursor.fetchone()[0]
        return -1 if rank is None else rank

    def due_timers(self, issue_id: int, now: datetime) -> list[tuple[Any, ...]]:
        """The issue's unsettled timers that are due, oldest first (times as aware UTC)."""
        self._cursor.execute(self._sql.select_due_timers, {"issue_id": issue_id,
                                                           "now": self._time(now)})
        return [(*row[:6], self._from_time(row[6]), self._from_time(row[7]))
                for row in self._cursor.fetchall()]

    def finish_timer(self, timer_id: int, *, owner: str, status: str,
                     now: datetime) -> bool:
        """Settle a timer; False when another sweeper holds it (or it is settled already)."""
        self._cursor.execute(self._sql.finish_timer_sql, {
            "timer_id": timer_id, "owner": owner, "new_status": status, "now": self._time(now)})
        return self._cursor.rowcount == 1

    def add_notification(self, values: Mapping[str, Any]) -> int:
        """Queue one notification unless its dedupe key is queued already; returns 1 or 0."""
        values = {**values, "next_attempt_at": self._time(values["next_attempt_at"]),
                  "created_at": self._time(values["created_at"])}
        self._cursor.execute(self._sql.insert_notification, values)
        return max(self._cursor.rowcount, 0)

    def open_proposal(self, *, issue_id: int, timer_id: int | None, now: datetime,
                      reason: str) -> None:
        """Open an accountability proposal (问责建议) for the office: once per escalation
        timer, or on a transition that opens one (``timer_id`` None)."""
        self._cursor.execute(self._sql.insert_proposal, {"issue_id": issue_id, "timer_id": timer_id,
                                                         "reason": reason, "status": "open",
                                                         "opened_at": self._time(now)})

    def set_definition(self, issue_id: int, version: int, definition_id: str,
                       definition_version: int) -> None:
        """Pin the issue (at ``version``) to another definition version."""
        self._cursor.execute(self._sql.set_definition_sql, {
            "issue_id": issue_id, "version": version, "definition_id": definition_id,
            "definition_version": definition_version})
        if self._cursor.rowcount != 1:
            raise ConflictError(issue_id=issue_id, expected=version)

    def set_stage(self, issue_id: int, stage: str | None,
                  until: datetime | None) -> None:
        self._cursor.execute(self._sql.set_stage_sql, {
            "issue_id": issue_id, "stage": stage,
            "stage_until": self._time(until) if until else None})

    def set_acceptor(self, issue_id: int, person: str, unit: str) -> None:
        """Record who accepted the issue and for which unit (谁验收、谁负责)."""
        self._cursor.execute(self._sql.set_acceptor_sql, {"issue_id": issue_id, "person": person,
                                                          "unit": unit})

    def children(self, issue_id: int) -> list[tuple[int, str | None, str, str, int]]:
        """The issue's sub-tasks: ``(id, unit, state, definition id, definition version)``."""
        self._cursor.execute(self._sql.select_children, {"issue_id": issue_id})
        return [tuple(row) for row in self._cursor.fetchall()]  # type: ignore[misc]

    def set_schedule_status(self, issue_id: int, status: str | None) -> None:
        self._cursor.execute(self._sql.set_schedule_status_sql, {"issue_id": issue_id,
                                                                 "status": status})

    def refresh_schedule_status(self, issue_id: int) -> None:
        """Set the issue's schedule status from its newest month on record: missing, or
        on / behind schedule as that report said."""
        self._cursor.execute(self._sql.select_newest_progress, {"issue_id": issue_id})
        row = self._cursor.fetchone()
        self._cursor.fetchall()  # the older months, not needed
        if row is None:
            return
        status = "missing" if row[0] == "missing" else "on" if row[1] else "behind"
        self.set_schedule_status(issue_id, status)

    def progress_of(self, issue_id: int, month: str) -> tuple[int, str] | None:
        """``(id, status)`` of the issue's report row for ``month``, or None."""
        self._cursor.execute(self._sql.select_progress, {"issue_id": issue_id, "month": month})
        row = self._cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def add_progress(self, values: dict[str, Any]) -> None:
        """Insert a progress report row (submitted, or marked missing)."""
        self._cursor.execute(self._sql.insert_progress, {
            **{key: None for key in PROGRESS_COLUMNS}, **values,
            "reported_at": self._time(values["reported_at"]) if values.get("reported_at")
            else None,
            "flagged_at": self._time(values["flagged_at"]) if values.get("flagged_at")
            else None})

    def add_objection(self, values: dict[str, Any]) -> None:
        """Insert a public objection (``public_objections``) with its ticket."""
        self._cursor.execute(self._sql.insert_objection, {
            **{key: None for key in OBJECTION_COLUMNS}, **values,
            "created_at": self._time(values["created_at"])})

    def fill_missing_progress(self, report_id: int, values: dict[str, Any]) -> None:
        """A late report fills the month that was marked missing."""
        self._cursor.execute(self._sql.submit_missing_progress, {
            "report_id": report_id, **values, "reported_at": self._time(values["reported_at"])})

    def add_record(self, values: dict[str, Any], issue_ids: list[int]) -> int:
        """Insert an accountability record and its links to issues; returns its id."""
        self._cursor.execute(self._sql.insert_record, {
            **values, "methods": self._json(values["methods"]),
            "decided_on": values["decided_on"].isoformat() if self._sql.sqlite
            else values["decided_on"], "recorded_at": self._time(values["recorded_at"])})
        record_id = int(self._cursor.fetchone()[0])
        self._cursor.executemany(self._sql.insert_record_issue, [
            {"record_id": record_id, "issue_id": issue_id} for issue_id in issue_ids])
        return record_id

    def proposal(self, proposal_id: int) -> tuple[int, str] | None:
        """``(issue id, status)`` of an accountability proposal, or None."""
        self._cursor.execute(self._sql.select_proposal, {"proposal_id": proposal_id})
        row = self._cursor.fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def decide_proposal(self, proposal_id: int, *, status: str, actor: str,
                        now: datetime) -> bool:
        """Close an open proposal as ``adopted`` or ``dismissed``; False if it was not open."""
        self._cursor.execute(self._sql.decide_proposal_sql, {"proposal_id": proposal_id,
                                                             "new_status": status, "actor": actor,
                                                             "now": self._time(now)})
        return self._cursor.rowcount == 1

    def append_audit(self, entry: AuditEntry, *, at: datetime) -> None:
        """Append an administrative change's record to the audit trail (keyed with the
        history key, chained to the trail's head) in this transaction."""
        if self._sql.lock_audit_chain is not None:
            self._cursor.execute(self._sql.lock_audit_chain)
            self._cursor.fetchall()
        self._cursor.execute(self._sql.select_audit_head)
        head = self._cursor.fetchone()
        prev_hash = head[0] if head else AUDIT_GENESIS
        at = at.astimezone(UTC)
        self._cursor.execute(self._sql.insert_audit, {
            "at": self._time(at), "actor": entry.actor, "role": entry.role,
            "os_user": entry.os_user, "action": entry.action, "subject": entry.subject,
            "details": self._json(entry.details), "prev_hash": prev_hash,
            "hash": audit_hash(at=at, entry=entry, prev_hash=prev_hash, key=self._key),
            "key_id": self._key.id})

    def _from_time(self, value: Any) -> datetime | None:
        """A stored time read through the DBAPI, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def _time(self, value: datetime) -> Any:
        """An aware datetime as the column stores it (naive-UTC text on SQLite)."""
        if value is self._last_time:  # a transaction stores its ``now`` several times
            return self._last_stored
        stored: Any = value.astimezone(UTC) if value.tzinfo is not UTC else value
        if self._sql.sqlite:  # SQLAlchemy's storage format for SQLite DATETIME
            stored = stored.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        self._last_time, self._last_stored = value, stored
        return stored

    @staticmethod
    def _json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)
