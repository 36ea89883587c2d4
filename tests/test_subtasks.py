"""Sub-tasks: an issue split among its cooperating units, each on the parent's deadline; the
parent waits for every one of them before applying for acceptance."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import OFFICE, UNIT, fire_valid, inputs_for, new_issue
from workflow.errors import InputError, RequirementError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.org.actors import Actor


def test_parent_waits_for_every_subtask_before_applying_for_acceptance(
        engine: Engine, evidence_file: Path) -> None:
    # Given the lead unit's issue with two cooperating units, split into sub-tasks
    parent = new_issue(engine, cooperating_units=("杜集区人民政府", "烈山区人民政府"))
    fire_valid(engine, parent, "start", evidence_file)
    children = engine.create_subtasks(parent, actor=UNIT)
    du, lie = (Actor("杜集区人民政府", "unit"), Actor("烈山区人民政府", "unit"))

    # Then each sub-task belongs to its cooperating unit, on the parent's deadline
    views = [queries.get_issue(engine.db, child) for child in children]
    assert [(v.unit, v.parent_id, v.lead_unit) for v in views] == [
        ("杜集区人民政府", parent, UNIT.name), ("烈山区人民政府", parent, UNIT.name)]
    assert all(v.deadline_at == queries.get_issue(engine.db, parent).deadline_at
               for v in views)
    assert queries.history(engine.db, parent)[-1].payload == {"subtasks": [
        {"issue_id": children[0], "unit": "杜集区人民政府"},
        {"issue_id": children[1], "unit": "烈山区人民政府"}]}
    with pytest.raises(InputError, match="has a sub-task for 杜集区人民政府 already"):
        engine.create_subtasks(parent, actor=OFFICE, units=["杜集区人民政府"])

    # When one sub-task is cleared, the parent still may not apply for acceptance
    for trigger, actor in (("start", du), ("apply_acceptance", du), ("clear", OFFICE)):
        engine.fire(children[0], trigger, **{**inputs_for(trigger, evidence_file),
                                             "actor": actor})
    with pytest.raises(RequirementError) as waiting:
        fire_valid(engine, parent, "apply_acceptance", evidence_file)
    assert f"not done: issue {children[1]} (烈山区人民政府)" in str(waiting.value)

    # And once the other is cleared too, it may
    for trigger, actor in (("start", lie), ("apply_acceptance", lie), ("clear", OFFICE)):
        engine.fire(children[1], trigger, **{**inputs_for(trigger, evidence_file),
                                             "actor": actor})
    fire_valid(engine, parent, "apply_acceptance", evidence_file)
    assert queries.get_issue(engine.db, parent).state == "acceptance"
