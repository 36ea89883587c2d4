"""HTTP API latency on PostgreSQL with 100,000 issues, against the same SQL run straight on
psycopg in the same run.

A fresh PostgreSQL database is set up as at a deployment (``rectify init``, two units, a
person of each, accounts ``office`` and ``unit``), then N issues (default 100,000) are loaded
with one ``INSERT … SELECT generate_series`` per column pattern: the columns of
workflow/models.py, definition ``rectification`` at its loaded version, every issue in
progress (its due time its deadline) except each tenth cleared; half of them are unit A's,
a sixth more name it as cooperating unit; 60 % are past their deadline (red, overdue). Only
the list and one-issue routes are measured, and those read the issue rows and their
milestones, so the loader writes no history events or timers (``rectify verify`` is not
meant to pass on this database). Then ``ANALYZE``.

A real ``rectify web`` runs on loopback; the bench signs in as the office and as unit A and
measures, over keep-alive httpx clients, ``--requests`` requests each (after a warm-up):

- ``GET /api/v1/issues`` (limit 50) at the first page and at a page 1,000 pages deep (its
  cursor built from the same query: the issue at row 50,000 of the answer), for the office
  unfiltered and with ``light=red``, ``unit=A`` and ``overdue=true``, and for the unit's
  own scope;
- ``GET /api/v1/issues/{id}`` for random ids.

The floor of each is the SQL of the same page (``queries.ledger_page_statements``, compiled
for PostgreSQL) or ``SELECT … WHERE id = %s``, run on one psycopg connection. Figures: p95
of each in ms, and p95 over the floor's p95. Targets: list p95 < 100 ms, one issue p95 <
50 ms.

    .venv/bin/python bench/api.py          # --issues N, --requests N, --postgres URL, --json
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
import platform
import random
import secrets
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.scratch import postgres_database
from workflow.api.issues import encode_cursor
from workflow.clock import SystemClock
from workflow.db import Database
from workflow.issues import queries
from workflow.org.actors import Actor
from workflow.spec.registry import Registry

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
OFFICE, UNIT_A = "市整改办", "相山区人民政府"
OTHER_UNITS = ("杜集区人民政府", "烈山区人民政府", "濉溪县人民政府")
PASSWORD = "correct horse battery"
PAGE, DEEP_PAGES = 50, 1000
LIST_TARGET_MS, ONE_TARGET_MS = 100, 50
CATEGORIES = ("大气污染防治", "水污染防治", "土壤和固体废物污染防治", "生态保护与修复",
              "环境监管与执法")
LEADERS = ("王建国", "李红梅", "张志强", "刘淑芬", "赵立新", "孙海涛", "周文静", "吴国华")


@dataclass(frozen=True)
class Scenario:
    """One list query: who asks, with which filters."""

    name: str
    login: str
    actor: Actor
    filters: dict[str, Any]


def scenarios() -> list[Scenario]:
    office, unit = Actor(OFFICE, "office"), Actor("张科长", "unit", UNIT_A)
    return [Scenario("office, unfiltered", "office", office, {}),
            Scenario("office, light=red", "office", office, {"light": "red"}),
            Scenario("office, unit=A", "office", office, {"unit": UNIT_A}),
            Scenario("office, overdue=true", "office", office, {"overdue": True}),
            Scenario("unit A, its scope", "unit", unit, {})]


def rectify(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    command = [str(Path(sys.executable).with_name("rectify")), *args]
    done = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"rectify {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def set_up(env: dict[str, str]) -> None:
    """The deployment: definitions, the office, two units, a person of each, two accounts."""
    rectify(env, "init", "--admin", OFFICE)
    for unit in (UNIT_A, OTHER_UNITS[0]):
        rectify(env, "units", "add", unit, "--as", OFFICE)
    rectify(env, "people", "add", "张科长", "--role", "unit", "--unit", UNIT_A, "--as", OFFICE)
    for login, person in (("office", OFFICE), ("unit", "张科长")):
        rectify(env, "accounts", "add", login, "--person", person, "--password-stdin",
                "--as", OFFICE, stdin=PASSWORD + "\n")


def load_issues(db: Database, count: int, now: datetime) -> None:
    """``count`` issues in one statement (the distribution in the module docstring)."""
    with db.transaction() as conn:
        version = conn.execute(text("SELECT max(version) FROM process_definitions "
                                    "WHERE id = 'rectification'")).scalar_one()
        others = "ARRAY[" + ", ".join(f"'{u}'" for u in OTHER_UNITS) + "]"
        categories = "ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
        leaders = "ARRAY[" + ", ".join(f"'{n}'" for n in LEADERS) + "]"
        conn.execute(text(f"""
            INSERT INTO issues (plan, number, category, title, measures, leader, lead_unit,
                unit, responsible_units, cooperating_units, acceptance_unit, deadline_at,
                long_term, due_at, due_provisional, key_supervision, definition_id,
                definition_version, state, version, head_hash, created_at, updated_at)
            SELECT 'bench', i::text, ({categories})[1 + i % 5],
                u.unit || '第' || i || '号问题：部分企业污染防治设施运行不正常，群众反映强烈',
                '开展专项执法检查，督促企业完成设施改造，落实属地监管责任',
                ({leaders})[1 + i % 8], '市生态环境局', u.unit,
                json_build_array(u.unit),
                CASE WHEN i % 6 = 1 THEN json_build_array(:unit_a) ELSE '[]'::json END,
                '市生态环境局', d.deadline, false,
                CASE WHEN i % 10 = 9 THEN NULL ELSE d.deadline END, false, false,
                'rectification', :version,
                CASE WHEN i % 10 = 9 THEN 'cleared' ELSE 'in_progress' END, 3, :hash,
                :created, :created
            FROM generate_series(1, :count) AS i,
                LATERAL (SELECT CASE WHEN i % 2 = 0 THEN :unit_a
                                     ELSE ({others})[1 + i % 3] END AS unit) AS u,
                LATERAL (SELECT CASE WHEN i % 5 < 3 THEN :past ELSE :future END
                                + make_interval(mins => i % 997) AS deadline) AS d"""),
            {"count": count, "unit_a": UNIT_A, "version": version, "hash": "0" * 64,
             "created": now - timedelta(days=400), "past": now - timedelta(days=90),
             "future": now + timedelta(days=300)})
        conn.exec_driver_sql("ANALYZE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).with_name("rectify")), "web",
                                "--port", str(port)], env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"rectify web exited:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("rectify web did not answer /healthz within 60 s")


def sign_in(url: str, login: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    answer = client.post("/api/v1/session", json={"login": login, "password": PASSWORD})
    if answer.status_code != 200:
        raise SystemExit(f"sign-in of {login} failed: {answer.text}")
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1] * 1000


def timed(call: Callable[[], object], requests: int) -> list[float]:
    for _ in range(max(3, requests // 20)):  # warm-up: connections, caches, plans
        call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return samples


class Floor:
    """The same SQL straight on one psycopg connection."""

    def __init__(self, db: Database, url: str):
        self.db = db
        self.connection = psycopg.connect(make_url(url).set(drivername="postgresql")
                                          .render_as_string(hide_password=False))

    def page(self, scenario: Scenario, position: queries.PagePosition | None,
             now: datetime) -> Callable[[], object]:
        registry = Registry(self.db)
        conditions = [queries.read_scope(scenario.actor),
                      *queries.ledger_conditions(self.db, registry,
                                                 queries.LedgerQuery(**scenario.filters),
                                                 now=now)]
        # In id order a page is one statement (ledger_page_statements).
        [statement] = queries.ledger_page_statements(conditions, queries.SORTS["id"],
                                                     position=position, limit=PAGE)
        sql, values = self.compiled(statement)

        def run() -> int:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, values)
                return len(cursor.fetchall())
        return run

    def compiled(self, statement: Any) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters SQLAlchemy sends for ``statement`` (IN lists expanded)."""
        compiled = statement.compile(dialect=self.db.engine.dialect,
                                     compile_kwargs={"render_postcompile": True})
        return str(compiled), compiled.params

    def one(self, ids: list[int]) -> Callable[[], object]:
        def run() -> object:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT * FROM issues WHERE id = %s", (random.choice(ids),))
                return cursor.fetchone()
        return run

    def deep_position(self, scenario: Scenario, now: datetime) -> queries.PagePosition:
        """Where page 1,001 starts: after the issue at row 50,000 of the answer."""
        registry = Registry(self.db)
        conditions = [queries.read_scope(scenario.actor),
                      *queries.ledger_conditions(self.db, registry,
                                                 queries.LedgerQuery(**scenario.filters),
                                                 now=now)]
        statement = queries.ledger_page_statements(conditions, queries.SORTS["id"],
                                                   position=None, limit=PAGE)[0]
        with self.connection.cursor() as cursor:
            cursor.execute(*self.compiled(statement.limit(1).offset(PAGE * DEEP_PAGES - 1)))
            row = cursor.fetchone()
        if row is None:
            raise SystemExit(f"{scenario.name}: fewer than {PAGE * DEEP_PAGES:,} issues")
        return queries.PagePosition(int(row[0]))


