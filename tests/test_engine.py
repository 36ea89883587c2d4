"""Firing the default definition: every transition, every guard, and refusals that change
nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import ACCEPTOR, FIVE_NEVER, LEADER, OFFICE, PUBLIC, UNIT, fire_valid, new_issue
from workflow.clock import SHANGHAI, FrozenClock
from workflow.errors import (
    ConflictError,
    IllegalTriggerError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RequirementError,
)
from workflow.issues import queries
from workflow.issues.engine import Engine, NewIssue
from workflow.models import IssueEvent
from workflow.org.actors import Actor
from workflow.supervision import accountability


def snapshot(engine: Engine, issue_id: int) -> tuple[str, int, str, int]:
    """State, version, head hash and number of events: what a refusal must leave as it was."""
    issue = queries.get_issue(engine.db, issue_id)
    with engine.db.session() as session:
        events = session.scalar(select(func.count()).select_from(IssueEvent)
                                .where(IssueEvent.issue_id == issue_id))
    return issue.state, issue.version, issue.head_hash, events


def follow_up_issue(engine: Engine, evidence: Path) -> int:
    """An issue cleared and in follow-up (回头看), due 2026-06-30 before it was cleared."""
    issue_id = new_issue(engine)
    for trigger in ("start", "apply_acceptance", "clear", "start_follow_up"):
        fire_valid(engine, issue_id, trigger, evidence)
    return issue_id


def test_a_new_issue_starts_assigned_at_version_1_with_a_creation_event(
        engine: Engine, clock: FrozenClock) -> None:
    # Given the clock at Monday 2026-01-05 09:00 in Shanghai
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI))
    # When an issue is created
    issue_id = new_issue(engine)
    # Then it is assigned (已交办), at version 1, with a creation event pinned to rectification@1
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.state, issue.version) == ("assigned", 1)
    assert (issue.definition_id, issue.definition_version) == ("rectification", 1)
    [event] = queries.history(engine.db, issue_id)
    assert (event.trigger, event.from_state, event.to_state) == ("create", None, "assigned")
    # And the 3-working-day deadline of 已交办 (Mon 2026-01-05 → Thu 2026-01-08, end of day)
    facts = event.payload.pop("facts")
    assert event.payload == {"definition": "rectification@1", "due": "2026-01-08T23:59:59+08:00"}
    # and the facts it was created with, for `verify` to compare the row with
    assert (facts["title"], facts["unit"], facts["deadline_at"]) == (
        "部分建筑工地扬尘防控不到位", "相山区人民政府", "2026-06-30T15:59:59+00:00")


def test_the_deadline_is_the_end_of_its_day_in_shanghai_stored_as_utc(engine: Engine) -> None:
    # When an issue is created with the deadline 2026-06-30
    issue = queries.get_issue(engine.db, new_issue(engine, deadline=date(2026, 6, 30)))
    # Then it is stored as 2026-06-30 23:59:59 Asia/Shanghai, 15:59:59 UTC the same day
    assert issue.deadline_at == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)


PATHS = [
    ["start", "apply_acceptance", "clear", "start_follow_up", "consolidate"],
    ["start", "apply_acceptance", "reject", "apply_acceptance", "clear"],
    ["start", "apply_acceptance", "clear", "start_follow_up", "rebound", "apply_acceptance"],
    ["start", "extend", "extend", "apply_acceptance"],
]


@pytest.mark.parametrize("path", PATHS)
def test_each_trigger_moves_the_issue_as_the_definition_says_one_version_at_a_time(
        engine: Engine, evidence_file: Path, path: list[str]) -> None:
    # Given an issue in 已交办
    issue_id = new_issue(engine)
    compiled = engine.registry.get("rectification", 1)
    state = "assigned"
    for step, trigger in enumerate(path, start=2):
        # When each trigger is fired by a role allowed to fire it, with valid inputs
        result = fire_valid(engine, issue_id, trigger, evidence_file)
        # Then the issue moves exactly as the definition says, one version per transition
        expected = compiled.transition(state, trigger)
        assert expected is not None
        assert (result.from_state, result.to_state, result.version) == (state, expected.dest,
                                                                         step)
        state = expected.dest
    # And the history holds the creation and each trigger, and the issue is where it ended
    events = queries.history(engine.db, issue_id)
    assert [event.trigger for event in events] == ["create", *path]
    assert queries.get_issue(engine.db, issue_id).state == state


def test_the_paths_walk_every_transition_of_the_default_definition(engine: Engine) -> None:
    # Given the triggers of rectification@1
    triggers = {spec.trigger for spec in engine.registry.get("rectification", 1)
                .definition.transitions}
    # Then they are these eight, and the paths above fire each of them
    assert triggers == {"start", "apply_acceptance", "reject", "clear", "start_follow_up",
                        "consolidate", "rebound", "extend"}
    assert {trigger for path in PATHS for trigger in path} == triggers


def test_a_rebound_sets_the_new_deadline_and_records_the_previous_one(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue in follow-up, due 2026-06-30 when it was cleared
    issue_id = follow_up_issue(engine, evidence_file)
    # When the office records a rebound (反弹) with the new deadline 2026-12-31
    fire_valid(engine, issue_id, "rebound", evidence_file)
    # Then the issue is in progress again, due at the end of 2026-12-31
    issue = queries.get_issue(engine.db, issue_id)
    assert issue.state == "in_progress"
    assert issue.deadline_at == datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)
    # And the history keeps both deadlines, the revoked clearance and the proposal
    assert queries.history(engine.db, issue_id)[-1].payload == {
        "fields": {"new_deadline": "2026-12-31"}, "previous_deadline": "2026-06-30",
        "due": "2026-12-31T23:59:59+08:00", "clearance_revoked": True, "proposal": True,
        "facts": {"deadline_at": "2026-12-31T15:59:59+00:00"}}


def test_a_rebound_revokes_the_clearance_on_record_and_opens_an_accountability_proposal(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue cleared, in follow-up
    issue_id = follow_up_issue(engine, evidence_file)
    # When the office records a rebound
    fire_valid(engine, issue_id, "rebound", evidence_file)
    # Then the history says the clearance is revoked (反弹的不销号) and a proposal opened
    last = queries.history(engine.db, issue_id)[-1]
    assert last.trigger == "rebound" and last.payload["clearance_revoked"] is True
    assert last.payload["proposal"] is True
    # And one accountability proposal names the issue and the rebound as its reason
    [proposal] = accountability.proposals(engine)
    assert proposal.issue_id == issue_id and proposal.reason.startswith("反弹：")
    assert queries.get_issue(engine.db, issue_id).state == "in_progress"


def test_evidence_is_stored_content_addressed_and_hashed_in_the_event(
        engine: Engine, evidence_file: Path, tmp_path: Path) -> None:
    # Given an issue in progress and a copy of the evidence file under another name
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    copy = tmp_path / "copy.txt"
    copy.write_bytes(evidence_file.read_bytes())
    # When the same content is attached twice under two names
    engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="完成",
                evidence=[evidence_file, copy])
    # Then the store keeps one file named by its sha256, and the event lists both names
    [stored] = [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    payload = queries.history(engine.db, issue_id)[-1].payload
    assert [item["name"] for item in payload["evidence"]] == [evidence_file.name, "copy.txt"]
    assert {item["sha256"] for item in payload["evidence"]} == {stored.name}
    assert stored.read_bytes() == evidence_file.read_bytes()


# --- guards: each rejects with a clear message, and nothing changes ---------------------------

GUARD_CASES = [
    # trigger, state to reach first, inputs, message fragments expected
    ("apply_acceptance", ["start"], {"actor": UNIT, "evidence": ["EVIDENCE"]},
     ["a comment is required"]),
    ("apply_acceptance", ["start"], {"actor": UNIT, "comment": "完成"},
     ["at least 1 evidence file(s) are required", "0 given"]),
    ("reject", ["start", "apply_acceptance"], {"actor": ACCEPTOR, "comment": "   "},
     ["a comment is required"]),
    ("clear", ["start", "apply_acceptance"], {"actor": OFFICE, "comment": "同意"},
     ["checklist 五个决不放过 item 'problem_investigated'", "not answered",
      "allowed answers: 是, 否, yes, no"]),
    ("clear", ["start", "apply_acceptance"],
     {"actor": OFFICE, "comment": "同意", "checklist": {**FIVE_NEVER, "public_satisfied": ""}},
     ["item 'public_satisfied' (群众不满意决不放过): no answer"]),
    ("clear", ["start", "apply_acceptance"],
     {"actor": OFFICE, "comment": "同意", "checklist": {**FIVE_NEVER, "public_satisfied": "否"}},
     ["item 'public_satisfied' (群众不满意决不放过): answered 否 without a note"]),
    ("clear", ["start", "apply_acceptance"],
     {"actor": OFFICE, "comment": "同意",
      "checklist": {**FIVE_NEVER, "public_satisfied": "否:群众仍有投诉"}},
     ["item 'public_satisfied' (群众不满意决不放过) is answered 否 (群众仍有投诉)",
      "clearance needs every item answered 是"]),
    ("clear", ["start", "apply_acceptance"],
     {"actor": OFFICE, "comment": "同意",
      "checklist": {**FIVE_NEVER, "public_satisfied": "群众不满意"}},
     ["item 'public_satisfied' (群众不满意决不放过): '群众不满意' is not an answer",
      "public_satisfied=是:NOTE"]),
    ("clear", ["start", "apply_acceptance"],
     {"actor": OFFICE, "comment": "同意", "checklist": {**FIVE_NEVER, "extra": "x"}},
     ["unknown checklist item 'extra'", "problem_investigated, problem_solved"]),
    ("consolidate", ["start", "apply_acceptance", "clear", "start_follow_up"],
     {"actor": OFFICE}, ["a comment is required"]),
    ("rebound", ["start", "apply_acceptance", "clear", "start_follow_up"],
     {"actor": OFFICE, "comment": "反弹"}, ["field 'new_deadline' (新整改时限) is required"]),
    ("rebound", ["start", "apply_acceptance", "clear", "start_follow_up"],
     {"actor": OFFICE, "comment": "反弹", "fields": {"new_deadline": "明年"}},
     ["'明年' is not a date like 2026-12-31"]),
    ("rebound", ["start", "apply_acceptance", "clear", "start_follow_up"],
     {"actor": OFFICE, "comment": "反弹", "fields": {"new_deadline": "2026-12-31", "x": 1}},
     ["unknown field 'x'; fields of 'rebound': new_deadline"]),
    ("start", [], {"actor": UNIT, "checklist": {"a": "b"}}, ["'start' takes no checklist"]),
]


@pytest.mark.parametrize(("trigger", "before", "inputs", "fragments"), GUARD_CASES)
def test_every_guard_rejects_with_a_clear_message_and_changes_nothing(
        engine: Engine, evidence_file: Path, trigger: str, before: list[str],
        inputs: dict, fragments: list[str]) -> None:
    # Given an issue in the trigger's source state
    issue_id = new_issue(engine)
    for step in before:
        fire_valid(engine, issue_id, step, evidence_file)
    inputs = {**inputs, "evidence": [evidence_file for _ in inputs.get("evidence", [])]}
    unchanged = snapshot(engine, issue_id)
    # When the trigger is fired with one requirement unmet
    with pytest.raises(RequirementError) as refused:
        engine.fire(issue_id, trigger, **inputs)
    # Then the refusal says what is missing, and the issue and its history are unchanged
    for fragment in fragments:
        assert fragment in str(refused.value)
    assert snapshot(engine, issue_id) == unchanged


def test_a_guard_lists_every_missing_requirement_at_once(engine: Engine,
                                                          evidence_file: Path) -> None:
    # Given an issue in progress
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    # When the unit applies for acceptance with neither a comment nor evidence
    with pytest.raises(RequirementError) as refused:
        engine.fire(issue_id, "apply_acceptance", actor=UNIT)
    # Then both problems are reported in one refusal
    assert len(refused.value.problems) == 2


def test_an_illegal_trigger_lists_the_triggers_allowed_for_that_role(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue waiting for acceptance
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    fire_valid(engine, issue_id, "apply_acceptance", evidence_file)
    unchanged = snapshot(engine, issue_id)
    # When the office fires a trigger that does not leave that state
    with pytest.raises(IllegalTriggerError) as refused:
        engine.fire(issue_id, "consolidate", actor=OFFICE, comment="x")
    # Then the refusal lists the triggers the office may fire there, and nothing changes
    assert refused.value.allowed == ["reject", "clear"]
    assert ("trigger 'consolidate' is not allowed from state 'acceptance' for role 'office'; "
            "allowed triggers: reject, clear") in str(refused.value)
    assert snapshot(engine, issue_id) == unchanged


def test_a_role_not_allowed_on_the_transition_is_refused_and_nothing_changes(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue waiting for acceptance
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    fire_valid(engine, issue_id, "apply_acceptance", evidence_file)
    unchanged = snapshot(engine, issue_id)
    # When the acceptor tries to clear it
    with pytest.raises(PermissionDeniedError) as refused:
        engine.fire(issue_id, "clear", actor=ACCEPTOR, comment="同意", checklist=FIVE_NEVER)
    # Then it is refused, naming the roles allowed and what the acceptor may do instead
    assert "role 'acceptor' may not fire 'clear' (roles allowed: office)" in str(refused.value)
    assert refused.value.allowed == ["reject"]
    # And the public and the leader may not reject it either
    with pytest.raises(PermissionDeniedError):
        engine.fire(issue_id, "reject", actor=PUBLIC, comment="不满意")
    with pytest.raises(PermissionDeniedError):
        engine.fire(issue_id, "reject", actor=LEADER, comment="批示")
    # And the issue and its history are unchanged
    assert snapshot(engine, issue_id) == unchanged


def test_an_unknown_role_is_refused_naming_the_roles_of_the_definition(engine: Engine) -> None:
    # Given an issue on rectification@1
    issue_id = new_issue(engine)
    # When an actor in a role the definition does not know fires a trigger
    # Then the refusal names the definition's roles
    with pytest.raises(InputError, match="unknown role 'mayor'; roles of rectification@1: "
                                         "office, unit"):
        engine.fire(issue_id, "start", actor=Actor("x", "mayor"))


def test_firing_on_an_unknown_issue_says_it_does_not_exist(engine: Engine) -> None:
    # Given an issue, so that the database is not empty
    new_issue(engine)
    # When a trigger is fired on an issue id that does not exist
    # Then the error names the missing issue
    with pytest.raises(NotFoundError, match="issue 999 does not exist"):
        engine.fire(999, "start", actor=UNIT)


def test_a_stale_expected_version_is_a_conflict_and_changes_nothing(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue at version 2 (started)
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    unchanged = snapshot(engine, issue_id)
    # When a trigger is fired expecting version 1
    # Then it is a conflict naming both versions, and nothing changes
    with pytest.raises(ConflictError, match="expected version 1; it is now at version 2"):
        engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="x",
                    evidence=[evidence_file], expected_version=1)
    assert snapshot(engine, issue_id) == unchanged


def test_a_new_issue_without_a_title_is_refused(engine: Engine) -> None:
    # When the office creates an issue whose title is blank
    # Then it is refused for want of a title
    with pytest.raises(InputError, match="needs a title"):
        engine.create_issue(NewIssue(title="  "), actor=OFFICE)


def test_a_new_long_term_item_with_a_deadline_is_refused(engine: Engine) -> None:
    # When an issue is created as a long-term item (长期坚持) and with a deadline
    # Then it is refused: a long-term item has no deadline
    with pytest.raises(InputError, match="long-term item"):
        new_issue(engine, long_term=True)


def test_a_new_issue_on_a_definition_not_loaded_is_refused_naming_those_loaded(
        engine: Engine) -> None:
    # When an issue is created on a process definition that is not loaded
    # Then the refusal names the definitions that are
    with pytest.raises(NotFoundError, match="no process definition 'nope' is loaded; loaded: "
                                            "rectification"):
        engine.create_issue(NewIssue(title="x"), actor=OFFICE, definition="nope")
