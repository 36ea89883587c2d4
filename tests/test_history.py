"""The tamper-evident history: append-only at the database, and `verify` finds the first
altered or missing event. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from tests.support import fire_valid, new_issue, tamper
from workflow.issues.engine import Engine
from workflow.issues.verification import verify


@pytest.fixture
def three_issues(engine: Engine, evidence_file: Path) -> list[int]:
    ids = [new_issue(engine, number=str(n)) for n in (1, 2, 3)]
    for issue_id in ids:
        for trigger in ("start", "apply_acceptance", "clear"):
            fire_valid(engine, issue_id, trigger, evidence_file)
    return ids


def test_untouched_history_verifies(engine: Engine, three_issues: list[int]) -> None:
    report = verify(engine)
    assert report.ok and (report.issues, report.events) == (3, 12)


def test_history_rows_cannot_be_updated_or_deleted(engine: Engine,
                                                   three_issues: list[int]) -> None:
    for statement in ("UPDATE issue_events SET comment = 'x'", "DELETE FROM issue_events"):
        with pytest.raises(DatabaseError, match="append-only"), \
                engine.db.transaction() as conn:
            conn.exec_driver_sql(statement)
    assert verify(engine).ok


def test_a_hand_edited_comment_is_detected(engine: Engine, three_issues: list[int]) -> None:
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET comment = '同意销号（改）' "
                          "WHERE issue_id = :i AND seq = 4"), {"i": three_issues[1]})
    report = verify(engine)
    assert not report.ok
    assert str(report.problem) == (f"issue {three_issues[1]} event #4: altered: its content "
                                   "no longer matches its hash")


def test_a_hand_edited_actor_with_recomputed_later_links_is_still_detected(
        engine: Engine, three_issues: list[int]) -> None:
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET actor = '别人' WHERE issue_id = :i AND seq = 2"),
                     {"i": three_issues[0]})
    assert str(verify(engine).problem).startswith(f"issue {three_issues[0]} event #2: altered")


def test_a_deleted_middle_event_is_reported_missing(engine: Engine,
                                                    three_issues: list[int]) -> None:
    with tamper(engine.db) as conn:
        conn.execute(text("DELETE FROM issue_events WHERE issue_id = :i AND seq = 3"),
                     {"i": three_issues[2]})
    assert str(verify(engine).problem) == (f"issue {three_issues[2]} event #3: missing: the "
                                              "history jumps from #2 to #4")


def test_a_deleted_last_event_is_reported_missing(engine: Engine,
                                                  three_issues: list[int]) -> None:
    with tamper(engine.db) as conn:
        conn.execute(text("DELETE FROM issue_events WHERE issue_id = :i AND seq = 4"),
                     {"i": three_issues[0]})
    assert str(verify(engine).problem) == (f"issue {three_issues[0]} event #4: missing: the "
                                              "issue is at version 4 but its history ends at #3")


def test_a_hand_edited_issue_state_is_detected(engine: Engine, three_issues: list[int]) -> None:
    with engine.db.transaction() as conn:
        conn.execute(text("UPDATE issues SET state = 'follow_up' WHERE id = :i"),
                     {"i": three_issues[0]})
    assert "the issue row says state = 'follow_up' but its history says 'cleared'" in str(
        verify(engine).problem)


def test_verify_one_issue(engine: Engine, three_issues: list[int]) -> None:
    with tamper(engine.db) as conn:
        conn.execute(text("UPDATE issue_events SET comment = 'x' WHERE issue_id = :i"),
                     {"i": three_issues[0]})
    assert verify(engine, three_issues[1]).ok
    assert not verify(engine, three_issues[0]).ok
