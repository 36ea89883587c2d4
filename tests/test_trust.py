"""History that someone holding only the database cannot forge: keyed hashes, legality, the
issue row against the replay, evidence against its hashes, signed checkpoints outside the
database. Each attack below is one a person with ``DATABASE_URL`` (or, for the rewrites,
the table owner's rights) can make; each is caught by `verify`. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from tests.support import (
    FIVE_NEVER,
    OFFICE,
    UNIT,
    fire_valid,
    new_issue,
    tamper,
)
from workflow.clock import FrozenClock
from workflow.config import RunSettings
from workflow.db import Database
from workflow.errors import InputError
from workflow.issues.checkpoints import (
    inclusion_proof,
    latest_checkpoint,
    leaf_hash,
    merkle_root,
    prove,
    root_from_proof,
    unpack_heads,
    write_checkpoint,
)
from workflow.issues.engine import Engine
from workflow.issues.grants import grant_runtime
from workflow.issues.history import GENESIS, event_hash
from workflow.issues.keys import (
    HistoryKey,
    HistoryKeys,
    TrustFiles,
    create_history_key,
    create_signing_key,
    rotate_history_key,
)
from workflow.issues.rows import Due, EventDraft
from workflow.issues.verification import verify
from workflow.models import Issue, IssueEvent, Notification, Timer

EVENTS, ISSUES = IssueEvent.__table__, Issue.__table__


def files_of(engine: Engine) -> TrustFiles:
    files = TrustFiles.for_database(engine.db.url)
    create_signing_key(files)
    return files


def at_acceptance(engine: Engine, evidence: Path) -> int:
    """An issue of rectification@2 that applied for acceptance: at step 待现场核查."""
    issue_id = new_issue(engine, version=None)
    for trigger in ("start", "apply_acceptance"):
        fire_valid(engine, issue_id, trigger, evidence)
    return issue_id


def cleared(engine: Engine, clock: FrozenClock, evidence: Path) -> int:
    """An issue of rectification@2 taken through every step to 已销号."""
    issue_id = at_acceptance(engine, evidence)
    fire_valid(engine, issue_id, "site_check", evidence)
    clock.advance(timedelta(days=7, minutes=1))
    for trigger in ("sign_off", "clear"):
        fire_valid(engine, issue_id, trigger, evidence)
    return issue_id


def events_of(db: Database, issue_id: int) -> list[dict[str, Any]]:
    with db.session() as session:
        return [dict(row) for row in session.execute(
            select(EVENTS).where(EVENTS.c.issue_id == issue_id).order_by(EVENTS.c.seq))
            .mappings()]


def hash_of(values: dict[str, Any], key: HistoryKey | None) -> str:
    return event_hash(issue_id=values["issue_id"], seq=values["seq"], at=values["at"],
                      actor=values["actor"], role=values["role"], trigger=values["trigger"],
                      from_state=values["from_state"], to_state=values["to_state"],
                      comment=values["comment"], payload=values["payload"],
                      prev_hash=values["prev_hash"], key=key)


def rewrite_chain(db: Database, issue_id: int, change: Callable[[dict[str, Any]], None], *,
                  key: HistoryKey | None) -> None:
    """Change an issue's events and recompute every hash and link after them, and its head:
    a consistent rewrite, with the append-only triggers off."""
    with tamper(db) as conn:
        prev = GENESIS
        for values in events_of(db, issue_id):
            change(values)
            values["prev_hash"] = prev
            values["hash"], values["key_id"] = hash_of(values, key), key.id if key else None
            conn.execute(update(EVENTS).where(EVENTS.c.id == values.pop("id")).values(**values))
            prev = values["hash"]
        conn.execute(update(ISSUES).where(ISSUES.c.id == issue_id).values(head_hash=prev))


def problems(engine: Engine, **options: Any) -> list[str]:
    return [str(problem) for problem in verify(engine, **options).problems]


def test_an_untouched_history_with_an_extension_verifies(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given a cleared issue, and one whose deadline was extended
    done = cleared(engine, clock, evidence_file)
    extended = new_issue(engine, version=None, number="2")
    fire_valid(engine, extended, "start", evidence_file)
    fire_valid(engine, extended, "extend", evidence_file)
    # When the history is verified, with a checkpoint taken
    write_checkpoint(engine.db, files_of(engine), clock.now())
    report = verify(engine, checkpoints=files_of(engine))
    # Then all is intact: every event keyed, the evidence file checked once, nothing unchecked
    assert report.ok, report.problems
    assert (report.issues, report.events, report.unkeyed, report.evidence) == (2, 9, 0, 1)
    assert report.unchecked == [] and report.checkpoints == 1
    assert {event["key_id"] for event in events_of(engine.db, done)} == {engine.keys.current.id}


def test_a_forged_backdated_clear_inserted_with_plain_sha256_and_the_row_moved_is_caught(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue awaiting its site check
    issue_id = at_acceptance(engine, evidence_file)
    last = events_of(engine.db, issue_id)[-1]
    # When someone with only the database INSERTs a 'clear' event (allowed by the triggers),
    # backdated, hashed with plain sha256 as the engine once did, and moves the issue row
    forged = {"issue_id": issue_id, "seq": last["seq"] + 1, "at": last["at"] - timedelta(days=1),
              "actor": OFFICE.name, "role": OFFICE.role, "trigger": "clear",
              "from_state": "acceptance", "to_state": "cleared", "comment": "同意销号",
              "payload": {"checklist": FIVE_NEVER, "evidence": last["payload"]["evidence"],
                          "stage": None},
              "prev_hash": last["hash"], "key_id": None}
    forged["hash"] = hash_of(forged, None)
    with engine.db.transaction() as conn:
        conn.execute(EVENTS.insert().values(**forged))
        conn.execute(update(ISSUES).where(ISSUES.c.id == issue_id).values(
            state="cleared", version=forged["seq"], head_hash=forged["hash"], stage=None))
    # Then verify catches it: no key id after keyed events
    assert problems(engine) == [f"issue {issue_id} event #{forged['seq']}: forged: it has no key "
                                "id (plain sha256, which anyone with the database can compute) "
                                "after events hashed with the history key"]


def test_an_event_hashed_with_a_key_that_is_not_ours_is_caught(
        engine: Engine, evidence_file: Path) -> None:
    issue_id = new_issue(engine)
    stranger = HistoryKey.of("someone-else-" + "x" * 40)
    rewrite_chain(engine.db, issue_id, lambda values: None, key=stranger)
    assert problems(engine) == [f"issue {issue_id} event #1: hashed with key {stranger.id}, "
                                f"which is not among the keys here ({engine.keys.current.id}); "
                                "give the key file that holds it"]


def test_an_event_whose_trigger_skips_the_site_check_and_sign_off_is_caught(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue awaiting its site check (step 待现场核查)
    issue_id = at_acceptance(engine, evidence_file)
    # When a 'clear' is written straight away, keyed and with all it requires, as a writer
    # that bypassed the engine's checks (or holds the key) could
    evidence = events_of(engine.db, issue_id)[-1]["payload"]["evidence"]
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=engine.clock.now(), due=Due.of(row), event=EventDraft(
                      OFFICE.name, OFFICE.role, "clear", "acceptance", "cleared", "同意销号",
                      {"checklist": FIVE_NEVER, "evidence": evidence}))
    # Then verify names the step it was fired from and the one it is allowed from
    assert problems(engine) == [
        f"issue {issue_id} event #4: illegal: 'clear' fired at step 'applied' of 'acceptance'; "
        "it is allowed only from step(s) signed_off"]


def test_a_public_notice_cut_short_is_caught(engine: Engine, clock: FrozenClock,
                                             evidence_file: Path) -> None:
    # Given an issue in its 7-day public notice (公示) since the site check
    issue_id = at_acceptance(engine, evidence_file)
    fire_valid(engine, issue_id, "site_check", evidence_file)
    # When a sign-off is written after 3 days
    clock.advance(timedelta(days=3))
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=clock.now(), due=Due.of(row), event=EventDraft(
                      OFFICE.name, OFFICE.role, "sign_off", "acceptance", "acceptance",
                      "公示无异议", {"stage": "signed_off"}))
        tx.set_stage(issue_id, "signed_off", None)
    # Then verify says the step was cut short
    [problem] = problems(engine)
    assert problem.startswith(f"issue {issue_id} event #5: illegal: step 'public_notice' cut "
                              "short: 'sign_off' at ")


def test_a_system_event_written_for_another_role_is_caught(engine: Engine) -> None:
    issue_id = new_issue(engine)
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=engine.clock.now(), due=Due.of(row), event=EventDraft(
                      UNIT.name, UNIT.role, "escalate", "assigned", "assigned", None, {}))
    assert problems(engine) == [f"issue {issue_id} event #2: illegal: 'escalate' by "
                                f"{UNIT.name} as 'unit'; the engine writes it only for role(s) "
                                "system"]


def test_time_going_backwards_is_caught(engine: Engine, clock: FrozenClock,
                                        evidence_file: Path) -> None:
    issue_id = new_issue(engine)
    clock.set(clock.now() - timedelta(hours=1))
    fire_valid(engine, issue_id, "start", evidence_file)
    [problem] = problems(engine)
    assert problem.startswith(f"issue {issue_id} event #2: time goes backwards: at ")


def test_a_changed_deadline_in_the_issue_row_is_caught(engine: Engine,
                                                       evidence_file: Path) -> None:
    # Given an issue in progress whose deadline was extended to 2026-09-30
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    fire_valid(engine, issue_id, "extend", evidence_file)
    assert verify(engine).ok
    # When its row's deadline is moved to the end of 2027 (an UPDATE of issues)
    with engine.db.transaction() as conn:
        conn.execute(update(ISSUES).where(ISSUES.c.id == issue_id).values(
            deadline_at=datetime(2027, 12, 31, 15, 59, 59, tzinfo=UTC), leader="别人"))
    # Then verify compares the row with the facts its history carries
    assert problems(engine) == [
        f"issue {issue_id}: the issue row says leader = '别人' but its history says '王副市长'",
        f"issue {issue_id}: the issue row says deadline_at = '2027-12-31T15:59:59+00:00' but its "
        "history says '2026-09-30T15:59:59+00:00'"]


def test_a_replaced_or_missing_evidence_file_is_caught(engine: Engine,
                                                       evidence_file: Path) -> None:
    # Given an issue that applied for acceptance with one evidence file
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    result = fire_valid(engine, issue_id, "apply_acceptance", evidence_file)
    [ref] = events_of(engine.db, issue_id)[-1]["payload"]["evidence"]
    stored = engine.evidence.path_of(ref["sha256"])
    # When the stored file is replaced
    stored.write_text("换过的材料", encoding="utf-8")
    # Then verify says so
    assert problems(engine) == [f"issue {issue_id} event #{result.version}: evidence "
                                f"{ref['name']}: the file {stored} no longer matches its sha256 "
                                f"{ref['sha256'][:16]}…: it was replaced or damaged"]
    # And when it is gone, that too
    stored.unlink()
    assert "is missing from the evidence store" in problems(engine)[0]


@pytest.mark.parametrize("with_key", [False, True], ids=["plain-sha256", "with-the-key"])
def test_a_consistent_rewrite_with_the_triggers_dropped_is_caught_by_the_checkpoints(
        engine: Engine, clock: FrozenClock, evidence_file: Path, with_key: bool) -> None:
    # Given three cleared issues and a checkpoint signed after them
    ids = [cleared(engine, clock, evidence_file) for _ in range(3)]
    files = files_of(engine)
    write_checkpoint(engine.db, files, clock.now())

    # When the owner of the tables drops the triggers and rewrites issue 2's clearance
    # comment, recomputing every hash after it and the head (as legacy plain sha256, or even
    # with the history key itself)
    def change(values: dict[str, Any]) -> None:
        if values["trigger"] == "clear":
            values["comment"] = "同意销号（改）"

    rewrite_chain(engine.db, ids[1], change, key=engine.keys.current if with_key else None)
    # Then the chain itself is consistent, so only the checkpoint can tell
    assert verify(engine).ok
    # And verify --checkpoints names the issue
    assert problems(engine, checkpoints=files) == [
        f"issue {ids[1]} event #6: rewritten: its hash is not the one checkpoint #1 "
        f"({clock.now().astimezone(UTC).isoformat()}) signed, so the history up to it was "
        "changed"]


def test_a_deleted_issue_is_caught_by_the_checkpoints(engine: Engine, clock: FrozenClock,
                                                      evidence_file: Path) -> None:
    # Given two issues and a checkpoint
    keep, gone = new_issue(engine, number="1"), new_issue(engine, number="2")
    fire_valid(engine, gone, "start", evidence_file)
    files = files_of(engine)
    write_checkpoint(engine.db, files, clock.now())
    # When issue 2 is deleted whole: its timers, notices, events and row
    with tamper(engine.db) as conn:
        for table in (Timer.__table__, Notification.__table__, EVENTS):
            conn.execute(delete(table).where(table.c.issue_id == gone))
        conn.execute(delete(ISSUES).where(ISSUES.c.id == gone))
    # Then the remaining history is consistent, but the checkpoint misses the issue
    assert verify(engine).ok
    assert problems(engine, checkpoints=files) == [
        f"issue {gone}: deleted: checkpoint #1 ({clock.now().astimezone(UTC).isoformat()}) "
        "holds it at version 2; the database has no such issue"]
    assert verify(engine, checkpoints=files).issues == 1 and keep


def test_a_deleted_last_event_with_the_row_rolled_back_is_caught_by_the_checkpoints(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given a cleared issue (rectification@1: no steps) and a checkpoint
    issue_id = new_issue(engine)
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, issue_id, trigger, evidence_file)
    files = files_of(engine)
    write_checkpoint(engine.db, files, clock.now())
    # When its 'clear' is deleted and the row put back as it was before it
    *kept, last = events_of(engine.db, issue_id)
    with tamper(engine.db) as conn:
        conn.execute(delete(EVENTS).where(EVENTS.c.id == last["id"]))
        conn.execute(update(ISSUES).where(ISSUES.c.id == issue_id).values(
            state="acceptance", version=len(kept), head_hash=kept[-1]["hash"]))
    # Then the shortened chain replays to the row; the checkpoint says an event is missing
    assert verify(engine).ok
    assert problems(engine, checkpoints=files) == [
        f"issue {issue_id} event #4: missing: checkpoint #1 "
        f"({clock.now().astimezone(UTC).isoformat()}) holds 4 event(s); the database has 3"]


def test_chains_written_before_keying_still_verify_and_say_what_was_not_checked(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue whose history was written before keying and before facts (plain
    # sha256, no key id, no facts in its first event), then continued by today's engine
    issue_id = new_issue(engine)
    rewrite_chain(engine.db, issue_id, lambda values: values["payload"].pop("facts"), key=None)
    fire_valid(engine, issue_id, "start", evidence_file)
    # When verified
    report = verify(engine)
    # Then it verifies, and says which events predate keying and what was not compared
    assert report.ok and report.unkeyed == 1
    assert report.unchecked[0].startswith(f"1 issue(s) were created before events carried "
                                          f"their facts ({issue_id})")
    assert report.unchecked[1].startswith("1 event(s) predate keying (no key id, plain sha256)")
    # And a checkpoint taken since keying began proves them; an unkeyed event appended later
    # (a new issue forged with plain sha256) is not covered by it
    files = files_of(engine)
    write_checkpoint(engine.db, files, clock.now())
    assert verify(engine, checkpoints=files).ok
    forged = new_issue(engine, number="9")
    rewrite_chain(engine.db, forged, lambda values: None, key=None)
    assert problems(engine, checkpoints=files) == [
        f"issue {forged} event #1: forged: it has no key id and is not covered by the first "
        f"checkpoint (#1, {clock.now().astimezone(UTC).isoformat()}); every event since keying "
        "began carries one"]


def test_the_event_hash_of_an_event_written_before_keying_is_unchanged() -> None:
    # The canonical content is the first release's; without a key the hash is its sha256.
    values = {"issue_id": 7, "seq": 3, "at": datetime(2026, 1, 5, 1, 2, 3, 456789, tzinfo=UTC),
              "actor": "市整改办", "role": "office", "trigger": "clear",
              "from_state": "acceptance", "to_state": "cleared", "comment": "同意销号",
              "payload": {"checklist": {"a": "已查明"},
                          "evidence": [{"sha256": "ab" * 32, "name": "x.pdf", "size": 3}]},
              "prev_hash": "1" * 64}
    assert hash_of(values, None) == \
        "306a70a4a9242e0a2407f5fa6649a3f958939b9c1e1e3640b7b5ca8040fe9361"
    keyed = hash_of(values, HistoryKey.of("k" * 32))
    assert keyed != hash_of(values, None) and keyed == hash_of(values, HistoryKey.of("k" * 32))


def test_the_checkpoint_log_is_signed_linked_and_proves_one_issue(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given five issues and two checkpoints
    ids = [new_issue(engine, number=str(n)) for n in range(5)]
    files = files_of(engine)
    write_checkpoint(engine.db, files, clock.now())
    fire_valid(engine, ids[2], "start", evidence_file)
    second = write_checkpoint(engine.db, files, clock.now())
    # Then the latest one is what reports print, and it proves issue 3 on its own
    latest = latest_checkpoint(files)
    assert latest is not None and (latest.seq, latest.issues, latest.events) == (2, 5, 6)
    heads = {(e["issue_id"], e["seq"]): e["hash"] for i in ids for e in events_of(engine.db, i)}
    proof = prove(second, ids[2], heads)
    assert proof["proves"] and (proof["version"], proof["size"]) == (2, 5)
    leaf = leaf_hash(ids[2], 2, proof["head"])
    assert root_from_proof(leaf, proof["index"], 5, [bytes.fromhex(p) for p in proof["path"]]) \
        .hex() == second.root
    assert [v for _, v, _ in unpack_heads(second.heads)] == [1, 1, 2, 1, 1]
    # When a line of the log is altered, or the first one removed
    lines = files.checkpoint_log.read_text(encoding="utf-8").splitlines()
    files.checkpoint_log.write_text(lines[0].replace('"issues":5', '"issues":4') + "\n"
                                    + lines[1] + "\n", encoding="utf-8")
    found = problems(engine, checkpoints=files)
    assert any("line 1 (checkpoint #1): its signature does not hold" in p for p in found)
    assert any("line 2 (checkpoint #2) does not follow the line before it" in p for p in found)
    files.checkpoint_log.write_text(lines[1] + "\n", encoding="utf-8")
    assert any("expected checkpoint #1 here" in p for p in problems(engine, checkpoints=files))


@pytest.mark.parametrize("size", range(1, 12))
def test_every_leaf_of_a_merkle_tree_is_proved_by_its_path(size: int) -> None:
    leaves = [leaf_hash(n, n, "ab" * 32) for n in range(size)]
    root = merkle_root(leaves)
    for index in range(size):
        assert root_from_proof(leaves[index], index, size,
                               inclusion_proof(leaves, index)) == root
    if size > 1:  # a changed sibling leads elsewhere
        path = inclusion_proof(leaves, size - 1)
        assert root_from_proof(leaves[-1], size - 1, size, [b"\0" * 32, *path[1:]]) != root


def test_the_runtime_role_cannot_rewrite_history(db: Database, engine: Engine,
                                                 evidence_file: Path) -> None:
    if db.is_sqlite:
        # Given SQLite / Then there are no roles to grant, and the message says what guards it
        with pytest.raises(InputError, match="roles are a PostgreSQL feature"):
            grant_runtime(db, "rectify_app")
        return
    # Given a runtime role of its own (random name) given what `rectify db grant` gives
    role, password = f"rectify_rt_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    with db.transaction() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    runtime = None
    try:
        grant_runtime(db, role)
        url = make_url(db.url).set(username=role, password=password)
        runtime = Database(url.render_as_string(hide_password=False))
        # When the engine runs as it / Then it creates, fires and verifies
        as_runtime = Engine(runtime, engine.evidence, keys=engine.keys, clock=engine.clock)
        issue_id = new_issue(as_runtime)
        fire_valid(as_runtime, issue_id, "start", evidence_file)
        assert verify(as_runtime).ok
        # And each way of rewriting history is refused
        for statement in ("UPDATE issue_events SET comment = 'x'", "DELETE FROM issue_events",
                          "DELETE FROM issues", "TRUNCATE issue_events",
                          "UPDATE process_definitions SET source = ''",
                          "ALTER TABLE issue_events DISABLE TRIGGER issue_events_append_only",
                          "DROP TRIGGER issue_events_append_only ON issue_events",
                          "ALTER TABLE issues ADD COLUMN note text",
                          "SET session_replication_role = replica"):
            with pytest.raises(DatabaseError, match=r"permission denied|must be owner"), \
                    runtime.transaction() as conn:
                conn.exec_driver_sql(statement)
        # And the owner cannot hand the role to itself by mistake
        owner = make_url(db.url).username
        with pytest.raises(InputError, match="superuser or owns the tables"):
            grant_runtime(db, owner or "postgres")
    finally:
        if runtime is not None:
            runtime.dispose()
        with db.transaction() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


def test_the_scheduler_signs_a_checkpoint_daily(engine: Engine, clock: FrozenClock) -> None:
    # Given the scheduler's jobs
    from scheduler import job_specs
    from workflow.jobs import Runtime
    from workflow.notify.channels import ChannelRegistry

    runtime = Runtime(engine, ChannelRegistry(), RunSettings())
    [spec] = [spec for spec in job_specs(runtime, dispatcher=None) if spec.id == "checkpoint"]
    new_issue(engine)
    files = files_of(engine)
    # When its checkpoint job runs / Then one checkpoint is appended to the log
    assert spec.body().startswith("checkpoint #1: 1 issue(s), 1 event(s), root ")
    assert latest_checkpoint(files).issues == 1


def test_the_progress_report_prints_the_latest_checkpoint(engine: Engine,
                                                          clock: FrozenClock) -> None:
    from workflow.documents.figures import progress_report

    new_issue(engine)
    files = files_of(engine)
    assert "尚无签名存证" in progress_report(engine).markdown()
    made = write_checkpoint(engine.db, files, clock.now())
    report = progress_report(engine, checkpoint=latest_checkpoint(files))
    assert f"历史存证 #1：2026-01-05 09:00 签名，摘要 {made.root[:16]}" in report.markdown()
    assert made.root[:16] in report.html() and report.as_dict()["checkpoint"]["root"] == made.root


@pytest.fixture
def rectify(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `rectify ARGS` against the test database, the history key in a key file."""
    from typer.testing import CliRunner

    from workflow.cli import app

    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.delenv("RECTIFY_HISTORY_KEY")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    return run


