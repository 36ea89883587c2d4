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


def test_a_numbered_issue_splits_into_subtasks_numbered_under_it(
        engine: Engine, evidence_file: Path) -> None:
    # Given issue 序号 5 of a plan with three cooperating units
    parent = new_issue(engine, number="5",
                       cooperating_units=("杜集区人民政府", "烈山区人民政府", "濉溪县人民政府"))
    # When it is split for two of them, and later for the third
    first = engine.create_subtasks(parent, actor=OFFICE,
                                   units=["杜集区人民政府", "烈山区人民政府"])
    later = engine.create_subtasks(parent, actor=OFFICE)
    # Then the sub-tasks are numbered under the parent, in the order they were made
    numbers = [queries.get_issue(engine.db, child).number for child in [*first, *later]]
    assert numbers == ["5-1", "5-2", "5-3"]


def test_an_issue_without_a_number_splits_into_subtasks_without_one(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue without a 序号
    parent = new_issue(engine, cooperating_units=("杜集区人民政府",))
    # When it is split
    (child,) = engine.create_subtasks(parent, actor=OFFICE)
    # Then its sub-task has none either
    assert queries.get_issue(engine.db, child).number is None


def test_a_second_issue_with_a_taken_number_is_refused_naming_the_first(
        engine: Engine) -> None:
    # Given issue 序号 5 of 示例方案
    first = new_issue(engine, number="5")
    # When another issue of the plan is given 序号 5
    with pytest.raises(InputError) as refused:
        new_issue(engine, number="5", title="另一个问题")
    # Then it is refused naming the plan, the number and the issue that holds it
    assert f"序号 '5' of plan '示例方案' is issue {first} already" in str(refused.value)
    # And the same number in another plan is fine
    new_issue(engine, number="5", plan="另一方案")
