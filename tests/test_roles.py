"""Roles on every action: each role tries every trigger of the default lifecycle; units act
only on their own issues and acceptors only on the issues they accept; actors are the people
and units the office registered."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

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
)
from workflow.clock import FrozenClock, local
from workflow.errors import (
    ActionDeniedError,
    InputError,
    OutOfScopeError,
    PermissionDeniedError,
    RequirementError,
)
from workflow.issues import policy, queries, views
from workflow.issues.engine import Engine
from workflow.models import Notification
from workflow.org.actors import Actor
from workflow.org.directory import add_person, add_unit, resolve_actor
from workflow.org.plans import add_inspection, add_plan
from workflow.spec.definitions import load_file
from workflow.supervision.instructions import instruct

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


def test_actors_are_registered_people_and_units(engine: Engine) -> None:
    db = engine.db
    # With an empty directory any name acts (a fresh installation, the demo)
    assert resolve_actor(db, "某人", None) == Actor("某人", "office")
    add_unit(db, "淮北市")
    add_unit(db, "相山区人民政府", parent="淮北市")
    add_person(db, "张三", roles=["unit"], unit="相山区人民政府", title="科长", rank="科级")
    add_person(db, "王副市长", roles=["leader", "office"], title="副市长", rank="厅级",
               sectors=["大气污染防治"])
    # A person acts in their role for their unit; a unit acts as itself
    assert resolve_actor(db, "张三", None) == Actor("张三", "unit", "相山区人民政府")
    assert resolve_actor(db, "相山区人民政府", None) == Actor("相山区人民政府", "unit")
    with pytest.raises(InputError, match="acts in roles leader, office; say which"):
        resolve_actor(db, "王副市长", None)
    with pytest.raises(InputError, match="张三 does not hold role 'office'; their roles: unit"):
        resolve_actor(db, "张三", "office")
    with pytest.raises(InputError, match="neither a registered person nor a unit"):
        resolve_actor(db, "某人", None)
    with pytest.raises(InputError) as bad:
        add_person(db, "赵六", roles=["mayor"], unit="不存在的局", rank="副科")
    assert "unknown role(s) mayor" in str(bad.value)
    assert "unit '不存在的局' is not registered" in str(bad.value)
    assert "unknown rank '副科'" in str(bad.value)
    with pytest.raises(InputError, match="parent unit '安徽省' is not registered"):
        add_unit(db, "濉溪县", parent="安徽省")


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


def test_a_leader_instructs_the_issues_of_their_sectors(engine: Engine) -> None:
    mine = new_issue(engine, category="水污染防治")  # its leader is LEADER
    sector = new_issue(engine, category="大气污染防治", leader="李副市长")
    other = new_issue(engine, category="固体废物", leader="李副市长")
    add_person(engine.db, LEADER.name, roles=["leader"], sectors=["大气污染防治"])

    instruct(engine, mine, "务必按期整改到位", actor=LEADER)
    instruct(engine, sector, "加大督查力度", actor=LEADER)
    with pytest.raises(OutOfScopeError, match="may not give instructions"):
        instruct(engine, other, "越权批示", actor=LEADER)
    with pytest.raises(ActionDeniedError, match="role 'unit' may not give instructions"):
        instruct(engine, mine, "x", actor=UNIT)

    last = queries.history(engine.db, mine)[-1]
    assert (last.trigger, last.actor, last.comment) == ("instruct", LEADER.name, "务必按期整改到位")
    assert [e.trigger for e in queries.history(engine.db, other)] == ["create"]
    with engine.db.session() as session:
        sent = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.issue_id, n.recipient, n.level) for n in sent] == [
        (mine, UNIT.name, "instruction"), (sector, UNIT.name, "instruction")]
    assert "务必按期整改到位" in sent[0].body


def test_plans_name_their_inspection_and_keep_issues_to_their_categories(
        engine: Engine) -> None:
    db = engine.db
    add_inspection(db, "安徽省第二生态环境保护督察组", level="省级", round="第二轮",
                   period=(date(2019, 9, 23), date(2019, 10, 30)),
                   feedback_on=date(2020, 4, 2))
    add_plan(db, "淮北市整改方案", inspection="安徽省第二生态环境保护督察组",
             categories=["大气污染防治", "水污染防治"])
    new_issue(engine, plan="淮北市整改方案", category="大气污染防治")
    with pytest.raises(InputError, match="category '土壤' is not one of plan '淮北市整改方案'"
                                         "'s categories: 大气污染防治, 水污染防治"):
        new_issue(engine, plan="淮北市整改方案", category="土壤")
    with pytest.raises(InputError) as bad:
        add_inspection(db, "x", level="市级", period=(date(2019, 10, 30), date(2019, 9, 23)))
    assert "unknown inspection level '市级'" in str(bad.value)
    assert "the period ends (2019-09-23) before it starts (2019-10-30)" in str(bad.value)
    with pytest.raises(InputError, match="inspection '中央第三督察组' is not registered"):
        add_plan(db, "另一方案", inspection="中央第三督察组")


def test_each_role_reads_its_own_issues_and_the_public_only_disclosed_fields(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issues of two units, one accepted by the acceptor, one cleared
    ours = new_issue(engine, number="1", category="大气污染防治", acceptance_unit=ACCEPTOR.name,
                     measures="加装油烟净化设施")
    theirs = new_issue(engine, number="2", unit="杜集区人民政府", leader="李副市长",
                       category="水污染防治")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, ours, trigger, evidence_file)
    add_person(engine.db, "李副市长", roles=["leader"], sectors=["大气污染防治"])
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
