"""Definition versions: running issues stay on the version they started with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import DEFINITIONS
from tests.support import OFFICE, UNIT, fire_valid, new_issue
from workflow.errors import (
    ActionDeniedError,
    DefinitionError,
    IllegalTriggerError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.issues.verification import verify as verify_history
from workflow.issues.versions import migrate, parse_ref
from workflow.models import Issue, IssueEvent, Timer
from workflow.spec.definitions import load_all, parse_text
from workflow.spec.registry import Registry, load_definitions

SOURCE = (DEFINITIONS / "rectification-v1.yaml").read_text(encoding="utf-8")
# Version 3 (after the shipped 1 and 2) lets the office send an assigned issue back for
# re-assignment (退回重新交办) and drops the unit's right to start.
NEXT = SOURCE.replace("version: 1", "version: 3").replace(
    "    roles: [unit, office]\n", "    roles: [office]\n", 1) + """\
  - trigger: reassign
    label_zh: 退回重新交办
    label_en: Send back for re-assignment
    from: in_progress
    to: assigned
    roles: [office]
    requires:
      comment: true
"""


def load_next(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "rectification-v3.yaml"
    path.write_text(NEXT, encoding="utf-8")
    load_definitions(engine.db, load_all(path), now=engine.clock.now(), by=None)


def test_an_issue_created_on_version_1_keeps_version_1(engine: Engine, tmp_path: Path) -> None:
    # Given an issue created on rectification@1
    old = new_issue(engine, number="1")
    # When version 3 is loaded
    load_next(engine, tmp_path)
    # Then the old issue is still pinned to version 1 and follows its rules
    assert queries.get_issue(engine.db, old).definition_version == 1
    engine.fire(old, "start", actor=UNIT)
    with pytest.raises(IllegalTriggerError, match=r"allowed triggers: extend$"):
        engine.fire(old, "reassign", actor=OFFICE, comment="x")
    # And a new issue starts on version 3, with version 3's rules
    new = new_issue(engine, number="2", version=None)
    assert queries.get_issue(engine.db, new).definition_version == 3
    with pytest.raises(PermissionDeniedError, match="roles allowed: office"):
        engine.fire(new, "start", actor=UNIT)
    engine.fire(new, "start", actor=OFFICE)
    engine.fire(new, "reassign", actor=OFFICE, comment="责任单位不准确")
    assert queries.get_issue(engine.db, new).state == "assigned"


def test_a_fresh_process_reads_rules_from_the_database_not_the_file(
        engine: Engine, tmp_path: Path) -> None:
    issue_id = new_issue(engine)
    load_next(engine, tmp_path)
    # A new registry (as in a restarted process) compiles version 1 from the stored text
    fresh = Engine(engine.db, engine.evidence, keys=engine.keys, clock=engine.clock,
                   registry=Registry(engine.db))
    assert fresh.fire(issue_id, "start", actor=UNIT).to_state == "in_progress"


def test_reloading_the_same_version_is_a_no_op_and_a_changed_one_is_refused(
        engine: Engine, tmp_path: Path) -> None:
    again = load_definitions(engine.db, load_all(DEFINITIONS), now=engine.clock.now(), by=None)
    assert [item.status for item in again] == ["unchanged", "unchanged"]
    changed = tmp_path / "rectification.yaml"
    changed.write_text(SOURCE.replace("deadline: 30 days", "deadline: 20 days", 1), "utf-8")
    with pytest.raises(DefinitionError, match="duplicate id\\+version rectification@1"):
        load_definitions(engine.db, load_all(changed), now=engine.clock.now(), by=None)


def test_version_3_text_is_itself_valid() -> None:
    assert parse_text(NEXT, "v3.yaml").definition.ref == "rectification@3"


# --- moving running issues between versions (rectify definitions migrate) ------------------

# Version 4 renames the acceptance state: an issue waiting for acceptance cannot move.
RENAMED = (SOURCE.replace("version: 1", "version: 4")
             .replace("- key: acceptance\n", "- key: accepting\n")
             .replace("to: acceptance\n", "to: accepting\n")
             .replace("from: acceptance\n", "from: accepting\n"))


def issue_row(engine: Engine, issue_id: int) -> Any:
    with engine.db.session() as session:
        return session.get_one(Issue, issue_id)


def history(engine: Engine, issue_id: int) -> list[IssueEvent]:
    with engine.db.session() as session:
        return list(session.scalars(select(IssueEvent).where(IssueEvent.issue_id == issue_id)
                                    .order_by(IssueEvent.seq)))


def pending_timers(engine: Engine, issue_id: int) -> list[tuple[str, Any]]:
    with engine.db.session() as session:
        return sorted((t.level, t.due_at) for t in session.scalars(
            select(Timer).where(Timer.issue_id == issue_id, Timer.status == "pending")))


def test_migrate_moves_running_issues_lists_the_rest_and_dry_runs(
        engine: Engine, tmp_path: Path, evidence_file: Path) -> None:
    # Given three issues on version 1: in progress, awaiting acceptance, and cleared
    working = new_issue(engine, number="1")
    fire_valid(engine, working, "start", evidence_file)
    waiting = new_issue(engine, number="2")
    for trigger in ("start", "apply_acceptance"):
        fire_valid(engine, waiting, trigger, evidence_file)
    cleared = new_issue(engine, number="3")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, cleared, trigger, evidence_file)
    timers_before = pending_timers(engine, working)
    path = tmp_path / "rectification-v4.yaml"
    path.write_text(RENAMED, encoding="utf-8")
    load_definitions(engine.db, load_all(path), now=engine.clock.now(), by=None)

    # When the office dry-runs the migration to version 4
    dry = migrate(engine, ("rectification", 1), ("rectification", 4), actor=OFFICE,
                  dry_run=True)

    # Then it lists what would move and why the waiting issue cannot, and writes nothing
    assert [m["issue_id"] for m in dry.moved] == [working, cleared]
    assert dry.refused == [{"issue_id": waiting, "state": "acceptance", "reason": (
        "state 'acceptance' does not exist in rectification@4 (states: assigned, "
        "in_progress, accepting, cleared, follow_up)")}]
    assert {issue_row(engine, i).definition_version for i in (working, waiting, cleared)} == {1}
    assert history(engine, working)[-1].trigger == "start"

    # When it runs for real
    report = migrate(engine, ("rectification", 1), ("rectification", 4), actor=OFFICE)

    # Then the two move, each with a migrate event naming both versions; the third stays
    assert [m["issue_id"] for m in report.moved] == [working, cleared] and report.refused
    for issue_id in (working, cleared):
        row, last = issue_row(engine, issue_id), history(engine, issue_id)[-1]
        assert (row.definition_version, last.trigger, last.payload) == (
            4, "migrate", {"from": "rectification@1", "to": "rectification@4"})
        assert last.from_state == last.to_state == row.state
    assert issue_row(engine, waiting).definition_version == 1
    # And the moved issue keeps its deadline and timers, and follows version 4 from now on
    assert pending_timers(engine, working) == timers_before
    fire_valid(engine, working, "apply_acceptance", evidence_file)
    assert issue_row(engine, working).state == "accepting"
    assert verify_history(engine).ok


def test_only_the_office_migrates_and_unknown_versions_are_named(
        engine: Engine, tmp_path: Path) -> None:
    issue_id = new_issue(engine)
    load_next(engine, tmp_path)
    with pytest.raises(ActionDeniedError, match="role 'unit' may not migrate issues"):
        migrate(engine, ("rectification", 1), ("rectification", 3), actor=UNIT)
    with pytest.raises(NotFoundError, match="process definition rectification@7 is not loaded"):
        migrate(engine, ("rectification", 1), ("rectification", 7), actor=OFFICE)
    with pytest.raises(InputError, match="must look like ID@VERSION"):
        parse_ref("rectification-2", "--to")
    assert issue_row(engine, issue_id).definition_version == 1
