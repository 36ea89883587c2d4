"""The access policy on its own: which role takes which action, on which issues each role
acts, and what each role reads. Plain functions over actors and issue facts; no database."""

from __future__ import annotations

from typing import Any

import pytest

from workflow.errors import ActionDeniedError, OutOfScopeError
from workflow.issues import policy
from workflow.models import Issue
from workflow.org.actors import Actor
from workflow.org.directory import ROLES

OFFICE = Actor("市整改办", "office")
DISCIPLINE = Actor("市纪委监委", "discipline")
PUBLIC = Actor("群众", "public")
LEAD = Actor("相山区人民政府", "unit")
COOPERATING = Actor("杜集区人民政府", "unit")
STRANGER = Actor("烈山区人民政府", "unit")
ACCEPTOR = Actor("市生态环境局", "acceptor")
OTHER_ACCEPTOR = Actor("市住建局", "acceptor")
SUPERVISOR = Actor("王副市长", "leader")
SECTOR_LEADER = Actor("李副市长", "leader")
AIR = frozenset({"大气污染防治"})


def issue(**facts: Any) -> Issue:
    """An issue of 相山区 (lead) and 濉溪县 (responsible) with 杜集区 cooperating, accepted by
    市生态环境局, supervised by 王副市长, in the 大气污染防治 sector."""
    return Issue(**{"id": 7, "title": "部分建筑工地扬尘防控不到位", "category": "大气污染防治",
                    "unit": LEAD.name, "lead_unit": LEAD.name,
                    "responsible_units": [LEAD.name, "濉溪县人民政府"],
                    "cooperating_units": [COOPERATING.name],
                    "acceptance_unit": ACCEPTOR.name, "leader": SUPERVISOR.name, **facts})


def refusal(actor: Actor, facts: Issue, **kwargs: Any) -> str:
    with pytest.raises(OutOfScopeError) as refused:
        policy.check_act_scope(actor, facts, issue_id=7, action="fire 'start'", **kwargs)
    return str(refused.value)


# --- actions that are not triggers -------------------------------------------------------

ACTION_ROLES = {
    policy.REPORT_PROGRESS: ("unit", "office"),
    policy.INSTRUCT: ("leader", "office"),
    policy.RECORD_ACCOUNTABILITY: ("office", "discipline"),
    policy.ADOPT_PROPOSAL: ("office",),
    policy.DISMISS_PROPOSAL: ("office",),
    policy.SPLIT_ISSUE: ("office", "unit"),
    policy.PLAN_MILESTONES: ("office", "unit"),
    policy.REACH_MILESTONE: ("office", "unit"),
    policy.IMPORT_LEDGER: ("office",),
    policy.MIGRATE_VERSIONS: ("office",),
    policy.READ_HISTORY: ("office", "unit", "acceptor", "leader", "discipline"),
}
ACTION_CASES = [(action, role) for action in ACTION_ROLES for role in ROLES]


@pytest.mark.parametrize(("action", "role"), ACTION_CASES,
                         ids=[f"{a.text}-{r}" for a, r in ACTION_CASES])
def test_each_role_takes_exactly_the_actions_the_policy_gives_it(
        action: policy.Action, role: str) -> None:
    # Given an actor in the role
    actor = Actor("某人", role)
    # When they take the action
    if role in ACTION_ROLES[action]:
        policy.check_action(actor, action)
        assert policy.may_take(actor, action)
        return
    with pytest.raises(ActionDeniedError) as refused:
        policy.check_action(actor, action)
    # Then only the roles the policy names may; the refusal names the action and the roles
    assert not policy.may_take(actor, action)
    assert str(refused.value) == (f"role '{role}' may not {action.text}; roles allowed: "
                                  f"{', '.join(ACTION_ROLES[action])}")


# --- acting on an issue --------------------------------------------------------------------

def test_working_units_are_the_lead_responsible_and_cooperating_units() -> None:
    # Given an issue naming its units in every column, some twice and one column empty
    facts = issue(unit=None)
    # Then each unit that works it is named once, and nothing for the empty column
    assert policy.working_units(facts) == {LEAD.name, "濉溪县人民政府", COOPERATING.name}
    assert policy.working_units(issue(responsible_units=None, cooperating_units=None,
                                      lead_unit=None)) == {LEAD.name}


def test_a_unit_acts_on_the_issues_it_works_and_no_other() -> None:
    # Given an issue of the lead unit with a cooperating unit
    facts = issue()
    # Then the lead, a responsible, a cooperating unit and a person for one of them act
    for actor in (LEAD, Actor("濉溪县人民政府", "unit"), COOPERATING,
                  Actor("李科长", "unit", COOPERATING.name)):
        policy.check_act_scope(actor, facts, issue_id=7, action="fire 'start'")
    # And another unit is refused, told whom the issue belongs to
    assert refusal(STRANGER, facts) == (
        "issue 7: 烈山区人民政府 (role 'unit') may not fire 'start': the issue belongs to "
        "杜集区人民政府, 濉溪县人民政府, 相山区人民政府")


def test_an_acceptor_acts_on_the_issues_it_accepts() -> None:
    # Given an issue accepted by 市生态环境局 and one naming no acceptance unit
    named, unnamed = issue(), issue(acceptance_unit=None)
    # Then its acceptor (or a person for it) acts on the first, and any acceptor on the second
    policy.check_act_scope(ACCEPTOR, named, issue_id=7, action="fire 'reject'")
    policy.check_act_scope(Actor("王工", "acceptor", ACCEPTOR.name), named, issue_id=7,
                           action="fire 'reject'")
    policy.check_act_scope(OTHER_ACCEPTOR, unnamed, issue_id=7, action="fire 'reject'")
    # And another acceptor is refused on the first
    assert refusal(OTHER_ACCEPTOR, named) == (
        "issue 7: 市住建局 (role 'acceptor') may not fire 'start': the issue belongs to "
        "市生态环境局")