def test_init_creates_the_key_files_and_the_first_checkpoint_and_verify_proves_them(
        rectify, db: Database) -> None:
    # When the database is initialised
    out = rectify("init")
    files = TrustFiles.for_database(db.url)
    # Then the history key and the signing key are new files only their owner reads, and the
    # first checkpoint pins the (empty) history
    assert "history key " in out and "checkpoint signing key " in out and "checkpoint #1" in out
    for path in (files.history_key, files.signing_key):
        assert path.stat().st_mode & 0o777 == 0o600
    secret = json.loads(files.history_key.read_text(encoding="utf-8"))["keys"][0]["secret"]
    assert secret not in out
    # And the engine hashes with it, a checkpoint signs the chains, and verify proves them
    rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区", "--as", "市整改办")
    assert "checkpoint #2: 1 issue(s), 1 event(s)" in rectify("checkpoint")
    assert "proved against 2 checkpoint(s)" in rectify("verify", "--checkpoints")
    assert json.loads(rectify("checkpoint", "--prove", "1"))["proves"] is True
    shown = rectify("keys", "show")
    assert str(files.checkpoint_log) in shown and secret not in shown
    assert "rectify_test" in shown or "rectify.db" in shown
    # And a second init keeps the keys
    assert "created" not in rectify("init")