def list_call(client: httpx.Client, params: dict[str, Any],
              name: str) -> Callable[[], None]:
    def call() -> None:
        answer = client.get("/api/v1/issues", params={**params, "limit": PAGE})
        if answer.status_code != 200 or len(answer.json()["items"]) != PAGE:
            raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
    return call


def measure_reads(url: str, floor: Floor, requests: int, now: datetime,
                  ids: list[int]) -> list[dict[str, Any]]:
    """p95 of the list (first and deep page per scenario) and of one issue, each with its
    floor."""
    clients = {login: sign_in(url, login) for login in ("office", "unit")}
    rows = []
    for scenario in scenarios():
        params = {k: str(v).lower() if isinstance(v, bool) else v
                  for k, v in scenario.filters.items()}
        deep = floor.deep_position(scenario, now)
        cursor = encode_cursor(queries.LedgerQuery(**scenario.filters).fingerprint("id"), deep)
        for depth, position, extra in (("first page", None, {}),
                                       (f"page {DEEP_PAGES + 1:,}", deep, {"cursor": cursor})):
            print(f"{scenario.name}, {depth} …", file=sys.stderr)
            api = p95(timed(list_call(clients[scenario.login], {**params, **extra},
                                      scenario.name), requests))
            sql = p95(timed(floor.page(scenario, position, now), requests))
            rows.append({"route": "GET /api/v1/issues", "query": scenario.name, "page": depth,
                         "p95_ms": round(api, 1), "floor_p95_ms": round(sql, 2),
                         "over_floor": round(api / sql, 1), "target_ms": LIST_TARGET_MS})
    office = clients["office"]

    def one() -> None:
        answer = office.get(f"/api/v1/issues/{random.choice(ids)}")
        if answer.status_code != 200:
            raise SystemExit(f"one issue: {answer.status_code} {answer.text[:300]}")

    print("one issue …", file=sys.stderr)
    api, sql = p95(timed(one, requests)), p95(timed(floor.one(ids), requests))
    rows.append({"route": "GET /api/v1/issues/{id}", "query": "office, random id",
                 "page": "", "p95_ms": round(api, 1), "floor_p95_ms": round(sql, 2),
                 "over_floor": round(api / sql, 1), "target_ms": ONE_TARGET_MS})
    for client in clients.values():
        client.close()
    return rows


