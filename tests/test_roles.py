"""Roles on every action: each role tries every trigger of the default lifecycle; units act
only on their own issues and acceptors only on the issues they accept; each role reads only
the issues it may."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS
from tests.support import (
    ACCEPTOR,
    LEADER,
    OFFICE,
    PUBLIC,
    UNIT,
    fire_valid,
    inputs_for,
    new_issue,
    office_act,
)
from workflow.clock import FrozenClock, local
from workflow.errors import (
    OutOfScopeError,
    PermissionDeniedError,
)
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine
from workflow.org.actors import Actor
from workflow.org.directory import add_person
from workflow.spec.definitions import load_file

DEFINITIONS_BY_VERSION = {
    1: load_file(DEFINITIONS / "rectification-v1.yaml").definition,
    2: load_file(DEFINITIONS / "rectification.yaml").definition}
DISCIPLINE = Actor("市纪委监委", "discipline")
ACTORS = {"office": OFFICE, "unit": UNIT, "acceptor": ACCEPTOR, "leader": LEADER,
          "discipline": DISCIPLINE, "public": PUBLIC}
# The way to each source state; on version 2 the acceptance steps come first, and "wait"
# lets the 7-day public notice run out.
ACCEPTED = {1: ["start", "apply_acceptance", "clear"],
            2: ["start", "apply_acceptance", "site_check", "wait", "sign_off", "clear"]}
ROUTE = {"assigned": [], "in_progress": ["start"], "acceptance": ["start", "apply_acceptance"]}
STEP_BEFORE = {"object": ["site_check"], "sign_off": ["site_check", "wait"],
               "clear": ["site_check", "wait", "sign_off"]}


def route(version: int, trigger: str, source: str) -> list[str]:
    if source == "cleared":
        return ACCEPTED[version]
    if source == "follow_up":
        return [*ACCEPTED[version], "start_follow_up"]
    steps = ROUTE[source]
    if version == 2 and source == "acceptance":
        steps = [*steps, *STEP_BEFORE.get(trigger, [])]
    return steps


CASES = [(version, t.trigger, source, role)
         for version, definition in DEFINITIONS_BY_VERSION.items()
         for t in definition.transitions for source in t.source for role in definition.roles]


@pytest.mark.parametrize(("version", "trigger", "source", "role"), CASES,
                         ids=[f"v{v}-{t}-{s}-{r}" for v, t, s, r in CASES])
def test_each_role_may_fire_exactly_the_triggers_the_definition_gives_it(
        engine: Engine, clock: FrozenClock, evidence_file: Path, version: int, trigger: str,
        source: str, role: str) -> None:
    # Given an issue of the unit, accepted by the acceptor, in the trigger's source state
    definition = DEFINITIONS_BY_VERSION[version]
    issue_id = new_issue(engine, version=version, acceptance_unit=ACCEPTOR.name)
    for step in route(version, trigger, source):
        if step == "wait":
            clock.advance(timedelta(days=8))
        else:
            fire_valid(engine, issue_id, step, evidence_file)
    spec = next(t for t in definition.transitions if t.trigger == trigger)
    inputs = {**inputs_for(trigger, evidence_file), "actor": ACTORS[role]}
    before = queries.get_issue(engine.db, issue_id)

    # When the role fires it with every requirement met
    if role in spec.roles:
        result = engine.fire(issue_id, trigger, **inputs)
        assert result.to_state == spec.dest
        return
    with pytest.raises(PermissionDeniedError) as refused:
        engine.fire(issue_id, trigger, **inputs)

    # Then only the roles the definition names succeed; the refusal names role and action
    assert f"role '{role}' may not fire '{trigger}'" in str(refused.value)
    after = queries.get_issue(engine.db, issue_id)
    assert (after.state, after.stage, after.version) == (source, before.stage, before.version)


def test_a_unit_acts_only_on_issues_it_works(engine: Engine, evidence_file: Path) -> None:
    issue_id = new_issue(engine, cooperating_units=("杜集区人民政府",))
    stranger = Actor("烈山区人民政府", "unit")
    with pytest.raises(OutOfScopeError) as refused:
        engine.fire(issue_id, "start", actor=stranger)
    assert str(refused.value) == (
        f"issue {issue_id}: 烈山区人民政府 (role 'unit') may not fire 'start': the issue "
        "belongs to 杜集区人民政府, 相山区人民政府")
    # A cooperating unit works the issue too; a person acts for their unit
    engine.fire(issue_id, "start", actor=Actor("李科长", "unit", "杜集区人民政府"))


def test_an_acceptor_acts_only_on_issues_it_accepts(engine: Engine,
                                                    evidence_file: Path) -> None:
    issue_id = new_issue(engine, acceptance_unit="市住建局")
    for step in ("start", "apply_acceptance"):
        fire_valid(engine, issue_id, step, evidence_file)
    with pytest.raises(OutOfScopeError, match="the issue belongs to 市住建局"):
        engine.fire(issue_id, "reject", actor=ACCEPTOR, comment="不同意")
    engine.fire(issue_id, "reject", actor=Actor("王工", "acceptor", "市住建局"),
                comment="现场核查未整改到位")


def test_each_role_reads_its_own_issues_and_the_public_only_disclosed_fields(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issues of two units, one accepted by the acceptor, one cleared
    ours = new_issue(engine, number="1", category="大气污染防治", acceptance_unit=ACCEPTOR.name,
                     measures="加装油烟净化设施")
    theirs = new_issue(engine, number="2", unit="杜集区人民政府", leader="李副市长",
                       category="水污染防治")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, ours, trigger, evidence_file)
    add_person(engine.db, "李副市长", roles=["leader"], sectors=["大气污染防治"],
               by=office_act(engine.db))
    issues = [queries.get_issue(engine.db, i) for i in (ours, theirs)]

    def reads(actor: Actor) -> list[int]:
        allowed = queries.readable(engine.db, actor)
        return [issue.id for issue in issues if allowed(issue)]

    # Then each role reads what it may
    assert reads(OFFICE) == reads(Actor("市纪委监委", "discipline")) == [ours, theirs]
    assert reads(UNIT) == [ours]
    assert reads(ACCEPTOR) == [ours]
    assert reads(LEADER) == [ours]  # the supervising leader named on the issue
    assert reads(Actor("李副市长", "leader")) == [ours, theirs]  # by sector, and by name
    # And the public sees the disclosed fields only, with the clearance date
    view = views.public_view(engine.db, issues[0], engine.registry, clock.now())
    assert set(view) == set(policy.PUBLIC_FIELDS)
    assert (view["measures"], view["state_label_zh"], view["cleared_on"]) == (
        "加装油烟净化设施", "已销号", local(clock.now()).date().isoformat())
    assert not {"leader", "acceptance_unit", "escalation_level", "milestones"} & set(view)