def test_history_commands_say_what_is_wrong_without_a_traceback(rectify, db: Database) -> None:
    rectify("init")
    out = rectify("verify", "--checkpoints", "--issue", "1", code=2)
    assert "leave out --issue" in out
    files = TrustFiles.for_database(db.url)
    files.history_key.chmod(0o644)
    assert "must be mode 0600: chmod 600" in rectify("verify", code=1)
    files.history_key.chmod(0o600)
    files.signing_key.unlink()
    files.public_key.unlink()
    out = rectify("checkpoint", code=1)
    assert "no checkpoint signing key" in out and "rectify init" in out
    out = rectify("verify", "--checkpoints", code=1)
    assert "no checkpoint key at" in out
    assert "signature does not hold" in out


def test_sub_tasks_carry_their_facts_from_their_first_event(engine: Engine) -> None:
    # Given an issue split into a sub-task for its cooperating unit
    parent = new_issue(engine, cooperating_units=("杜集区人民政府",))
    [child] = engine.create_subtasks(parent, actor=OFFICE)
    assert verify(engine).ok
    # When the sub-task's row is moved under another parent and unit
    with engine.db.transaction() as conn:
        conn.execute(update(ISSUES).where(ISSUES.c.id == child).values(parent_id=None,
                                                                       unit="别的单位"))
    # Then verify compares them with the facts of its creation event
    assert problems(engine) == [
        f"issue {child}: the issue row says parent_id = None but its history says {parent}",
        f"issue {child}: the issue row says unit = '别的单位' but its history says "
        "'杜集区人民政府'"]


