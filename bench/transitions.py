"""Transition throughput of the engine against the raw-SQLite floor, measured in one run.

Engine: N issues are created on a fresh SQLite file (migrated, definitions loaded; creation is
not timed), then each is fired through the whole lifecycle of rectification@1 (the lifecycle
without acceptance steps, so the figure stays comparable across releases; a step of @2 is one
more transition of the same kind) with ``Engine.fire``: start → apply_acceptance (comment and
one evidence file) → clear (comment and all five 五个决不放过 checklist items with notes) →
start_follow_up → consolidate (comment).
Only the fires are timed: 5N transitions.

Floor: a second fresh file, migrated the same way and holding the same N issues, their
creation events and the timers their creation scheduled, receives the SQL the engine must
issue per transition, through plain ``sqlite3`` with the engine's PRAGMAs (WAL,
``synchronous=NORMAL``, busy timeout, foreign keys): ``BEGIN IMMEDIATE``, the ``UPDATE``
cancelling the timers of the state left (when it had any), the ``INSERT`` of the timers of
the state entered (when it has a deadline), the version-checked ``UPDATE`` of the issue, the
``INSERT`` of its history event, ``COMMIT``. Hashes, payloads and times are precomputed
constants, so the floor is the cost of the SQL alone; everything else the engine does
(reading the issue, guards, hashing, planning timers, the connection pool) counts against
it. The engine and the floor take turns
on blocks of 500 issues, so a machine whose speed drifts during the run slows both alike.

Result: transitions per second of both, and engine/floor. Target: engine ≥ 40 % of the floor.
The run fails (exit 1) unless the engine's history verifies and every issue ends 'cleared'.

Usage: python bench/transitions.py [--issues 20000] [--dir DIR] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `transitions` library the engine imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import hashlib
import json
import platform
import secrets
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from workflow.clock import SystemClock
from workflow.config import PROJECT_ROOT
from workflow.db import SQLITE_BUSY_TIMEOUT_MS, Database
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.evidence import EvidenceRef, EvidenceStore
from workflow.issues.keys import HistoryKeys
from workflow.issues.verification import verify
from workflow.migrate import upgrade
from workflow.org.actors import Actor
from workflow.spec.definitions import FROM_ISSUE, load_file
from workflow.spec.registry import load_definitions

TARGET = 0.40
# Events are HMAC-SHA256 under a history key, as in production; a fresh one for each run.
KEYS = HistoryKeys.of(secrets.token_hex(32))
BLOCK = 500  # issues per turn of the engine and the floor
DEFAULT_DEFINITION = PROJECT_ROOT / "definitions" / "rectification-v1.yaml"
UNIT = Actor("相山区人民政府", "unit")
OFFICE = Actor("市整改办", "office")
FIVE_NEVER_KEYS = ("problem_investigated", "problem_solved", "violations_punished",
                   "accountability_done", "public_satisfied")
FIVE_NEVER = {key: "是:已落实，见核查报告" for key in FIVE_NEVER_KEYS}
# What the engine stores in the clear event for those answers; the floor writes the same.
FIVE_NEVER_STORED = {key: {"answer": "是", "note": "已落实，见核查报告"} for key in FIVE_NEVER_KEYS}
EVIDENCE_TEXT = "现场核查：整改措施已落实，群众反映问题已解决。\n"
# SQLAlchemy's text format for a DateTime on SQLite (naive UTC, microseconds).
FLOOR_TIME = "2026-11-28 08:00:00.000000"
FLOOR_DUE = "2026-12-28T16:00:00.000000+08:00"


@dataclass(frozen=True)
class Step:
    """One transition of the lifecycle: who fires it, with what, and what it writes."""

    trigger: str
    source: str
    dest: str
    actor: Actor
    comment: str | None = None
    evidence: bool = False
    checklist: bool = False
    payload: dict[str, Any] = field(default_factory=dict)  # what the floor stores


LIFECYCLE = [
    Step("start", "assigned", "in_progress", UNIT),
    Step("apply_acceptance", "in_progress", "acceptance", UNIT, "整改完成，申请验收", evidence=True,
         payload={"evidence": [{"sha256": "e" * 64, "name": "现场核查.txt",
                                "size": len(EVIDENCE_TEXT.encode())}],
                  "due": FLOOR_DUE}),
    Step("clear", "acceptance", "cleared", OFFICE, "验收合格，同意销号", checklist=True,
         payload={"checklist": FIVE_NEVER_STORED}),
    Step("start_follow_up", "cleared", "follow_up", OFFICE),
    Step("consolidate", "follow_up", "cleared", OFFICE, "回头看未发现反弹，巩固"),
]
FINAL_STATE = "cleared"
# Settings the floor must share with the engine's connections (see workflow/db.py).
COMPARED_PRAGMAS = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys", "cache_size",
                    "mmap_size", "temp_store", "wal_autocheckpoint", "locking_mode")


def open_database(path: Path) -> Database:
    """A fresh database file, migrated, with the default definition loaded."""
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    load_definitions(db, [load_file(DEFAULT_DEFINITION)], now=SystemClock().now(), by=None)
    return db


def prepare_engine(path: Path, issues: int) -> tuple[Engine, list[int]]:
    """The engine on a fresh file with ``issues`` issues created (not timed)."""
    db = open_database(path)
    engine = Engine(db, EvidenceStore(path.parent / "engine-evidence"), keys=KEYS)
    ids = [engine.create_issue(NewIssue(title=f"问题 {n}", unit=UNIT.name), actor=OFFICE)
           for n in range(1, issues + 1)]
    return engine, ids


def prepare_floor(path: Path, source: Path) -> None:
    """A fresh file migrated like the engine's, holding copies of its issues, their creation
    events and the timers their creation scheduled (taken before any transition is fired)."""
    open_database(path).dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS source", (str(source),))
        conn.execute("BEGIN IMMEDIATE")
        for table in ("issues", "issue_events", "timers"):
            columns = ", ".join(f'"{row[1]}"' for row in conn.execute(
                f"PRAGMA main.table_info({table})"))
            conn.execute(f"INSERT INTO main.{table} ({columns}) "
                         f"SELECT {columns} FROM source.{table}")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE source")
    finally:
        conn.close()


def run_engine(engine: Engine, ids: list[int], evidence: EvidenceRef) -> float:
    """Fire every issue through the lifecycle; returns the seconds the fires took."""
    calls = [(step.trigger, {"actor": step.actor, "comment": step.comment,
                             "evidence": [evidence] if step.evidence else (),
                             "checklist": FIVE_NEVER if step.checklist else None})
             for step in LIFECYCLE]
    fire = engine.fire
    started = time.perf_counter()
    for issue_id in ids:
        for trigger, kwargs in calls:
            fire(issue_id, trigger, **kwargs)
    return time.perf_counter() - started


def timer_sql(engine: Engine, step: Step) -> tuple[bool, int]:
    """Whether the step cancels the timers of the state it leaves, and how many timers it
    schedules for the state it enters, by the rules the engine applies (issues without a
    整改时限, so only states with a duration deadline schedule)."""
    compiled = engine.registry.get("rectification", 1)

    def scheduled(key: str) -> int:
        state = compiled.states[key]
        if state.deadline in (None, FROM_ISSUE) or state.completed or state.terminal:
            return 0
        return len(compiled.timelines[state.escalate])

    return scheduled(step.source) > 0, scheduled(step.dest)


class Floor:
    """The SQL of the same transitions through plain sqlite3, one transaction each: the
    version-checked update, the event, and the timer rows the transition cancels and writes."""

    UPDATE = ("UPDATE issues SET state=?, version=?, head_hash=?, updated_at=?, due_at=?, "
              "due_provisional=0, escalation_level=NULL, key_supervision=0 "
              "WHERE id=? AND version=?")
    INSERT = ("INSERT INTO issue_events (issue_id, seq, at, actor, role, trigger, from_state, "
              "to_state, comment, payload, prev_hash, hash, key_id) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    CANCEL = ("UPDATE timers SET status='cancelled', finished_at=?, lease_owner=NULL, "
              "lease_until=NULL WHERE issue_id=? AND status IN ('pending', 'leased')")
    SCHEDULE = ("INSERT INTO timers (issue_id, state, kind, level, rank, deadline_at, due_at, "
                "status, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)")

    PRAGMAS = (f"busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}", "journal_mode = WAL",
               "synchronous = NORMAL", "foreign_keys = ON")

    def __init__(self, path: Path, engine: Engine):
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in self.PRAGMAS:
            self.conn.execute(f"PRAGMA {pragma}")
        self.steps = []
        prev_hash = hashlib.sha256(b"create").hexdigest()
        for seq, step in enumerate(LIFECYCLE, start=2):
            new_hash = hashlib.sha256(step.trigger.encode()).hexdigest()
            cancels, schedules = timer_sql(engine, step)
            self.steps.append((seq, step.dest, new_hash, cancels, schedules, (
                seq, FLOOR_TIME, step.actor.name, step.actor.role, step.trigger, step.source,
                step.dest, step.comment, json.dumps(step.payload, ensure_ascii=False),
                prev_hash, new_hash, KEYS.current.id)))
            prev_hash = new_hash

    def run(self, ids: list[int]) -> float:
        """Move every issue through the lifecycle; returns the seconds it took."""
        execute, update, insert, steps = self.conn.execute, self.UPDATE, self.INSERT, self.steps
        executemany = self.conn.executemany
        started = time.perf_counter()
        for issue_id in ids:
            for seq, dest, new_hash, cancels, schedules, event in steps:
                execute("BEGIN IMMEDIATE")
                if cancels:
                    execute(self.CANCEL, (FLOOR_TIME, issue_id))
                if schedules:
                    executemany(self.SCHEDULE, [
                        (issue_id, dest, "reminder", f"reminder:{rank}", rank, FLOOR_TIME,
                         FLOOR_TIME, FLOOR_TIME) for rank in range(schedules)])
                moved = execute(update, (dest, seq, new_hash, FLOOR_TIME,
                                         FLOOR_TIME if schedules else None, issue_id, seq - 1))
                if moved.rowcount != 1:
                    raise RuntimeError(f"floor: issue {issue_id} is not at version {seq - 1}")
                execute(insert, (issue_id, *event))
                execute("COMMIT")
        return time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


def pragma_differences(engine: Engine, floor: Floor) -> list[str]:
    """Connection settings in which the floor differs from the engine's connections."""
    raw = engine.db.engine.raw_connection()
    try:
        ours = {name: raw.dbapi_connection.execute(f"PRAGMA {name}").fetchone()[0]
                for name in COMPARED_PRAGMAS}
    finally:
        raw.close()
    theirs = {name: floor.conn.execute(f"PRAGMA {name}").fetchone()[0]
              for name in COMPARED_PRAGMAS}
    return [f"PRAGMA {name}: engine {ours[name]!r}, floor {theirs[name]!r}"
            for name in COMPARED_PRAGMAS if ours[name] != theirs[name]]