def test_a_leader_acts_on_the_issues_they_supervise_or_of_their_sectors() -> None:
    # Given an issue supervised by 王副市长 in 李副市长's sector, and one outside it
    ours, other = issue(), issue(category="固体废物")
    # Then the supervising leader acts on both, the sector leader on the first only
    for facts in (ours, other):
        policy.check_act_scope(SUPERVISOR, facts, issue_id=7, action="instruct")
    policy.check_act_scope(SECTOR_LEADER, ours, issue_id=7, action="instruct", sectors=AIR)
    assert refusal(SECTOR_LEADER, other, sectors=AIR) == (
        "issue 7: 李副市长 (role 'leader') may not fire 'start': the issue belongs to 王副市长")
    # And without sectors loaded, a leader is held to the issues naming them
    assert "may not fire 'start'" in refusal(SECTOR_LEADER, ours)
    assert refusal(SECTOR_LEADER, issue(leader=None)).endswith(
        "the issue belongs to no supervising leader")


@pytest.mark.parametrize("actor", [OFFICE, DISCIPLINE, PUBLIC], ids=lambda a: a.role)
def test_the_office_discipline_and_public_are_held_to_no_issue(actor: Actor) -> None:
    # Given an issue none of them works
    facts = issue(acceptance_unit="市住建局", leader="李副市长", category="固体废物")
    # Then the policy leaves them to the roles the action or the trigger allows
    policy.check_act_scope(actor, facts, issue_id=7, action="fire 'object'")


# --- reading -------------------------------------------------------------------------------

def test_each_role_reads_what_it_may() -> None:
    # Given an issue in the air sector accepted by 市生态环境局, and another of another unit
    ours = issue()
    theirs = issue(unit=STRANGER.name, lead_unit=None, responsible_units=[STRANGER.name],
                   cooperating_units=[], acceptance_unit=None, leader="李副市长",
                   category="水污染防治")

    def reads(actor: Actor, sectors: frozenset[str] = frozenset()) -> list[str | None]:
        return [i.unit for i in (ours, theirs) if policy.may_read(actor, i, sectors=sectors)]

    # Then the office, discipline and public read both
    assert reads(OFFICE) == reads(DISCIPLINE) == reads(PUBLIC) == [LEAD.name, STRANGER.name]
    # And a unit the one it works (cooperating too), an acceptor the one it accepts
    assert reads(LEAD) == reads(COOPERATING) == [LEAD.name]
    assert reads(STRANGER) == [STRANGER.name]
    assert reads(ACCEPTOR) == [LEAD.name]
    assert reads(OTHER_ACCEPTOR) == []  # an issue naming no acceptance unit is not theirs
    # And a leader those they supervise or of their sectors
    assert reads(SUPERVISOR) == [LEAD.name]
    assert reads(SECTOR_LEADER) == [STRANGER.name]
    assert reads(SECTOR_LEADER, AIR) == [LEAD.name, STRANGER.name]
    # And a role the policy does not know reads nothing
    assert reads(Actor("某人", "visitor")) == []


def test_a_refused_read_says_whose_issue_it_is() -> None:
    # Given an issue of 相山区
    facts = issue()
    # When another unit, another acceptor and a leader of another sector read it
    refused = {}
    for actor in (STRANGER, OTHER_ACCEPTOR, SECTOR_LEADER):
        with pytest.raises(OutOfScopeError) as error:
            policy.check_read_scope(actor, facts, issue_id=7, history=actor.role == "leader")
        refused[actor.role] = str(error.value)
    # Then each is told whom the issue belongs to for their role
    assert refused == {
        "unit": "issue 7: 烈山区人民政府 (role 'unit') may not read it: the issue belongs to "
                "杜集区人民政府, 濉溪县人民政府, 相山区人民政府",
        "acceptor": "issue 7: 市住建局 (role 'acceptor') may not read it: the issue belongs "
                    "to 市生态环境局",
        "leader": "issue 7: 李副市长 (role 'leader') may not read its history: the issue "
                  "belongs to 王副市长"}
    # And the sector makes the leader's read allowed
    policy.check_read_scope(SECTOR_LEADER, facts, issue_id=7, history=True, sectors=AIR)


def test_the_public_reads_disclosed_fields_and_never_a_history() -> None:
    # Given any issue
    facts = issue()
    # Then the public reads it, as the public does, but not its history
    policy.check_read_scope(PUBLIC, facts, issue_id=7)
    assert policy.reads_disclosed_only(PUBLIC)
    assert not any(policy.reads_disclosed_only(Actor("某人", role))
                   for role in ROLES if role != "public")
    with pytest.raises(ActionDeniedError) as refused:
        policy.check_read_scope(PUBLIC, facts, issue_id=7, history=True)
    assert str(refused.value) == (
        "role 'public' may not read an issue's history (internal records); roles allowed: "
        "office, unit, acceptor, leader, discipline")
    # And the disclosed fields name no people, contacts or internal state
    assert not {"leader", "acceptance_unit", "accepted_by", "escalation_level",
                "milestones"} & set(policy.PUBLIC_FIELDS)
