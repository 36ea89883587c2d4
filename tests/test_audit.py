"""The audit trail of administrative changes as the domain writes it (workflow/audit.py,
workflow/org/directory.py ``OfficeAct``): every administrative function checks the office and
appends its keyed record in the change's own transaction, whoever calls it; `verify` walks the
trail and catches a record forged by someone holding the database; and no history is dated
ahead of the real time outside a training database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from tests.support import OFFICE, TEST_KEYS, UNIT, new_issue, office_act
from tests.test_ledger import PLAN, SAMPLE, snapshot
from workflow.audit import AUDIT, GENESIS, AuditEntry, audit_events, audit_hash, verify_audit
from workflow.clock import FrozenClock, SystemClock
from workflow.config import PROJECT_ROOT
from workflow.db import Database
from workflow.documents.ledger_import import import_ledger
from workflow.errors import ActionDeniedError, InputError
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.issues.sweep import sweep
from workflow.issues.verification import verify
from workflow.models import AuditEvent, Contact, Inspection, IssueEvent, Timer
from workflow.notify.contacts import add_contact
from workflow.notify.delivery import retry
from workflow.org.actors import Actor
from workflow.org.directory import OfficeAct
from workflow.org.plans import add_inspection, add_plan
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions
from workflow.startup import mark_database

# Each administrative change a Python caller can make, by the action its record names.
CHANGES: dict[str, Callable[[Engine, OfficeAct], Any]] = {
    "inspection_add": lambda engine, by: add_inspection(
        engine.db, "安徽省第二生态环境保护督察组", by=by, level="省级",
        feedback_on=date(2020, 4, 2)),
    "plan_add": lambda engine, by: add_plan(engine.db, "淮北市整改方案", by=by,
                                            categories=["大气污染防治"]),
    "contact_add": lambda engine, by: add_contact(engine.db, "王副市长", "email",
                                                  "wang@example.cn", by=by),
    "definitions_load": lambda engine, by: load_definitions(
        engine.db, load_all(PROJECT_ROOT / "definitions"), now=engine.clock.now(), by=by,
        source="definitions"),
    "outbox_retry": lambda engine, by: retry(engine.db, by=by, now=engine.clock.now(),
                                             all_dead=True),
    "calendar_recompute": lambda engine, by: engine.recompute_provisional_deadlines(
        actor=by.actor),
    "ledger_import": lambda engine, by: import_ledger(engine, SAMPLE, plan=PLAN,
                                                      actor=by.actor),
}
# Those that write rows of their own beside the record.
WRITING = ("inspection_add", "plan_add", "contact_add", "ledger_import")


def state_of(db: Database) -> dict[str, int]:
    """What a change may write: the ledger's tables, contacts, inspections, the trail."""
    counts = snapshot(db)
    with db.session() as session:
        for model in (Contact, Inspection, AuditEvent):
            counts[model.__name__] = session.scalar(select(func.count())
                                                    .select_from(model)) or 0
    return counts


@pytest.mark.parametrize("action", list(CHANGES))
def test_an_administrative_change_is_recorded_with_its_keyed_audit_record(
        engine: Engine, action: str) -> None:
    # Given the started directory, the office acting from Python (no command line)
    by = office_act(engine.db)
    # When it makes the change
    CHANGES[action](engine, by)
    # Then the trail ends with its record: who, under the history key, chained and verified
    last = audit_events(engine.db)[-1]
    assert (last.action, last.actor, last.role, last.key_id) == (
        action, OFFICE.name, "office", TEST_KEYS.current.id)
    assert verify_audit(engine.db, TEST_KEYS).ok
    assert verify(engine).ok


@pytest.mark.parametrize("action", list(CHANGES))
def test_a_python_caller_other_than_the_office_is_refused_and_nothing_changes(
        engine: Engine, action: str) -> None:
    # Given the started directory and a unit acting from Python
    office_act(engine.db)
    before = state_of(engine.db)
    # When the unit makes the change / Then it is refused, naming the role that may
    with pytest.raises(ActionDeniedError, match=r"role 'unit' may not .*roles allowed: office"):
        CHANGES[action](engine, OfficeAct(UNIT, TEST_KEYS.current))
    # And nothing changed, the trail included
    assert state_of(engine.db) == before