def test_a_rotated_history_key_signs_new_events_and_old_ones_still_verify(
        engine: Engine, tmp_path: Path, evidence_file: Path) -> None:
    # Given a key file and an issue whose first event is hashed with its key
    path = tmp_path / "rectify.db.history-key"
    create_history_key(path, engine.clock.now())
    files = TrustFiles(path, tmp_path / "s", tmp_path / "s.pub", tmp_path / "log")
    old = HistoryKeys.load(files, environ={})
    first = Engine(engine.db, engine.evidence, keys=old, clock=engine.clock)
    issue_id = new_issue(first)
    # When the key is rotated and the issue moves on
    new_key = rotate_history_key(path, engine.clock.now())
    rotated = HistoryKeys.load(files, environ={})
    fire_valid(Engine(engine.db, engine.evidence, keys=rotated, clock=engine.clock), issue_id,
               "start", evidence_file)
    # Then each event names its key, and both verify with the rotated file
    assert [e["key_id"] for e in events_of(engine.db, issue_id)] == [old.current.id, new_key.id]
    assert rotated.current.id == new_key.id and verify(
        Engine(engine.db, engine.evidence, keys=rotated, clock=engine.clock)).ok
    assert path.stat().st_mode & 0o777 == 0o600


def test_an_event_holding_what_the_engine_never_writes_is_reported_not_a_crash(
        engine: Engine) -> None:
    issue_id = new_issue(engine)
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=engine.clock.now(), due=Due.of(row), event=EventDraft(
                      OFFICE.name, OFFICE.role, "import", "assigned", "assigned", None,
                      {"facts": {"deadline_at": "not a time"}}))
    [problem] = problems(engine)
    assert problem.startswith(f"issue {issue_id}: cannot be replayed: an event holds what the "
                              "engine never writes (ValueError")


