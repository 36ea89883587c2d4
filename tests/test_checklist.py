"""The 五个决不放过 checklist: an item is affirmed only by an explicit 是 (or yes) with a note;
否, a bare note or any other text refuses the clearance and changes nothing. Histories stored
before the answers had this form keep verifying. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import FIVE_NEVER, OFFICE, fire_valid, new_issue
from workflow.errors import RequirementError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.issues.verification import verify
from workflow.spec.machine import checklist_answer


def at_acceptance(engine: Engine, evidence: Path) -> int:
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence)
    fire_valid(engine, issue_id, "apply_acceptance", evidence)
    return issue_id


@pytest.mark.parametrize("text, expected", [
    ("是:已查明", {"answer": "是", "note": "已查明"}),
    ("是：已查明涉及工地42处", {"answer": "是", "note": "已查明涉及工地42处"}),
    ("yes: solved", {"answer": "是", "note": "solved"}),
    ("NO:still open", {"answer": "否", "note": "still open"}),
    ({"answer": "否", "note": "群众仍有投诉"}, {"answer": "否", "note": "群众仍有投诉"}),
])
def test_an_answer_is_yes_or_no_with_a_note(text: object, expected: dict) -> None:
    # When an item's answer is read
    # Then 是/否 (or yes/no, any case, either colon) and the note come out
    assert checklist_answer(text) == expected


@pytest.mark.parametrize("text, message", [
    ("否", "answered 否 without a note"), ("是", "answered 是 without a note"),
    ("群众不满意", "'群众不满意' is not an answer"), ("已查明", "'已查明' is not an answer"),
    ("可以:已查明", "'可以' is not an answer"), ("", "no answer"), (":已查明", "no answer"),
    (True, "True is not an answer"), (None, "not answered"),
])
def test_anything_but_yes_or_no_with_a_note_is_no_answer(text: object, message: str) -> None:
    # When an item is given text that is not 是/否 with a note
    # Then it is refused with what was wrong
    with pytest.raises(ValueError, match=message):
        checklist_answer(text)


@pytest.mark.parametrize("answer", ["否:群众不满意", "群众不满意", "否", "已解决"])
def test_a_clearance_with_any_item_not_answered_yes_is_refused_and_changes_nothing(
        engine: Engine, evidence_file: Path, answer: str) -> None:
    # Given an issue at acceptance (rectification@1: clearance straight from there)
    issue_id = at_acceptance(engine, evidence_file)
    before = queries.get_issue(engine.db, issue_id)
    # When the office clears it with one item not answered 是
    with pytest.raises(RequirementError) as refused:
        engine.fire(issue_id, "clear", actor=OFFICE, comment="同意销号",
                    checklist={**FIVE_NEVER, "problem_solved": answer},
                    evidence=[evidence_file])
    # Then the refusal names the item and the allowed answers, and nothing changed
    text = str(refused.value)
    assert "item 'problem_solved' (问题没有解决决不放过)" in text
    assert "是" in text and "public_satisfied" not in text
    after = queries.get_issue(engine.db, issue_id)
    assert (after.state, after.version, after.head_hash) == (
        before.state, before.version, before.head_hash)


def test_a_clearance_with_every_item_yes_records_answers_and_notes(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue at acceptance
    issue_id = at_acceptance(engine, evidence_file)
    # When it is cleared with every item 是 and a note
    fire_valid(engine, issue_id, "clear", evidence_file)
    # Then the history keeps each answer with its note
    clear = queries.history(engine.db, issue_id)[-1]
    assert clear.payload["checklist"]["problem_solved"] == {"answer": "是", "note": "已解决"}
    assert set(clear.payload["checklist"]) == set(FIVE_NEVER)
    assert verify(engine).ok


def test_a_history_stored_with_checklist_notes_only_keeps_verifying(
        engine: Engine, evidence_file: Path) -> None:
    # Given an issue whose clearance was stored the earlier way: each item a bare note
    issue_id = at_acceptance(engine, evidence_file)
    row = queries.get_issue(engine.db, issue_id)
    earlier = {key: note.partition(":")[2] for key, note in FIVE_NEVER.items()}
    with engine.transaction() as tx:
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                  now=engine.clock.now(), due=Due(None, False, None, False),
                  event=EventDraft(OFFICE.name, OFFICE.role, "clear", row.state, "cleared",
                                   "同意销号", {"checklist": earlier}))
    # When the history is verified
    report = verify(engine, issue_id)
    # Then it is intact, and the stored notes are as they were written
    assert report.ok, report.problem
    assert queries.history(engine.db, issue_id)[-1].payload["checklist"] == earlier
