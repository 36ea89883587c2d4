"""The tamper-evident history: append-only at the database, and `verify` finds the first
altered or missing event. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.support import TEST_KEYS, fire_valid, new_issue, tamper
from workflow.issues.engine import Engine
from workflow.issues.history import event_hash, hash_stored, payload_json
from workflow.issues.verification import verify


@pytest.fixture
def three_issues(engine: Engine, evidence_file: Path) -> list[int]:
    """Three issues, each created, started, applied for acceptance and cleared (4 events)."""
    ids = [new_issue(engine, number=str(n)) for n in (1, 2, 3)]
    for issue_id in ids:
        for trigger in ("start", "apply_acceptance", "clear"):
            fire_valid(engine, issue_id, trigger, evidence_file)
    return ids


def test_an_untouched_history_verifies_every_issue_and_event(
        engine: Engine, three_issues: list[int]) -> None:
    # Given three cleared issues whose history nobody touched
    # When the history is verified
    report = verify(engine)
    # Then it is intact, and every issue and every event was checked
    assert report.ok and (report.issues, report.events) == (3, 12)


@pytest.mark.parametrize("statement", ["UPDATE issue_events SET comment = 'x'",
                                       "DELETE FROM issue_events"], ids=["update", "delete"])
def test_the_database_refuses_to_update_or_delete_history_rows(
        engine: Engine, three_issues: list[int], statement: str) -> None:
    # Given three cleared issues, with the append-only guard in place
    # When someone updates or deletes history rows with plain SQL
    # Then the database refuses the statement as append-only
    with pytest.raises(DatabaseError, match="append-only"), engine.db.transaction() as conn:
        conn.exec_driver_sql(statement)
    # And the history still verifies
    assert verify(engine).ok


def test_a_hand_edited_comment_is_detected(engine: Engine, three_issues: list[int]) -> None:
    # Given the clearance comment of the second issue edited by hand, guard switched off
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET comment = '同意销号（改）' "
                          "WHERE issue_id = :i AND seq = 4"), {"i": three_issues[1]})
    # When the history is verified
    report = verify(engine)
    # Then it fails on that event, which no longer matches its hash
    assert not report.ok
    assert str(report.problem) == (f"issue {three_issues[1]} event #4: altered: its content "
                                   "no longer matches its hash")


def test_a_hand_edited_actor_with_recomputed_later_links_is_still_detected(
        engine: Engine, three_issues: list[int]) -> None:
    # Given the actor of the first issue's second event edited by hand
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET actor = '别人' WHERE issue_id = :i AND seq = 2"),
                     {"i": three_issues[0]})
    # When the history is verified
    problem = str(verify(engine).problem)
    # Then the edited event is reported altered
    assert problem.startswith(f"issue {three_issues[0]} event #2: altered")


def test_a_deleted_middle_event_is_reported_missing(engine: Engine,
                                                    three_issues: list[int]) -> None:
    # Given the third event of the third issue deleted by hand
    with tamper(engine.db) as conn:
        conn.execute(text("DELETE FROM issue_events WHERE issue_id = :i AND seq = 3"),
                     {"i": three_issues[2]})
    # When the history is verified
    problem = str(verify(engine).problem)
    # Then the gap in the sequence is reported
    assert problem == (f"issue {three_issues[2]} event #3: missing: the history jumps from #2 "
                       "to #4")


def test_a_deleted_last_event_is_reported_missing(engine: Engine,
                                                  three_issues: list[int]) -> None:
    # Given the last event of the first issue deleted by hand
    with tamper(engine.db) as conn:
        conn.execute(text("DELETE FROM issue_events WHERE issue_id = :i AND seq = 4"),
                     {"i": three_issues[0]})
    # When the history is verified
    problem = str(verify(engine).problem)
    # Then the history is reported to end before the issue's version
    assert problem == (f"issue {three_issues[0]} event #4: missing: the issue is at version 4 "
                       "but its history ends at #3")


def test_a_hand_edited_issue_state_is_detected(engine: Engine, three_issues: list[int]) -> None:
    # Given the first issue's state changed by hand, its history left alone
    with engine.db.transaction() as conn:
        conn.execute(text("UPDATE issues SET state = 'follow_up' WHERE id = :i"),
                     {"i": three_issues[0]})
    # When the history is verified
    problem = str(verify(engine).problem)
    # Then the state is reported not to be where the history ends
    assert "the issue row says state = 'follow_up' but its history says 'cleared'" in problem


def test_verifying_one_issue_checks_that_issue_only(engine: Engine,
                                                    three_issues: list[int]) -> None:
    # Given the comments of the first issue's events edited by hand
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET comment = 'x' WHERE issue_id = :i"),
                     {"i": three_issues[0]})
    # When each of the first two issues is verified on its own
    # Then the untouched second issue verifies and the edited first one does not
    assert verify(engine, three_issues[1]).ok
    assert not verify(engine, three_issues[0]).ok


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)


@given(payload=st.dictionaries(st.text(), _json_values, max_size=4),
       comment=st.none() | st.text(), actor=st.text(min_size=1))
def test_the_write_path_hashes_exactly_what_verify_recomputes(
        payload: dict, comment: str | None, actor: str) -> None:
    # Given any payload, comment and actor (Chinese, quotes, nesting, unicode)
    key = TEST_KEYS.current
    fields = dict(issue_id=7, seq=3, at=datetime(2026, 12, 1, 8, 0, 1, 5, tzinfo=UTC),
                  actor=actor, role="unit", trigger="start", from_state="assigned",
                  to_state="in_progress", comment=comment, prev_hash="a" * 64, key=key)
    # When the write path hashes the payload it stores, and verify hashes the parsed one
    stored = payload_json(payload)
    # Then both give the same hash, and the stored text parses back to the payload
    assert hash_stored(payload_text=stored, **fields) == event_hash(
        payload=json.loads(stored), **fields)
    assert json.loads(stored) == payload