def concurrent_transitions(url: str, db: Database, ids: list[int], *, clients: int,
                           seconds: float, hot: int) -> dict[str, Any]:
    """``clients`` office sessions, each on its own thread, for ``seconds``: read a random
    one of ``hot`` issues in progress (its ETag), then extend its deadline (``extend``, a
    self-transition) with that version as ``If-Match`` and a fresh ``Idempotency-Key``.
    Counted: answers by status (412: someone else moved it first), the throughput and p95
    of successful transitions, and lost updates — for each hot issue, the extensions its
    history holds against the 200s the clients got, and its version against both."""
    import threading

    with db.engine.connect() as conn:
        targets = list(conn.execute(text(
            "SELECT id FROM issues WHERE state = 'in_progress' ORDER BY id LIMIT :n"),
            {"n": hot}).scalars())
        versions = dict(conn.execute(text("SELECT id, version FROM issues WHERE id = ANY(:ids)"),
                                     {"ids": targets}).all())
    sessions = [sign_in(url, "office") for _ in range(clients)]
    statuses: dict[int, int] = {}
    wins: dict[int, int] = dict.fromkeys(targets, 0)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    start = threading.Barrier(clients)

    def work(client: httpx.Client, seed: int) -> None:
        pick = random.Random(seed)
        start.wait()
        while time.perf_counter() < stop:
            issue_id = pick.choice(targets)
            read = client.get(f"/api/v1/issues/{issue_id}")
            if read.status_code != 200:
                with lock:
                    errors.append(f"GET {issue_id}: {read.status_code} {read.text[:200]}")
                continue
            day = (datetime(2027, 1, 1) + timedelta(days=pick.randrange(700))).date()
            began = time.perf_counter()
            answer = client.post(f"/api/v1/issues/{issue_id}/transitions/extend",
                                 json={"comment": "因汛期施工受限申请延期",
                                       "fields": {"new_deadline": day.isoformat()}},
                                 headers={"If-Match": read.headers["etag"],
                                          "Idempotency-Key": str(uuid.uuid4())})
            took = time.perf_counter() - began
            with lock:
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 200:
                    wins[issue_id] += 1
                    latencies.append(took)
                elif answer.status_code != 412:
                    errors.append(f"extend {issue_id}: {answer.status_code} "
                                  f"{answer.text[:200]}")

    threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(sessions)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for client in sessions:
        client.close()
    lost = []
    with db.engine.connect() as conn:
        recorded = dict(conn.execute(text(
            "SELECT issue_id, count(*) FROM issue_events WHERE trigger = 'extend' "
            "AND issue_id = ANY(:ids) GROUP BY issue_id"), {"ids": targets}).all())
        now_at = dict(conn.execute(text("SELECT id, version FROM issues WHERE id = ANY(:ids)"),
                                   {"ids": targets}).all())
    for issue_id in targets:
        held = recorded.get(issue_id, 0)
        if held != wins[issue_id] or now_at[issue_id] != versions[issue_id] + held:
            lost.append({"issue": issue_id, "answered_200": wins[issue_id],
                         "in_history": held, "version": now_at[issue_id]})
    done = sum(wins.values())
    return {"clients": clients, "seconds": round(elapsed, 1), "hot_issues": len(targets),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "transitions": done, "per_second": round(done / elapsed, 1),
            "p95_ms": round(p95(latencies), 1) if len(latencies) >= 2 else None,
            "errors": len(errors), "first_errors": errors[:5], "lost_updates": lost}


