"""The compiled SQL of the write path, generated once per dialect from the models.

``fire`` is the hot path: a read, a guarded update and an insert per transition. Going
through SQLAlchemy's execution layer costs several times the SQL itself, so the SQL text is
compiled once from the Core constructs (the models stay the single source of the schema)
and run on the DBAPI cursor by ``workflow.issues.transaction``, the only module that uses
these statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from workflow.audit import AUDIT, CHAIN_LOCK
from workflow.db import Database
from workflow.issues.rows import FACT_COLUMNS, IssueRow
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
    PublicObjection,
    Timer,
    Unit,
)
from workflow.spec.timers import (
    CANCELLED,
    DONE,
    LEASED,
    MILESTONE,
    PENDING,
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
OBJECTIONS = PublicObjection.__table__
OBJECTION_COLUMNS = [c.key for c in OBJECTIONS.columns if c.key != "id"]
NOTIFICATION_COLUMNS = ["dedupe_key", "issue_id", "timer_id", "kind", "level", "recipient",
                        "channel", "contact_id", "address", "subject", "body", "status",
                        "attempts", "next_attempt_at", "created_at"]
ISSUE_COLUMNS = [c.key for c in ISSUES.columns if c.key != "id"]
EVENT_COLUMNS = [c.key for c in EVENTS.columns if c.key != "id"]
AUDIT_COLUMNS = [c.key for c in AUDIT.columns if c.key != "id"]
TIMER_COLUMNS = ["issue_id", "state", "kind", "level", "rank", "deadline_at", "due_at", "status",
                 "attempts", "created_at"]


def constant(value: str) -> Any:
    """A string constant written into the SQL text: the statements run with the caller's
    parameters only, so nothing may hide in SQLAlchemy's own bound values."""
    return literal_column("'" + value.replace("'", "''") + "'")


class Statements:
    """Compiled SQL for every write on the issue tables, with named parameters.

    Args:
        db: the database whose dialect the SQL is compiled for.
    """

    def __init__(self, db: Database):
        self.sqlite = db.is_sqlite
        self.integrity_error = db.engine.dialect.loaded_dbapi.IntegrityError  # a key refused
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
        # change of state: two statements, so the common one (a change of state) is plain.
        unsettled = (TIMERS.c.issue_id == bindparam("issue_id"),
                     TIMERS.c.status.in_([constant(PENDING), constant(LEASED)]))
        cancelled = {"status": constant(CANCELLED), "finished_at": bindparam("now"),
                     "lease_owner": null(), "lease_until": null()}
        self.cancel_all_timers = sql(update(TIMERS).where(*unsettled).values(**cancelled))
        self.cancel_timers_but_milestones = sql(
            update(TIMERS).where(*unsettled, TIMERS.c.kind != constant(MILESTONE))
            .values(**cancelled))
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
        self.insert_objection = sql(insert(OBJECTIONS), OBJECTION_COLUMNS)
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
        # The audit trail's one chain: PostgreSQL writers take its advisory lock (SQLite's
        # BEGIN IMMEDIATE serialises them already), read its head and append.
        self.lock_audit_chain = None if db.is_sqlite else sql(
            select(func.pg_advisory_xact_lock(literal_column(str(CHAIN_LOCK)))))
        self.select_audit_head = sql(select(AUDIT.c.hash).where(
            AUDIT.c.id == select(func.max(AUDIT.c.id)).scalar_subquery()))
        self.insert_audit = sql(insert(AUDIT), AUDIT_COLUMNS)
        self.select_proposal = sql(
            select(PROPOSALS.c.issue_id, PROPOSALS.c.status)
            .where(PROPOSALS.c.id == bindparam("proposal_id")))
        self.decide_proposal_sql = sql(
            update(PROPOSALS)
            .where(PROPOSALS.c.id == bindparam("proposal_id"),
                   PROPOSALS.c.status == constant("open"))
            .values(status=bindparam("new_status"), decided_at=bindparam("now"),
                    decided_by=bindparam("actor")))
