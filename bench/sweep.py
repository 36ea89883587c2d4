"""Sweep cost against the number of pending timers: it must grow with the DUE rows only.

For each size (10k, 100k, 1M pending timers on PostgreSQL; 10k and 100k on SQLite), a fresh
database gets 1,000 issues in progress due on one day, plus filler issues whose timers fall
due ten years later, up to the size. At the 7-, 3- and 1-day reminders exactly the 1,000
issues' next reminder is due; each time one ``sweep`` claims and settles them (lease, history
event, notification row each). The time per size is the median of the three sweeps; the
figure is the ratio of the largest size's time to the smallest's, per database; the target
is ≤ 1.5.

Usage: python bench/sweep.py [--postgres URL] [--sizes 10000,100000,1000000] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/transitions.py would
# shadow the `transitions` library the engine imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.scratch

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from datetime import date, timedelta

from sqlalchemy import text

from bench.scratch import postgres_database
from workflow.clock import FrozenClock
from workflow.config import PROJECT_ROOT
from workflow.db import Database
from workflow.issues.engine import Engine, NewIssue, deadline_instant
from workflow.issues.evidence import EvidenceStore
from workflow.issues.keys import HistoryKeys
from workflow.issues.sweep import sweep
from workflow.migrate import upgrade
from workflow.org.actors import Actor
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions
from workflow.startup import mark_database

DUE = 1000
DEADLINE = date(2026, 12, 1)
OFFICE, UNIT = Actor("整改办", "office"), Actor("相山区人民政府", "unit")
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


TIMERS_PER_ISSUE = 6  # an issue in progress holds 3 reminders and 3 escalation levels
REMINDERS = (timedelta(days=7), timedelta(days=3), timedelta(days=1))


def prepare(db: Database, workdir: Path, size: int) -> Engine:
    """1,000 issues in progress due on DEADLINE, and filler issues whose timers are due ten
    years later, up to ``size`` pending timers in all."""
    upgrade(db)
    clock = FrozenClock(deadline_instant(DEADLINE) - timedelta(days=30))
    load_definitions(db, load_all(PROJECT_ROOT / "definitions"), now=clock.now(), by=None)
    mark_database(db, training=True)  # its clock is set to the deadline's reminders
    engine = Engine(db, EvidenceStore(workdir / "evidence"), clock=clock,
                    keys=HistoryKeys.of(secrets.token_hex(32)))
    for n in range(DUE):
        issue_id = engine.create_issue(NewIssue(title=f"问题 {n}", unit=UNIT.name,
                                                leader="王副市长", deadline=DEADLINE),
                                       actor=OFFICE)
        engine.fire(issue_id, "start", actor=UNIT)
    filler = size - DUE * TIMERS_PER_ISSUE
    issues = max(1, filler // TIMERS_PER_ISSUE)
    far = (deadline_instant(DEADLINE) + timedelta(days=3650)).replace(tzinfo=None).isoformat(" ")
    created = clock.now().replace(tzinfo=None).isoformat(" ")
    # Plain SQL, to load up to a million rows in seconds; the columns are those of
    # workflow/models.py, the timers like the ones the engine writes for a state's deadline.
    series = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
              "SELECT i FROM n") if db.is_sqlite else "SELECT generate_series(1, :count) AS i"
    zone = "" if db.is_sqlite else "+00"
    with db.transaction() as conn:
        conn.execute(text(
            "INSERT INTO issues (title, long_term, definition_id, definition_version, state, "
            "version, head_hash, created_at, updated_at, due_at, due_provisional, "
            f"key_supervision) SELECT 'filler', false, 'rectification', 1, 'in_progress', 1, "
            f"'{'0' * 64}', :created, :created, :far, false, false FROM ({series}) AS s"),
            {"count": issues, "created": created + zone, "far": far + zone})
        conn.execute(text(
            "INSERT INTO timers (issue_id, state, kind, level, rank, deadline_at, due_at, "
            "status, attempts, created_at) SELECT :first + i % :issues, 'in_progress', "
            "'reminder', 'reminder:7 days', 0, :far, :far, 'pending', 0, :created "
            f"FROM ({series}) AS s"),
            {"count": filler, "first": DUE + 1, "issues": issues, "far": far + zone,
             "created": created + zone})
        conn.exec_driver_sql("ANALYZE")
    return engine


def measure(url: str, workdir: Path, size: int) -> dict[str, float]:
    db = Database(url)
    engine = prepare(db, workdir, size)
    with db.engine.connect() as conn:
        pending = conn.exec_driver_sql("SELECT count(*) FROM timers WHERE status = 'pending'")\
            .scalar_one()
    times = []
    # Three sweeps, at the 7-, 3- and 1-day reminders: each finds exactly the 1,000 issues'
    # next reminder due.
    for before in REMINDERS:
        now = deadline_instant(DEADLINE) - before + timedelta(hours=1)
        started = time.perf_counter()
        report = sweep(engine, now=now, limit=DUE)
        times.append(time.perf_counter() - started)
        if report.claimed != DUE or report.sent != DUE:
            raise SystemExit(f"size {size}: expected {DUE} due timers settled, got {report}")
    db.dispose()
    elapsed = statistics.median(times)
    return {"size": size, "pending": pending, "seconds": round(elapsed, 3),
            "timers_per_s": round(DUE / elapsed), "runs": [round(t, 3) for t in times]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("RECTIFY_TEST_POSTGRES_URL")
                        or LOCAL_POSTGRES, help="PostgreSQL server URL")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--sqlite-max", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[str, list[dict[str, float]]] = {"postgresql": [], "sqlite": []}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rectify-sweep-") as scratch:
            print(f"postgresql {size:>9} pending …", file=sys.stderr)
            url, drop = postgres_database(args.postgres)
            try:
                results["postgresql"].append(measure(url, Path(scratch), size))
            finally:
                drop()
            if size <= args.sqlite_max:
                print(f"sqlite     {size:>9} pending …", file=sys.stderr)
                results["sqlite"].append(measure(f"sqlite:///{Path(scratch) / 'b.db'}",
                                                 Path(scratch), size))
    ratios = {name: round(rows[-1]["seconds"] / rows[0]["seconds"], 2)
              for name, rows in results.items() if len(rows) > 1}
    if args.json:
        print(json.dumps({"results": results, "ratios": ratios, "due": DUE}))
        return 0
    print(f"{'database':<11} {'pending':>9} {'sweep of 1,000 due':>19} {'timers/s':>9}  "
          "(median of 3 sweeps)")
    for name, rows in results.items():
        for row in rows:
            print(f"{name:<11} {row['pending']:>9} {row['seconds']:>17.3f} s "
                  f"{row['timers_per_s']:>9}")
    for name, ratio in ratios.items():
        print(f"{name}: largest/smallest = {ratio} (target ≤ 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