def test_an_issue_row_without_history_is_caught(engine: Engine) -> None:
    # When a row is inserted into issues alone, at version 0 with the genesis head
    with engine.db.transaction() as conn:
        conn.execute(ISSUES.insert().values(
            title="凭空出现", definition_id="rectification", definition_version=2,
            state="cleared", version=0, head_hash=GENESIS, created_at=engine.clock.now(),
            updated_at=engine.clock.now(), responsible_units=[], cooperating_units=[]))
    # Then verify says it has no history
    [problem] = problems(engine)
    assert problem.endswith("no history: the engine writes an issue with its 'create' (or "
                            "'import') event, and this one has none")


def test_a_clearance_with_an_item_answered_no_on_record_is_caught(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue at acceptance (rectification@1: clearance straight from there)
    issue_id = new_issue(engine)
    for trigger in ("start", "apply_acceptance"):
        fire_valid(engine, issue_id, trigger, evidence_file)
    evidence = events_of(engine.db, issue_id)[-1]["payload"]["evidence"]
    # When a clearance is written with one of the five items answered 否
    answers = {key: {"answer": "是", "note": note} for key, note in FIVE_NEVER.items()}
    answers["public_satisfied"] = {"answer": "否", "note": "群众仍有投诉"}
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=engine.clock.now(), due=Due.of(row), event=EventDraft(
                      OFFICE.name, OFFICE.role, "clear", "acceptance", "cleared", "同意销号",
                      {"checklist": answers, "evidence": evidence}))
    # Then verify says what the clearance lacked
    assert problems(engine) == [f"issue {issue_id} event #4: 'clear' without what it requires: "
                                "checklist items public_satisfied"]
