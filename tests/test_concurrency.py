"""Two writers on one issue: exactly one wins, the other gets ConflictError; nothing is
half-written. Real threads, real connections, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from tests.support import UNIT, fire_valid, new_issue
from workflow import service
from workflow.engine import Engine
from workflow.errors import ConflictError, IllegalTriggerError
from workflow.history import verify


def race(count: int, action: Callable[[], object]) -> list[object]:
    """Run ``action`` in ``count`` threads released at the same moment; collect outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome: object = action()
        except Exception as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_concurrent_fires_at_the_same_version_one_succeeds_one_conflicts(
        engine: Engine, evidence_file: Path) -> None:
    # Given two users who both loaded the issue at version 2 (in progress)
    issue_id = new_issue(engine)
    fire_valid(engine, issue_id, "start", evidence_file)
    seen = service.get_issue(engine.db, issue_id).version
    # When both apply for acceptance at the same moment
    outcomes = race(2, lambda: engine.fire(issue_id, "apply_acceptance", actor=UNIT,
                                           comment="完成", evidence=[evidence_file],
                                           expected_version=seen))
    # Then exactly one succeeds and the other is told of the conflict
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert (len(successes), len(conflicts)) == (1, 1), outcomes
    issue = service.get_issue(engine.db, issue_id)
    assert (issue.state, issue.version) == ("acceptance", seen + 1)
    assert [e.trigger for e in service.history(engine.db, issue_id)].count("apply_acceptance") \
        == 1
    assert verify(engine.db).ok


def test_many_concurrent_fires_without_a_version_apply_once(engine: Engine) -> None:
    issue_id = new_issue(engine)
    outcomes = race(8, lambda: engine.fire(issue_id, "start", actor=UNIT))
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, ConflictError | IllegalTriggerError)]
    assert (len(successes), len(refused)) == (1, 7), outcomes
    assert service.get_issue(engine.db, issue_id).version == 2
    assert verify(engine.db).ok


def test_writers_on_different_issues_all_succeed(engine: Engine) -> None:
    ids = [new_issue(engine, number=str(n)) for n in range(6)]
    pending = list(ids)
    lock = threading.Lock()

    def start_next() -> object:
        with lock:
            issue_id = pending.pop()
        return engine.fire(issue_id, "start", actor=UNIT)

    outcomes = race(6, start_next)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert {service.get_issue(engine.db, i).state for i in ids} == {"in_progress"}