@pytest.fixture
def audit_refused(engine: Engine) -> Iterator[None]:
    """The audit trail refuses every new record (as a crash between a change and its record
    would lose it); the refusal is removed afterwards."""
    db = engine.db
    office_act(db)
    with db.transaction() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events "
                                 "BEGIN SELECT RAISE(ABORT, 'audit record refused'); END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION audit_refused() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION "
                "'audit record refused'; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER audit_refused BEFORE INSERT ON audit_events "
                                 "FOR EACH ROW EXECUTE FUNCTION audit_refused()")
    yield
    with db.transaction() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER audit_refused")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_refused ON audit_events")
            conn.exec_driver_sql("DROP FUNCTION audit_refused()")


@pytest.mark.parametrize("action", WRITING)
def test_a_change_whose_record_cannot_be_written_is_not_made(
        engine: Engine, audit_refused: None, action: str) -> None:
    # Given a trail that refuses the next record
    before = state_of(engine.db)
    # When the office makes the change
    with pytest.raises(Exception, match="audit record refused"):
        CHANGES[action](engine, OfficeAct(OFFICE, TEST_KEYS.current))
    # Then the change was rolled back with its record: both or neither
    assert state_of(engine.db) == before


def forge(db: Database, *, key_id: str | None, hash_of: Callable[[str, str], str]) -> None:
    """Append a record straight to the table, as someone holding only the database would:
    chained to the head, hashed by ``hash_of(content hash input, prev_hash)``."""
    entry = AuditEntry("某人", "office", None, "person_add", "person 某人", {"roles": ["office"]})
    at = SystemClock().now()
    with db.transaction() as conn:
        prev = conn.scalar(select(AUDIT.c.hash).order_by(AUDIT.c.id.desc()).limit(1)) or GENESIS
        conn.execute(insert(AUDIT).values(
            at=at, actor=entry.actor, role=entry.role, os_user=None, action=entry.action,
            subject=entry.subject, details=entry.details, prev_hash=prev, key_id=key_id,
            hash=hash_of(audit_hash(at=at, entry=entry, prev_hash=prev, key=None), prev)))


