"""Definition versions: running issues stay on the version they started with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS
from tests.support import OFFICE, UNIT, new_issue
from workflow import service
from workflow.definitions import load_all, parse_text
from workflow.engine import Engine
from workflow.errors import DefinitionError, IllegalTriggerError, PermissionDeniedError
from workflow.registry import Registry, load_definitions

SOURCE = (DEFINITIONS / "rectification.yaml").read_text(encoding="utf-8")
# Version 2 lets the office send an assigned issue back for re-assignment (退回重新交办)
# and drops the unit's right to start.
VERSION_2 = SOURCE.replace("version: 1", "version: 2").replace(
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


def load_version_2(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "rectification-v2.yaml"
    path.write_text(VERSION_2, encoding="utf-8")
    load_definitions(engine.db, load_all(path), now=engine.clock.now())


def test_an_issue_created_on_version_1_keeps_version_1(engine: Engine, tmp_path: Path) -> None:
    # Given an issue created on rectification@1
    old = new_issue(engine, number="1")
    # When version 2 is loaded
    load_version_2(engine, tmp_path)
    # Then the old issue is still pinned to version 1 and follows its rules
    assert service.get_issue(engine.db, old).definition_version == 1
    engine.fire(old, "start", actor=UNIT)
    with pytest.raises(IllegalTriggerError, match=r"allowed triggers: extend$"):
        engine.fire(old, "reassign", actor=OFFICE, comment="x")
    # And a new issue starts on version 2, with version 2's rules
    new = new_issue(engine, number="2")
    assert service.get_issue(engine.db, new).definition_version == 2
    with pytest.raises(PermissionDeniedError, match="roles allowed: office"):
        engine.fire(new, "start", actor=UNIT)
    engine.fire(new, "start", actor=OFFICE)
    engine.fire(new, "reassign", actor=OFFICE, comment="责任单位不准确")
    assert service.get_issue(engine.db, new).state == "assigned"


def test_a_fresh_process_reads_rules_from_the_database_not_the_file(
        engine: Engine, tmp_path: Path) -> None:
    issue_id = new_issue(engine)
    load_version_2(engine, tmp_path)
    # A new registry (as in a restarted process) compiles version 1 from the stored text
    fresh = Engine(engine.db, engine.evidence, clock=engine.clock, registry=Registry(engine.db))
    assert fresh.fire(issue_id, "start", actor=UNIT).to_state == "in_progress"


def test_reloading_the_same_version_is_a_no_op_and_a_changed_one_is_refused(
        engine: Engine, tmp_path: Path) -> None:
    [again] = load_definitions(engine.db, load_all(DEFINITIONS), now=engine.clock.now())
    assert again.status == "unchanged"
    changed = tmp_path / "rectification.yaml"
    changed.write_text(SOURCE.replace("deadline: 30 days", "deadline: 20 days", 1), "utf-8")
    with pytest.raises(DefinitionError, match="duplicate id\\+version rectification@1"):
        load_definitions(engine.db, load_all(changed), now=engine.clock.now())


def test_version_2_text_is_itself_valid() -> None:
    assert parse_text(VERSION_2, "v2.yaml").definition.ref == "rectification@2"
