"""SQLAlchemy 2.0 typed models: definitions, issues and their append-only event history.

All timestamps are stored as UTC (``UTCDateTime``); Alembic migrations in
``workflow/migrations`` create these tables.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
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
        # The ledger query's filters and sorts walk these in id order (migration 0022); on
        # PostgreSQL, GIN indexes of the unit lists as jsonb serve ``queries.works_unit``.
        Index("ix_issues_state_id", "state", "id"),
        Index("ix_issues_unit_id", "unit", "id"),
        Index("ix_issues_lead_unit_id", "lead_unit", "id"),
        Index("ix_issues_leader", "leader"),
        Index("ix_issues_deadline_at_id", "deadline_at", "id"),
        Index("ix_issues_due_at_id", "due_at", "id"),
        Index("ix_issues_number_order", text("length(number)"), "number", "id"),
        Index("ix_issues_parent_id", "parent_id"),
        *(Index(f"ix_issues_{column}_gin", text(f"(CAST({column} AS JSONB)) jsonb_path_ops"),
                postgresql_using="gin").ddl_if(dialect="postgresql")
          for column in ("responsible_units", "cooperating_units")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(50))
    category: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    target: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text)
    leader: Mapped[str | None] = mapped_column(String(200))
    lead_unit: Mapped[str | None] = mapped_column(String(200))  # 牵头单位
    unit: Mapped[str | None] = mapped_column(String(200))  # the first responsible unit
    responsible_units: Mapped[list[str]] = mapped_column(JSON, default=list)  # 责任单位, all
    cooperating_units: Mapped[list[str]] = mapped_column(JSON, default=list)  # 配合单位
    acceptance_unit: Mapped[str | None] = mapped_column(String(200))  # 牵头验收单位
    accepted_by: Mapped[str | None] = mapped_column(String(200))  # who accepted it (验收人)
    accepted_unit: Mapped[str | None] = mapped_column(String(200))  # for which unit
    progress_note: Mapped[str | None] = mapped_column(Text)  # 整改进展 as the ledger states it
    parent_id: Mapped[int | None] = mapped_column(Integer)  # a sub-task's issue
    stage: Mapped[str | None] = mapped_column(String(32))  # step inside the state (公示…)
    stage_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # end of its period
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    long_term: Mapped[bool] = mapped_column(default=False)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # current state's deadline
    due_provisional: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[str | None] = mapped_column(String(64))
    key_supervision: Mapped[bool] = mapped_column(default=False)  # 重点督办
    # The last monthly progress report: None (none owed yet), "on" / "behind" schedule (序时),
    # or "missing" (a month went unreported); behind and missing show yellow.
    schedule_status: Mapped[str | None] = mapped_column(String(16))
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
    # The history key ``hash`` is an HMAC with; None for events hashed before keying
    # (plain sha256). Not part of the hashed content: a changed id fails the hash anyway.
    key_id: Mapped[str | None] = mapped_column(String(32))


class Timer(Base):
    """A durable timer: a reminder, a milestone check or an escalation level that falls due
    at ``due_at``. A sweep claims due rows with a lease; an expired lease is claimable again."""

    __tablename__ = "timers"
    __table_args__ = (
        ForeignKeyConstraint(["issue_id"], ["issues.id"]),
        Index("ix_timers_status_due_at", "status", "due_at"),
        Index("ix_timers_issue_status", "issue_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # reminder | milestone | escalation
    level: Mapped[str] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer)  # order of levels within one deadline
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # pending | leased | done | skipped | cancelled
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Notification(Base):
    """The outbox: one row per message to one recipient on one channel. ``dedupe_key`` is
    unique, so the same notice can never be queued twice; delivery is at-least-once with the
    key sent as ``Idempotency-Key``."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
        Index("ix_notifications_status_next", "status", "next_attempt_at"),
        Index("ix_notifications_status_lease", "status", "lease_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    issue_id: Mapped[int | None] = mapped_column(Integer)
    timer_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))  # reminder | notice | digest
    level: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    # Where it goes: the contact it was queued for (its address and options are read at send
    # time), or, for a recipient without contacts and rows older than the reference, the
    # address itself. A webhook row keeps no address: the URL carries the robot's token.
    contact_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | sending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Contact(Base):
    """Where a recipient (a unit, a leader, the office) is reached on one channel."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("name", "channel", "address",
                                       name="uq_contacts_name_channel_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))  # log | email | webhook
    address: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Milestone(Base):
    """A stage deadline (阶段性节点) of an issue; missing one turns the light yellow."""

    __tablename__ = "milestones"
    __table_args__ = (ForeignKeyConstraint(["issue_id"], ["issues.id"]),
                      UniqueConstraint("issue_id", "name", name="uq_milestones_issue_name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccountabilityProposal(Base):
    """A proposal (问责建议) opened by escalation for the office to decide; never a sanction."""

    __tablename__ = "accountability_proposals"
    __table_args__ = (ForeignKeyConstraint(["issue_id"], ["issues.id"]),
                      UniqueConstraint("issue_id", "timer_id", name="uq_proposals_issue_timer"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(Integer)
    timer_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open | adopted | dismissed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))


class JobRun(Base):
    """One run of a scheduled job for one tick (its scheduled time). The unique key makes a
    tick run at most once, whichever scheduler holds the leader lock when it falls due."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "tick", name="uq_job_runs_job_tick"),
                      Index("ix_job_runs_started_at", "started_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    tick: Mapped[datetime] = mapped_column(UTCDateTime())
    owner: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # running | ok | failed
    detail: Mapped[str | None] = mapped_column(Text)


class SchedulerLeadership(Base):
    """The scheduler that leads now and since when (one row, written when a scheduler takes
    the leader lock): ``doctor`` counts a due row's wait from the later of its due time and
    this, so a backlog left by an outage reads as being caught up, not as lag."""

    __tablename__ = "scheduler_leadership"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class AccountabilityRecord(Base):
    """An accountability decision (问责) against a party organisation or a cadre, linked to
    the issues it answers for. Recorded by the office or the discipline body; a proposal
    opened by escalation becomes a record only by an office decision (``proposal_id``)."""

    __tablename__ = "accountability_records"
    __table_args__ = (ForeignKeyConstraint(["proposal_id"], ["accountability_proposals.id"]),
                      Index("ix_accountability_records_decided_on", "decided_on"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))  # organization | cadre
    subject: Mapped[str] = mapped_column(String(200))  # 问责对象
    unit: Mapped[str | None] = mapped_column(String(200))
    rank: Mapped[str | None] = mapped_column(String(16))  # provincial … other (cadres)
    methods: Mapped[list[str]] = mapped_column(JSON)  # 问责方式, one or more
    decided_by: Mapped[str] = mapped_column(String(200))  # 决定机关
    decided_on: Mapped[date] = mapped_column(Date)  # 决定日期 (Asia/Shanghai date)
    source: Mapped[str | None] = mapped_column(String(100))  # 移交问题清单 number
    disclosed: Mapped[bool] = mapped_column(default=False)  # 是否公开
    note: Mapped[str | None] = mapped_column(Text)
    proposal_id: Mapped[int | None] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class AccountabilityIssue(Base):
    """Which issues an accountability record answers for (关联问题)."""

    __tablename__ = "accountability_issues"
    __table_args__ = (ForeignKeyConstraint(["record_id"], ["accountability_records.id"]),
                      ForeignKeyConstraint(["issue_id"], ["issues.id"]),
                      Index("ix_accountability_issues_issue", "issue_id"))

    record_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class ProgressReport(Base):
    """A monthly progress report (月度进展) of an issue by its responsible unit, or the mark
    that a month went unreported (``status = missing``; a late report then fills it)."""

    __tablename__ = "progress_reports"
    __table_args__ = (ForeignKeyConstraint(["issue_id"], ["issues.id"]),
                      UniqueConstraint("issue_id", "month", name="uq_progress_issue_month"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issue_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (Asia/Shanghai)
    status: Mapped[str] = mapped_column(String(16))  # submitted | missing
    text: Mapped[str | None] = mapped_column(Text)
    percent: Mapped[int | None] = mapped_column(Integer)
    on_schedule: Mapped[bool | None] = mapped_column()
    reported_by: Mapped[str | None] = mapped_column(String(200))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # marked missing


class Unit(Base):
    """An organisation that works, accepts or supervises issues (a county and its
    departments: ``parent`` names the unit above)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("name", name="uq_units_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    parent: Mapped[str | None] = mapped_column(String(200))


class Person(Base):
    """Someone who acts: name, title, rank, unit, the roles they act in, and for a
    supervising leader the sectors (问题类别) they take package responsibility for."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("name", name="uq_people_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    rank: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)


class Inspection(Base):
    """An inspection (督察) whose findings a plan answers: level (central 中央 / provincial
    省级), round, team, the inspection period and the date its feedback (反馈意见) was given."""

    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("name", name="uq_inspections_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16))  # central | provincial
    round: Mapped[str | None] = mapped_column(String(50))
    team: Mapped[str | None] = mapped_column(String(200))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    feedback_on: Mapped[date | None] = mapped_column(Date)


class Plan(Base):
    """A rectification plan (整改方案): the inspection it answers and its categories
    (问题类别); issues name their plan and category."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("name", name="uq_plans_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    inspection: Mapped[str | None] = mapped_column(String(200))
    issued_on: Mapped[date | None] = mapped_column(Date)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)


class AuditEvent(Base):
    """An append-only record of an administrative change (people, units, contacts,
    definitions, calendar, dead letters retried, imports, the clock moved): who made it, as
    which operating-system user, when, and what. ``hash`` (an HMAC under the history key
    ``key_id`` names) covers its content and ``prev_hash`` (the previous record's hash), so
    the trail is one tamper-evident chain."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_audit_events_prev_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    os_user: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(32))  # None: plain sha256, before keying


class DatabaseInstance(Base):
    """What a database was created for: one row, written by the first ``rectify init``.
    A training database (``training``) lets the clock be moved; no other does."""

    __tablename__ = "database_instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Account(Base):
    """A registered person's sign-in: the login, the Argon2id hash of the password, the role
    the person acts in when signed in, an optional TOTP secret (with the last time step used,
    so a code is not accepted twice), and whether it is disabled."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("login", name="uq_accounts_login"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64))
    person: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSession(Base):
    """A browser session kept on the server: only the sha256 of its random id and of its
    CSRF token are stored; it ends when idle too long, at its absolute end, or when revoked."""

    __tablename__ = "web_sessions"
    __table_args__ = (UniqueConstraint("id_hash", name="uq_web_sessions_id_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_hash: Mapped[str] = mapped_column(String(64))
    csrf_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """An API token for integrations: only the sha256 of the token is stored, with its scope
    (read or write), expiry, revocation and last use."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInThrottle(Base):
    """Failed sign-ins counted per login and per client address (``kind``: login or address)
    since ``window_start``; ``locked_until`` is set when they reach the limit."""

    __tablename__ = "sign_in_throttles"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_sign_in_throttles_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyKey(Base):
    """A write request made with an ``Idempotency-Key``: reserved before the write runs
    (``status_code`` null while it runs), then the stored answer a repeat gets back. The key
    belongs to the account that sent it; ``request_hash`` is the sha256 of method, path and
    body, so the same key with another request is refused."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key", name="uq_idempotency_keys_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PublicObjection(Base):
    """An objection from the public during an issue's 公示, sent without sign-in: the ticket
    number it is looked up by, the text, how to reach the sender if they gave it (never
    shown on a public answer), the sha256 of the sender's address (for the rate
    limit, never the address itself), its status and the history event it became."""

    __tablename__ = "public_objections"
    __table_args__ = (UniqueConstraint("ticket", name="uq_public_objections_ticket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket: Mapped[str] = mapped_column(String(32))
    issue_id: Mapped[int] = mapped_column(Integer, index=True)
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))
    event_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SavedFilter(Base):
    """A ledger view the office saved under a name (保存的筛选): the page address's query
    (filters and sort), who saved it and when. Every office person sees and opens the
    list."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("name", name="uq_saved_filters_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(50))
    query: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