FORGERIES = {
    "plain sha256": (None, lambda plain, prev: plain,
                     "no key id after keyed records: a plain sha256 record"),
    "unknown key": ("0123456789abcdef", lambda plain, prev: plain,
                    "hashed with key 0123456789abcdef, which is not among the history keys"),
    "wrong hash": (TEST_KEYS.current.id, lambda plain, prev: plain,
                   "altered: its content no longer matches its hash"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_verify_catches_an_audit_record_inserted_by_someone_with_the_database(
        engine: Engine, db: Database, monkeypatch: pytest.MonkeyPatch, forgery: str) -> None:
    # Given a trail of keyed records
    by = office_act(engine.db)
    add_plan(engine.db, "淮北市整改方案", by=by)
    assert verify(engine).ok and verify(engine).audit_records == 2
    # When someone holding the database appends a record of their own
    key_id, hash_of, message = FORGERIES[forgery]
    forge(engine.db, key_id=key_id, hash_of=hash_of)
    # Then verify reports it, naming the record
    report = verify(engine)
    assert not report.ok
    assert str(report.problem).startswith(f"audit trail: audit record 3: {message}")
    # And so does `rectify verify` (exit 1) and `rectify audit verify`
    from workflow.cli import app

    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    for command in (["verify"], ["audit", "verify"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, result.output
        assert f"audit record 3: {message}" in result.output
        assert "Traceback" not in result.output


def test_records_written_before_keying_keep_verifying_and_are_counted(engine: Engine) -> None:
    # Given two records from before keying (plain sha256, no key id), as an older release
    # wrote them
    forge(engine.db, key_id=None, hash_of=lambda plain, prev: plain)
    forge(engine.db, key_id=None, hash_of=lambda plain, prev: plain)
    # And keyed records after them
    office_act(engine.db)
    # When the history is verified
    report = verify(engine)
    # Then it is intact, and says how many records predate keying
    assert report.ok, report.problems
    assert (report.audit_records, report.unkeyed_audit) == (3, 2)
    assert any(note.startswith("2 audit record(s) predate keying") for note in report.unchecked)


def test_verifying_one_issue_leaves_the_audit_trail_out(engine: Engine) -> None:
    issue_id = new_issue(engine)
    forge(engine.db, key_id=None, hash_of=lambda plain, prev: "0" * 64)
    assert verify(engine, issue_id).ok and verify(engine, issue_id).audit_records is None
    assert not verify(engine).ok


# ---- no history dated ahead of the real time -------------------------------------------

DEADLINE = SystemClock().now().date() + timedelta(days=60)


@pytest.fixture
def real_engine(db: Database, tmp_path: Path) -> Engine:
    """An engine on a database created for real work (not training), its clock a day ahead
    of the real time."""
    load_definitions(db, load_all(PROJECT_ROOT / "definitions"), now=SystemClock().now(),
                     by=None)
    mark_database(db, training=False)
    return Engine(db, EvidenceStore(tmp_path / "evidence"), keys=TEST_KEYS,
                  clock=FrozenClock(SystemClock().now() + timedelta(days=1)))


def test_a_clock_ahead_of_the_real_time_writes_no_history_on_a_real_database(
        real_engine: Engine) -> None:
    engine = real_engine
    # When a Python caller creates an issue with a clock a day ahead
    before = snapshot(engine.db)
    with pytest.raises(InputError, match=r"ahead of the real time .* not created for training"):
        new_issue(engine, deadline=DEADLINE)
    # Then nothing was written
    assert snapshot(engine.db) == before
    # And an issue created at the real time cannot be moved a day ahead either
    clock = engine.clock
    assert isinstance(clock, FrozenClock)
    clock.set(SystemClock().now())
    issue_id = new_issue(engine, deadline=DEADLINE)
    clock.advance(timedelta(days=1))
    with pytest.raises(InputError, match="ahead of the real time"):
        engine.fire(issue_id, "start", actor=UNIT)
    with engine.db.session() as session:
        assert session.scalars(select(IssueEvent.trigger)
                               .where(IssueEvent.issue_id == issue_id)).all() == ["create"]


def test_the_sweep_refuses_a_future_time_on_a_real_database_and_claims_nothing(
        real_engine: Engine) -> None:
    engine = real_engine
    clock = engine.clock
    assert isinstance(clock, FrozenClock)
    # Given an issue in progress, created at the real time, with its timers pending
    clock.set(SystemClock().now())
    issue_id = new_issue(engine, deadline=DEADLINE)
    engine.fire(issue_id, "start", actor=UNIT)

    def timers() -> list[tuple[int, str, str | None]]:
        with engine.db.session() as session:
            rows = session.execute(select(Timer.id, Timer.status, Timer.lease_owner)
                                   .order_by(Timer.id))
            return [(row.id, row.status, row.lease_owner) for row in rows]

    before = timers()
    assert ("pending", None) in {(status, owner) for _, status, owner in before}
    # When a sweep runs a month ahead / Then it is refused and no timer was touched
    with pytest.raises(InputError, match="ahead of the real time"):
        sweep(engine, now=SystemClock().now() + timedelta(days=30))
    assert timers() == before


def test_a_training_database_moves_the_clock_on_the_audit_trail(engine: Engine) -> None:
    # Given a training database (the tests' engine) and an issue in progress
    office_act(engine.db)
    issue_id = new_issue(engine)
    engine.fire(issue_id, "start", actor=UNIT)
    # When the office sweeps a year ahead of the real time
    ahead = SystemClock().now() + timedelta(days=365)
    report = sweep(engine, now=ahead, moved_by=Actor(OFFICE.name, "office", os_user="zhang"))
    # Then the timers were settled at that time, and the move is on the trail, keyed
    assert report.claimed > 0
    last = audit_events(engine.db)[-1]
    assert (last.action, last.actor, last.os_user, last.details["now"], last.key_id) == (
        "clock_moved", OFFICE.name, "zhang", ahead.isoformat(), TEST_KEYS.current.id)
    assert verify(engine).ok
