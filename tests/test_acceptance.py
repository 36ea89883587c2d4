"""The acceptance sub-flow as steps inside the acceptance state: application, site check
with the acceptance unit's opinion, public notice (公示, 7 days; an objection reopens the
check), sign-off (审签), then clearance with the five 决不放过 items and evidence."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS
from tests.support import ACCEPTOR, FIVE_NEVER, OFFICE, PUBLIC, UNIT, new_issue
from workflow.clock import FrozenClock, local
from workflow.errors import DefinitionError, RequirementError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.org.actors import Actor
from workflow.spec.definitions import parse_text

SOURCE = (DEFINITIONS / "rectification.yaml").read_text(encoding="utf-8")


@pytest.fixture
def staged(engine: Engine) -> Engine:
    """The engine with the shipped definitions: new issues start on rectification@2."""
    assert engine.registry.latest_version("rectification") == 2
    return engine


def at_acceptance(engine: Engine, evidence_file: Path) -> int:
    issue_id = new_issue(engine, version=2, acceptance_unit=ACCEPTOR.name)
    engine.fire(issue_id, "start", actor=UNIT)
    engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="已整改到位",
                evidence=[evidence_file])
    return issue_id


def stage_of(engine: Engine, issue_id: int) -> tuple[str, str | None]:
    issue = queries.get_issue(engine.db, issue_id)
    return issue.state, issue.stage


def test_site_check_public_notice_objection_sign_off_and_clearance(
        staged: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    engine = staged
    issue_id = at_acceptance(engine, evidence_file)
    assert stage_of(engine, issue_id) == ("acceptance", "applied")

    # Clearance before the site check names the step it needs
    with pytest.raises(RequirementError, match="must be at step 已审签 \\(signed_off\\); it is "
                                               "at 待现场核查 \\(applied\\)"):
        engine.fire(issue_id, "clear", actor=OFFICE, comment="销号", checklist=FIVE_NEVER,
                    evidence=[evidence_file])

    # The acceptance unit checks on site and gives its opinion; the public notice starts
    inspector = Actor("张工", "acceptor", ACCEPTOR.name)
    engine.fire(issue_id, "site_check", actor=inspector, comment="现场核查：整改到位，同意公示")
    notice_ends = clock.now() + timedelta(days=7)
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.stage, issue.stage_until) == ("public_notice", notice_ends)
    check = queries.history(engine.db, issue_id)[-1]
    assert (check.actor, check.role, check.comment) == ("张工", "acceptor",
                                                        "现场核查：整改到位，同意公示")
    # 谁验收、谁负责: the accepting person and unit are on the issue and in its history
    assert (issue.accepted_by, issue.accepted_unit) == ("张工", ACCEPTOR.name)
    assert check.payload["accepted_by"] == {"person": "张工", "unit": ACCEPTOR.name}

    # During the notice: no sign-off, and clearance is refused with everything missing
    clock.advance(timedelta(days=3))
    with pytest.raises(RequirementError, match="runs until"):
        engine.fire(issue_id, "sign_off", actor=OFFICE, comment="审签")
    with pytest.raises(RequirementError) as refused:
        engine.fire(issue_id, "clear", actor=OFFICE, comment="销号")
    problems = refused.value.problems
    until = local(notice_ends).strftime("%Y-%m-%d %H:%M")
    assert problems[0] == ("the issue must be at step 已审签 (signed_off); it is at 公示中 "
                           f"(public_notice) until {until}")
    assert any("evidence file(s) are required" in p for p in problems)
    assert sum(": not answered; answer" in p for p in problems) == 5

    # An objection during the notice sends it back to the site check
    engine.fire(issue_id, "object", actor=PUBLIC, comment="群众反映仍有油烟扰民")
    assert stage_of(engine, issue_id) == ("acceptance", "applied")
    engine.fire(issue_id, "site_check", actor=ACCEPTOR, comment="复查：已加装净化设备")

    # After a full 7 days the office signs off, then clears with the checklist and evidence
    clock.advance(timedelta(days=7))
    engine.fire(issue_id, "sign_off", actor=OFFICE, comment="同意销号")
    assert stage_of(engine, issue_id) == ("acceptance", "signed_off")
    engine.fire(issue_id, "clear", actor=OFFICE, comment="销号", checklist=FIVE_NEVER,
                evidence=[evidence_file])
    assert stage_of(engine, issue_id) == ("cleared", None)


def test_rejection_at_any_step_returns_to_in_progress(
        staged: Engine, evidence_file: Path) -> None:
    engine = staged
    issue_id = at_acceptance(engine, evidence_file)
    engine.fire(issue_id, "site_check", actor=ACCEPTOR, comment="同意公示")
    engine.fire(issue_id, "reject", actor=OFFICE, comment="公示期间发现新问题")
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.state, issue.stage, issue.stage_until) == ("in_progress", None, None)
    assert queries.history(engine.db, issue_id)[-1].payload["stage"] is None


@pytest.mark.parametrize(("rule", "message"), [
    ("stage: {from: signed_of}", "unknown stage 'signed_of' of state 'acceptance'; its "
                                 "stages: applied, public_notice, signed_off"),
    ("stage: {from: signed_off, to: applied}", "only a transition that stays in its state "
                                               "(to = from) can move to another stage"),
])
def test_stage_rules_are_checked_against_the_states_steps(rule: str, message: str) -> None:
    text = SOURCE.replace("    stage: {from: signed_off}\n", f"    {rule}\n", 1)
    with pytest.raises(DefinitionError) as bad:
        parse_text(text, "rectification.yaml")
    assert [f.message for f in bad.value.faults] == [message]


def test_clearance_names_each_missing_item_evidence_and_the_open_notice(
        staged: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    engine = staged
    issue_id = at_acceptance(engine, evidence_file)
    engine.fire(issue_id, "site_check", actor=ACCEPTOR, comment="同意公示")
    clock.advance(timedelta(days=7))
    engine.fire(issue_id, "sign_off", actor=OFFICE, comment="同意销号")
    before = queries.get_issue(engine.db, issue_id).version
    # Four of the five items, one with an empty note, and no evidence: each named
    partial = {**FIVE_NEVER, "public_satisfied": " "}
    del partial["accountability_done"]
    with pytest.raises(RequirementError) as refused:
        engine.fire(issue_id, "clear", actor=OFFICE, comment="销号", checklist=partial)
    text = "\n".join(refused.value.problems)
    assert "accountability_done" in text and "public_satisfied" in text
    assert "problem_solved" not in text
    assert "1 evidence file(s) are required" in text
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.state, issue.version) == ("acceptance", before)  # nothing changed


def test_migrating_to_version_2_puts_waiting_issues_at_the_site_check(
        staged: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    from workflow.issues.versions import migrate

    engine = staged
    # Given an issue awaiting acceptance on version 1 (no steps there)
    issue_id = new_issue(engine, version=1)
    engine.fire(issue_id, "start", actor=UNIT)
    engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="已整改",
                evidence=[evidence_file])
    assert stage_of(engine, issue_id) == ("acceptance", None)
    # When the office moves version 1 onto version 2
    report = migrate(engine, ("rectification", 1), ("rectification", 2), actor=OFFICE)
    assert [m["issue_id"] for m in report.moved] == [issue_id]
    # Then it waits for the site check, and its history says so
    assert stage_of(engine, issue_id) == ("acceptance", "applied")
    assert queries.history(engine.db, issue_id)[-1].payload == {
        "from": "rectification@1", "to": "rectification@2", "stage": "applied"}
    with pytest.raises(RequirementError, match="must be at step 已审签"):
        engine.fire(issue_id, "clear", actor=OFFICE, comment="销号", checklist=FIVE_NEVER,
                    evidence=[evidence_file])
