"""Transition throughput of the engine against the raw-SQLite floor, measured in one run.

N issues are each fired through the full default lifecycle (start → apply_acceptance →
clear → start_follow_up → consolidate: 5 transitions, with the comment, evidence and
五个决不放过 checklist the definition requires) on a SQLite file. In the same run, the floor
issues the same SQL with plain ``sqlite3`` on a second file with the same schema: per
transition, ``BEGIN IMMEDIATE``, the version-checked ``UPDATE``, the event ``INSERT`` and
``COMMIT``, with the engine's PRAGMAs. The figure is the ratio engine/floor; the target is
at least 25 %.

Usage: python bench/transitions.py [--issues 20000] [--dir DIR] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# `transitions` library the engine imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
import platform
import sqlite3
import tempfile
import time

from workflow.clock import SystemClock
from workflow.config import PROJECT_ROOT
from workflow.db import SQLITE_BUSY_TIMEOUT_MS, Database
from workflow.definitions import load_all
from workflow.engine import Actor, Engine, NewIssue
from workflow.evidence import EvidenceStore
from workflow.history import verify
from workflow.migrate import upgrade
from workflow.registry import load_definitions
from workflow.service import IssueFilter, list_issues

UNIT = Actor("相山区人民政府", "unit")
OFFICE = Actor("市整改办", "office")
FIVE_NEVER = {key: "已落实" for key in ("problem_investigated", "problem_solved",
                                      "violations_punished", "accountability_done",
                                      "public_satisfied")}
LIFECYCLE = [("start", "assigned", "in_progress"),
             ("apply_acceptance", "in_progress", "acceptance"),
             ("clear", "acceptance", "cleared"),
             ("start_follow_up", "cleared", "follow_up"),
             ("consolidate", "follow_up", "cleared")]


def prepare(path: Path, issues: int) -> tuple[Engine, list[int]]:
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    load_definitions(db, load_all(PROJECT_ROOT / "definitions"), now=SystemClock().now())
    engine = Engine(db, EvidenceStore(path.parent / f"{path.stem}-evidence"))
    ids = [engine.create_issue(NewIssue(title=f"问题 {n}", unit=UNIT.name), actor=OFFICE)
           for n in range(issues)]
    return engine, ids


def run_engine(engine: Engine, ids: list[int], evidence_file: Path) -> float:
    evidence = [engine.evidence.put(evidence_file)]
    started = time.perf_counter()
    for issue_id in ids:
        engine.fire(issue_id, "start", actor=UNIT)
        engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="整改完成",
                    evidence=evidence)
        engine.fire(issue_id, "clear", actor=OFFICE, comment="同意销号", checklist=FIVE_NEVER)
        engine.fire(issue_id, "start_follow_up", actor=OFFICE)
        engine.fire(issue_id, "consolidate", actor=OFFICE, comment="巩固")
    return time.perf_counter() - started


def run_floor(path: Path, ids: list[int]) -> float:
    """The SQL the engine must issue, through plain sqlite3, one transaction per transition."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (f"busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}", "journal_mode = WAL",
                   "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    at = "2026-11-28 08:00:00.000000"
    digest = "f" * 64
    payload = json.dumps({"evidence": [{"sha256": digest, "name": "现场核查.txt", "size": 42}]})
    started = time.perf_counter()
    for issue_id in ids:
        for seq, (trigger, source, dest) in enumerate(LIFECYCLE, start=2):
            conn.execute("BEGIN IMMEDIATE")
            moved = conn.execute(
                "UPDATE issues SET state=?, version=?, head_hash=?, updated_at=? "
                "WHERE id=? AND version=?", (dest, seq, digest, at, issue_id, seq - 1))
            if moved.rowcount != 1:
                raise RuntimeError(f"floor: issue {issue_id} not at version {seq - 1}")
            conn.execute(
                "INSERT INTO issue_events (issue_id, seq, at, actor, role, trigger, from_state, "
                "to_state, comment, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (issue_id, seq, at, UNIT.name, UNIT.role, trigger, source, dest, "整改完成",
                 payload, digest, digest))
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issues", type=int, default=20_000)
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: temp)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rectify-bench-") as scratch:
        workdir = args.dir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for old in workdir.glob("*.db*"):
            old.unlink()
        evidence_file = workdir / "现场核查.txt"
        evidence_file.write_text("现场核查：整改到位。", encoding="utf-8")
        print(f"preparing {args.issues} issues twice …", file=sys.stderr)
        engine, ids = prepare(workdir / "engine.db", args.issues)
        floor_engine, floor_ids = prepare(workdir / "floor.db", args.issues)
        floor_engine.db.dispose()
        transitions = len(LIFECYCLE) * args.issues
        print("firing through the engine …", file=sys.stderr)
        engine_seconds = run_engine(engine, ids, evidence_file)
        print("issuing the floor SQL with sqlite3 …", file=sys.stderr)
        floor_seconds = run_floor(workdir / "floor.db", floor_ids)

        report = verify(engine.db)
        states = {i.state for i in list_issues(engine.db, engine.registry, IssueFilter(),
                                               now=engine.clock.now())}
        if not report.ok or states != {"cleared"} or report.events != 6 * args.issues:
            print(f"engine run is wrong: {report}, states {states}", file=sys.stderr)
            return 1
        engine.db.dispose()

    figures = {
        "issues": args.issues, "transitions": transitions,
        "engine_per_s": round(transitions / engine_seconds),
        "floor_per_s": round(transitions / floor_seconds),
        "ratio": round(floor_seconds / engine_seconds, 3),
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"issues {figures['issues']}, transitions {transitions} "
              f"(Python {figures['python']}, SQLite {figures['sqlite']})")
        print(f"engine  {figures['engine_per_s']:>8} transitions/s")
        print(f"floor   {figures['floor_per_s']:>8} transitions/s  (raw sqlite3, same SQL)")
        print(f"ratio   {figures['ratio']:>8.1%}  engine/floor (target ≥ 25%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
