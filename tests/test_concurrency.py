"""Two writers on one issue: exactly one wins, the other gets ConflictError; nothing is
half-written. Real threads, real connections, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import TEST_KEYS, UNIT, fire_valid, new_issue
from workflow.db import Database
from workflow.errors import ConflictError, IllegalTriggerError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.issues.verification import verify


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
    seen = queries.get_issue(engine.db, issue_id).version
    # When both apply for acceptance at the same moment
    outcomes = race(2, lambda: engine.fire(issue_id, "apply_acceptance", actor=UNIT,
                                           comment="完成", evidence=[evidence_file],
                                           expected_version=seen))
    # Then exactly one succeeds and the other is told of the conflict
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert (len(successes), len(conflicts)) == (1, 1), outcomes
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.state, issue.version) == ("acceptance", seen + 1)
    assert [e.trigger for e in queries.history(engine.db, issue_id)].count("apply_acceptance") \
        == 1
    assert verify(engine).ok


def test_many_concurrent_fires_without_a_version_apply_once(engine: Engine) -> None:
    issue_id = new_issue(engine)
    outcomes = race(8, lambda: engine.fire(issue_id, "start", actor=UNIT))
    successes = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, ConflictError | IllegalTriggerError)]
    assert (len(successes), len(refused)) == (1, 7), outcomes
    assert queries.get_issue(engine.db, issue_id).version == 2
    assert verify(engine).ok


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
    assert {queries.get_issue(engine.db, i).state for i in ids} == {"in_progress"}


def _fire_in_process(url: str, evidence_dir: str, issue_id: int, version: int,
                     barrier: Any, results: Any) -> None:
    engine = Engine(Database(url), EvidenceStore(Path(evidence_dir)), keys=TEST_KEYS)
    barrier.wait()
    try:
        engine.fire(issue_id, "start", actor=UNIT, expected_version=version)
        results.put("ok")
    except ConflictError:
        results.put("conflict")
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))


def test_two_processes_firing_at_once_one_succeeds_one_conflicts(engine: Engine,
                                                                 tmp_path: Path) -> None:
    # Given an issue at version 1 and two separate processes that both saw version 1
    issue_id = new_issue(engine)
    url = engine.db.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_fire_in_process,
                               args=(url, str(tmp_path / "evidence"), issue_id, 1, barrier,
                                     results)) for _ in range(2)]
    # When both fire at the same moment
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    # Then exactly one wins and the other gets ConflictError
    assert sorted(results.get(timeout=10) for _ in workers) == ["conflict", "ok"]
    assert queries.get_issue(engine.db, issue_id).version == 2
    assert verify(engine).ok