def check(path: Path, issues: int, *, label: str) -> list[str]:
    """Problems with the end state of a run: every issue at the final state and version."""
    conn = sqlite3.connect(path)
    try:
        states = dict(conn.execute("SELECT state, count(*) FROM issues GROUP BY state"))
        events = conn.execute("SELECT count(*) FROM issue_events").fetchone()[0]
        versions = dict(conn.execute("SELECT version, count(*) FROM issues GROUP BY version"))
    finally:
        conn.close()
    expected = len(LIFECYCLE) + 1
    problems = []
    if states != {FINAL_STATE: issues}:
        problems.append(f"{label}: issues by state {states}, expected {{'{FINAL_STATE}': "
                        f"{issues}}}")
    if versions != {expected: issues} or events != expected * issues:
        problems.append(f"{label}: issues by version {versions} and {events} events, expected "
                        f"version {expected} and {expected * issues} events")
    return problems


def measure(workdir: Path, issues: int) -> dict[str, Any]:
    """Prepare both files in ``workdir``, time both runs, check them; returns the figures."""
    for name in ("engine.db", "floor.db"):
        for old in workdir.glob(f"{name}*"):
            old.unlink()
    engine_path, floor_path = workdir / "engine.db", workdir / "floor.db"
    print(f"creating {issues} issues …", file=sys.stderr)
    engine, ids = prepare_engine(engine_path, issues)
    prepare_floor(floor_path, engine_path)
    evidence_file = workdir / "现场核查.txt"
    evidence_file.write_text(EVIDENCE_TEXT, encoding="utf-8")
    evidence = engine.evidence.put(evidence_file)

    floor = Floor(floor_path, engine)
    differences = pragma_differences(engine, floor)
    if differences:
        raise SystemExit("bench/transitions.py: the floor's connection differs from the "
                         "engine's; update Floor.PRAGMAS:\n  " + "\n  ".join(differences))
    print(f"firing {len(LIFECYCLE) * issues} transitions through the engine and the floor …",
          file=sys.stderr)
    engine_seconds = floor_seconds = 0.0
    # Engine and floor take turns on blocks of issues, so both see the same machine.
    for first in range(0, issues, BLOCK):
        block = ids[first:first + BLOCK]
        engine_seconds += run_engine(engine, block, evidence)
        floor_seconds += floor.run(block)
    floor.close()

    report = verify(engine)
    engine.db.dispose()
    problems = [] if report.ok and report.issues == issues else [
        f"engine: history does not verify: {report.problem or report}"]
    problems += check(engine_path, issues, label="engine")
    problems += check(floor_path, issues, label="floor")
    if problems:
        raise SystemExit("bench/transitions.py: the run is wrong:\n  " + "\n  ".join(problems))

    transitions = len(LIFECYCLE) * issues
    return {
        "issues": issues, "transitions": transitions,
        "engine_per_s": round(transitions / engine_seconds),
        "floor_per_s": round(transitions / floor_seconds),
        "engine_us": round(engine_seconds / transitions * 1e6, 1),
        "floor_us": round(floor_seconds / transitions * 1e6, 1),
        "ratio": round(floor_seconds / engine_seconds, 4), "target": TARGET,
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=20_000,
                        help="issues to fire through the lifecycle (default 20000)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="directory for the database files (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.issues < 1:
        parser.error("--issues must be at least 1")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        figures = measure(args.dir, args.issues)
    else:
        with tempfile.TemporaryDirectory(prefix="rectify-bench-") as scratch:
            figures = measure(Path(scratch), args.issues)

    if args.json:
        print(json.dumps(figures))
        return 0
    verdict = "meets" if figures["ratio"] >= TARGET else "MISSES"
    rows = [
        ("engine", f"{figures['engine_per_s']:,} transitions/s",
         f"{figures['engine_us']} µs each"),
        ("floor", f"{figures['floor_per_s']:,} transitions/s",
         f"{figures['floor_us']} µs each (plain sqlite3, the same SQL per transaction)"),
        ("engine/floor", f"{figures['ratio']:.1%}", f"{verdict} the target ≥ {TARGET:.0%}"),
    ]
    print(f"{figures['issues']:,} issues, {figures['transitions']:,} transitions; "
          f"Python {figures['python']}, SQLite {figures['sqlite']}")
    for name, value, note in rows:
        print(f"  {name:<13} {value:>22}   {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