@dataclass(frozen=True)
class Deployment:
    """A bench's running deployment: ``rectify web`` at ``url`` on ``db``, loaded at
    ``now``, and the floor's own connection to the same database."""

    url: str
    db: Database
    floor: Floor
    now: datetime
    load_seconds: float


@contextmanager
def deployment(postgres: str, issues: int, prefix: str,
               extra: Callable[[dict[str, str]], None] | None = None) -> Iterator[Deployment]:
    """A scratch database on ``postgres`` set up as at a deployment (``set_up``, then
    ``extra``), ``issues`` issues loaded (``load_issues``) and a real ``rectify web`` on it;
    stopped and dropped after."""
    database_url, drop = postgres_database(postgres)
    web = None
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
            work = Path(scratch)
            env = {**os.environ, "DATABASE_URL": database_url,
                   "RECTIFY_EVIDENCE_DIR": str(work / "evidence"),
                   "RECTIFY_HISTORY_KEY": secrets.token_hex(32),
                   "RECTIFY_KEY_DIR": str(work / "keys")}
            env.pop("RECTIFY_ACTOR", None)
            print("setting up …", file=sys.stderr)
            set_up(env)
            if extra is not None:
                extra(env)
            db = Database(database_url)
            now = SystemClock().now()
            started = time.perf_counter()
            load_issues(db, issues, now)
            load_seconds = time.perf_counter() - started
            print(f"loaded {issues:,} issues in {load_seconds:.1f} s", file=sys.stderr)
            web, url = start_web(env, work / "web.log")
            floor = Floor(db, database_url)
            try:
                yield Deployment(url, db, floor, now, load_seconds)
            finally:
                floor.connection.close()
                db.dispose()
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("RECTIFY_TEST_POSTGRES_URL")
                        or LOCAL_POSTGRES, help="PostgreSQL server URL")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per measured route")
    parser.add_argument("--clients", type=int, default=50, help="concurrent writers")
    parser.add_argument("--write-seconds", type=float, default=60.0)
    parser.add_argument("--hot", type=int, default=100,
                        help="issues the writers share (fewer: more 412 conflicts)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.issues < 2 * PAGE * DEEP_PAGES:
        raise SystemExit(f"--issues must be at least {2 * PAGE * DEEP_PAGES:,}: every query "
                         "measured needs a page 1,000 pages deep")
    with deployment(options.postgres, options.issues, "rectify-api-") as run:
        load_seconds = run.load_seconds
        with run.db.engine.connect() as conn:
            ids = list(conn.execute(text("SELECT id FROM issues")).scalars())
        rows = measure_reads(run.url, run.floor, options.requests, run.now, ids)
        print(f"{options.clients} clients firing transitions for "
              f"{options.write_seconds:g} s …", file=sys.stderr)
        writes = concurrent_transitions(run.url, run.db, ids, clients=options.clients,
                                        seconds=options.write_seconds, hot=options.hot)
    figures = {"issues": options.issues, "load_seconds": round(load_seconds, 1),
               "requests": options.requests, "python": platform.python_version(),
               "reads": rows, "concurrent_transitions": writes,
               "targets_met": all(r["p95_ms"] < r["target_ms"] for r in rows)
               and writes["errors"] == 0 and not writes["lost_updates"]}
    if options.json:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    print(f"{options.issues:,} issues on PostgreSQL (loaded in {load_seconds:.1f} s); "
          f"{options.requests} requests each; p95 in ms")
    print(f"{'route':<24} {'query':<22} {'page':<11} {'API p95':>8} {'SQL p95':>8} "
          f"{'API/SQL':>8} {'target':>7}")
    for r in rows:
        print(f"{r['route']:<24} {r['query']:<22} {r['page']:<11} {r['p95_ms']:>8.1f} "
              f"{r['floor_p95_ms']:>8.2f} {r['over_floor']:>8.1f} {'< ' + str(r['target_ms']):>7}")
    w = writes
    print(f"\n{w['clients']} clients firing 'extend' for {w['seconds']} s on {w['hot_issues']} "
          f"issues: {w['transitions']} transitions ({w['per_second']}/s, p95 {w['p95_ms']} ms); "
          f"answers {w['statuses']}; errors other than 412: {w['errors']}; lost updates: "
          f"{len(w['lost_updates'])}")
    for line in w["first_errors"]:
        print(f"  {line}")
    print("all targets met" if figures["targets_met"] else "some targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
