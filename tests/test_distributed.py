"""Both run modes with real processes on loopback: ``rectify worker`` (Celery) and
``rectify scheduler`` on PostgreSQL and Redis; ``rectify serve`` on SQLite with no servers.
The end-to-end test uses the shared Redis; the fault tests start their own ``redis-server``
on a spare port and kill workers with SIGKILL, stop Redis for 30 s and kill the leading
scheduler, so the shared services stay up."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from tests.processes import Rectify, RedisServer, free_port, wait_for
from tests.sinks import HttpSink
from tests.support import LEADER, LOOPBACK, LOOPBACK_ENV, OFFICE, TEST_KEYS, UNIT, office_act
from workflow.clock import SystemClock, local
from workflow.config import PROJECT_ROOT
from workflow.db import Database
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.evidence import EvidenceStore
from workflow.migrate import upgrade
from workflow.models import Base, IssueEvent, JobRun, Notification, Timer
from workflow.notify.contacts import add_contact
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions
from workflow.startup import initialize

pytestmark = pytest.mark.processes

FAST = {"RECTIFY_SWEEP_INTERVAL": "0.5", "RECTIFY_RELAY_INTERVAL": "0.5",
        "RECTIFY_LOCK_PERIOD": "3", "RECTIFY_LOG_LEVEL": "INFO", **LOOPBACK_ENV}
BATCH, CONCURRENCY = 50, 2
REDIS_ENV = "RECTIFY_TEST_REDIS_URL"


@pytest.fixture
def pg(postgres_database: Database, postgres_url: str) -> Database:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with postgres_database.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    load_definitions(postgres_database, load_all(PROJECT_ROOT / "definitions"),
                     now=datetime.now(UTC), by=None)
    return postgres_database


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def shared_redis(tmp_path: Path) -> Iterator[str]:
    """The shared Redis the suite runs against (``RECTIFY_TEST_REDIS_URL``, as .ci/run sets;
    database 15 so nothing else's keys are touched); a private server without it."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        server = RedisServer(tmp_path).start()
        yield server.url
        server.stop()
        return
    url = make_url(url).set(database="15").render_as_string(hide_password=False)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"{REDIS_ENV}={os.environ[REDIS_ENV]} but Redis is not reachable: {exc}")
    client.delete("rectify")  # no tasks left over from an earlier run
    yield url
    client.delete("rectify")
    client.close()


@pytest.fixture
def processes() -> Iterator[list[Rectify]]:
    running: list[Rectify] = []
    yield running
    for process in running:
        if process.alive():
            process.kill()


def distributed_env(postgres_url: str, redis: RedisServer | str, tmp_path: Path,
                    **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": postgres_url,
            "BROKER_URL": redis if isinstance(redis, str) else redis.url,
            "RECTIFY_EVIDENCE_DIR": str(tmp_path / "evidence"),
            "RECTIFY_BATCH": str(BATCH), **FAST, **extra}


def start(processes: list[Rectify], args: list[str], env: dict[str, str],
          log: Path) -> Rectify:
    process = Rectify(args, env, log)
    processes.append(process)
    return process


def worker(processes: list[Rectify], env: dict[str, str], log: Path, name: str) -> Rectify:
    return start(processes, ["worker", "--concurrency", str(CONCURRENCY), "--hostname",
                             f"{name}@%h"], env, log)


def fill_outbox(db: Database, count: int, url: str) -> set[str]:
    """``count`` due webhook notifications to ``url``; returns their dedupe keys."""
    now = datetime.now(UTC)
    keys = [f"test:{n}:reminder:相山区人民政府:webhook" for n in range(count)]
    with db.transaction() as conn:
        conn.execute(insert(Notification), [
            {"dedupe_key": key, "issue_id": None, "timer_id": None, "kind": "reminder",
             "level": "reminder:3 days", "recipient": UNIT.name, "channel": "webhook",
             "address": url, "subject": f"【催办提醒】问题{n}", "body": "请抓紧推进整改。\n",
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for n, key in enumerate(keys)])
    return set(keys)


def outbox_counts(db: Database) -> Counter[str]:
    with db.session() as session:
        return Counter(dict(session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)).all()))


def received_keys(sink: HttpSink) -> Counter[str]:
    with sink.lock:
        return Counter(urllib.parse.unquote(r.headers["idempotency-key"])
                       for r in sink.received)


def assert_each_delivered_once(db: Database, sink: HttpSink, keys: set[str]) -> int:
    """Every key reached the sink, the outbox records each once as sent; returns how many
    repeats the sink saw."""
    counts = outbox_counts(db)
    assert counts == Counter({"sent": len(keys)}), counts
    with db.session() as session:
        sent_keys = set(session.scalars(select(Notification.dedupe_key)))
    assert sent_keys == keys
    seen = received_keys(sink)
    assert set(seen) == keys
    return sum(seen.values()) - len(seen)


def test_worker_delivers_a_reminder_from_a_transition_to_the_http_sink(
        pg: Database, postgres_url: str, shared_redis: str, http_sink: HttpSink,
        processes: list[Rectify], tmp_path: Path) -> None:
    # Given an issue in progress whose deadline is two days away (the 3-day reminder is due)
    # and whose unit is reached by a webhook
    add_contact(pg, UNIT.name, "webhook", http_sink.url("/robot"), by=office_act(pg),
                hosts=LOOPBACK)
    engine = Engine(pg, EvidenceStore(tmp_path / "evidence"), keys=TEST_KEYS,
                    clock=SystemClock())
    deadline = local(datetime.now(UTC)).date() + timedelta(days=2)
    issue_id = engine.create_issue(NewIssue(title="部分建筑工地扬尘防控不到位", unit=UNIT.name,
                                            leader=LEADER.name, deadline=deadline),
                                   actor=OFFICE)
    engine.fire(issue_id, "start", actor=UNIT)
    env = distributed_env(postgres_url, shared_redis, tmp_path)

    # When a Celery worker and the scheduler run on the real Redis
    celery_worker = worker(processes, env, tmp_path / "worker.log", "w1")
    scheduler = start(processes, ["scheduler"], env, tmp_path / "scheduler.log")
    wait_for(lambda: http_sink.accepted, timeout=60, what="a reminder at the sink")

    # Then the 3-day reminder reached the sink once, keyed by its outbox row, recorded as sent
    wait_for(lambda: outbox_counts(pg)["sent"] == 1, timeout=20, what="sent recorded")
    [received] = http_sink.received
    with pg.session() as session:
        sent = session.scalars(select(Notification)).one()
        events = session.scalars(select(IssueEvent.trigger)
                                 .where(IssueEvent.issue_id == issue_id)).all()
    assert sent.level == "reminder:3 days" and sent.issue_id == issue_id
    assert urllib.parse.unquote(received.headers["idempotency-key"]) == sent.dedupe_key
    assert "扬尘" in received.body["subject"]
    assert events == ["create", "start", "remind"]
    # And SIGTERM stops the scheduler and the worker gracefully
    assert scheduler.terminate() == 0
    assert celery_worker.terminate() == 0


def test_killed_worker_loses_nothing_and_repeats_only_its_batches_in_flight(
        pg: Database, postgres_url: str, redis_server: RedisServer, http_sink: HttpSink,
        processes: list[Rectify], tmp_path: Path) -> None:
    # Given 2,000 due notifications and one worker delivering them
    keys = fill_outbox(pg, 2000, http_sink.url("/hook"))
    env = distributed_env(postgres_url, redis_server, tmp_path, RECTIFY_LEASE="5",
                          RECTIFY_WEBHOOK_TIMEOUT="1")
    first = worker(processes, env, tmp_path / "worker1.log", "w1")
    start(processes, ["scheduler"], env, tmp_path / "scheduler.log")

    # When the worker is killed with SIGKILL in the middle of the run, then a new one starts
    wait_for(lambda: len(http_sink.received) >= 400, timeout=60, interval=0.01,
             what="400 deliveries")
    first.kill()
    assert outbox_counts(pg)["sent"] < 2000
    worker(processes, env, tmp_path / "worker2.log", "w2")
    wait_for(lambda: outbox_counts(pg)["sent"] == 2000, timeout=120, what="all sent")

    # Then every notification reached the sink and is recorded once as sent; the repeats
    # carry the same key and are no more than the messages the dead worker had in flight
    # (one per thread: each success is recorded before the next send)
    repeats = assert_each_delivered_once(pg, http_sink, keys)
    assert repeats <= CONCURRENCY, repeats


def test_redis_stopped_for_30_seconds_loses_nothing(
        pg: Database, postgres_url: str, redis_server: RedisServer, http_sink: HttpSink,
        processes: list[Rectify], tmp_path: Path) -> None:
    # Given 1,500 due notifications being delivered by a worker
    keys = fill_outbox(pg, 1500, http_sink.url("/hook"))
    env = distributed_env(postgres_url, redis_server, tmp_path, RECTIFY_LEASE="5",
                          RECTIFY_WEBHOOK_TIMEOUT="1")
    worker(processes, env, tmp_path / "worker.log", "w1")
    scheduler = start(processes, ["scheduler"], env, tmp_path / "scheduler.log")
    wait_for(lambda: len(http_sink.received) >= 200, timeout=60, interval=0.01,
             what="200 deliveries")

    # When Redis goes away for 30 s (taking its queued tasks with it) and comes back
    redis_server.stop()
    time.sleep(30)
    assert outbox_counts(pg)["sent"] < 1500
    redis_server.start()

    # Then every notification is delivered and recorded once; the processes lived through it
    wait_for(lambda: outbox_counts(pg)["sent"] == 1500, timeout=120, what="all sent")
    repeats = assert_each_delivered_once(pg, http_sink, keys)
    assert repeats <= BATCH * CONCURRENCY, repeats
    assert scheduler.alive() and all(p.alive() for p in processes)


def slow_at_first(seconds: float, window: float) -> Callable[[], float]:
    """A receiver's pause: ``seconds`` per request during the first ``window`` seconds after
    its first request, none after."""
    first: list[float] = []

    def pause() -> float:
        now = time.monotonic()
        if not first:
            first.append(now)
        return seconds if now - first[0] < window else 0.0

    return pause


@dataclass(frozen=True)
class SlowReceiver:
    """A receiver answering after ``answer`` s during its first ``window`` s, and the
    sender's settings: webhook timeout, lease and batch size (strings, as the environment)."""

    answer: float
    window: float
    notices: int
    timeout: str
    lease: str
    batch: str


@pytest.mark.parametrize("case", [
    # The case the outbox once sent 585 of 600 keys twice: answers after 15 s, a 10 s
    # timeout, a 60 s lease and batches of 100 (a batch outlives its lease)
    SlowReceiver(answer=15, window=20, notices=600, timeout="10", lease="60", batch="100"),
    # The same shape small: 1.5 s answers, a 1 s timeout, a 4 s lease, batches of 10
    SlowReceiver(answer=1.5, window=4, notices=60, timeout="1", lease="4", batch="10"),
], ids=["15s-answers-600-notices", "1.5s-answers-60-notices"])
def test_slow_receiver_repeats_only_what_timed_out_with_two_workers(
        pg: Database, postgres_url: str, redis_server: RedisServer, http_sink: HttpSink,
        processes: list[Rectify], tmp_path: Path, case: SlowReceiver) -> None:
    # Given due notifications and a receiver slower than the webhook timeout at first (those
    # requests time out), on two workers
    http_sink.pause = slow_at_first(case.answer, window=case.window)
    keys = fill_outbox(pg, case.notices, http_sink.url("/hook"))
    env = distributed_env(postgres_url, redis_server, tmp_path, RECTIFY_LEASE=case.lease,
                          RECTIFY_WEBHOOK_TIMEOUT=case.timeout, RECTIFY_BATCH=case.batch)
    worker(processes, env, tmp_path / "worker1.log", "w1")
    worker(processes, env, tmp_path / "worker2.log", "w2")
    start(processes, ["scheduler"], env, tmp_path / "scheduler.log")

    # When they are delivered, the timed-out ones retried after their back-off
    wait_for(lambda: outbox_counts(pg)["sent"] == case.notices, timeout=600, what="all sent")

    # Then each is recorded once, and the receiver saw no more repeats than requests that
    # timed out (whose outcome the sender could not know)
    repeats = assert_each_delivered_once(pg, http_sink, keys)
    assert http_sink.slow > 0
    assert repeats <= http_sink.slow, (repeats, http_sink.slow)


def test_embedded_slow_receiver_gets_each_reminder_once(
        processes: list[Rectify], tmp_path: Path, http_sink: HttpSink) -> None:
    # Given 40 issues whose unit's robot takes 0.4 s per request and a 4 s lease, with the
    # default batch size and threads: one batch of 40 takes four leases to send
    http_sink.pause = lambda: 0.4
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    db = Database(url)
    engine = Engine(db, EvidenceStore(tmp_path / "evidence"), keys=TEST_KEYS,
                    clock=SystemClock())
    initialize(engine, PROJECT_ROOT / "definitions")
    add_contact(db, UNIT.name, "webhook", http_sink.url("/robot"), by=office_act(db),
                hosts=LOOPBACK)
    deadline = local(datetime.now(UTC)).date() + timedelta(days=2)
    for n in range(40):
        issue_id = engine.create_issue(NewIssue(title=f"问题{n}", unit=UNIT.name,
                                                deadline=deadline), actor=OFFICE)
        engine.fire(issue_id, "start", actor=UNIT)
    env = {"DATABASE_URL": url, "BROKER_URL": "", "RECTIFY_EVIDENCE_DIR": str(tmp_path / "ev"),
           "RECTIFY_LEASE": "4", "RECTIFY_WEBHOOK_TIMEOUT": "1", **FAST}

    # When `rectify serve` delivers them
    serve = start(processes, ["serve"], env, tmp_path / "serve.log")
    wait_for(lambda: outbox_counts(db)["sent"] == 40, timeout=90, what="40 reminders sent")

    # Then the robot got each reminder once
    seen = received_keys(http_sink)
    assert len(seen) == 40 and sum(seen.values()) == 40, seen.most_common(3)
    assert serve.terminate() == 0
    db.dispose()


def job_runs(db: Database) -> list[JobRun]:
    with db.session() as session:
        return list(session.scalars(select(JobRun).order_by(JobRun.started_at)))


def test_two_schedulers_one_leads_and_the_other_takes_over(
        pg: Database, postgres_url: str, redis_server: RedisServer,
        processes: list[Rectify], tmp_path: Path) -> None:
    # Given two schedulers on the same database (PostgreSQL advisory lock, period 3 s)
    env = distributed_env(postgres_url, redis_server, tmp_path)
    first = start(processes, ["scheduler"], env, tmp_path / "scheduler1.log")
    second = start(processes, ["scheduler"], env, tmp_path / "scheduler2.log")
    wait_for(lambda: len(job_runs(pg)) >= 10, timeout=30, what="10 job runs")
    time.sleep(2)

    # Then exactly one of them runs jobs
    owners = {run.owner for run in job_runs(pg)}
    assert len(owners) == 1, owners
    [leader_owner] = owners
    leader, standby = (first, second) if f":{first.pid}:" in leader_owner else (second, first)
    assert f":{leader.pid}:" in leader_owner

    # When the leader is killed, the standby takes over within the lock period
    leader.kill()
    killed_at = datetime.now(UTC)
    wait_for(lambda: [r for r in job_runs(pg) if r.owner != leader_owner], timeout=30,
             interval=0.05, what="the standby's first job run")
    taken_over = min(r.started_at for r in job_runs(pg) if r.owner != leader_owner)
    assert (taken_over - killed_at).total_seconds() <= 3 + 0.5 + 1  # period + tick + slack
    time.sleep(2)

    # And no job ran twice for one tick, and each relay tick was run by one scheduler
    runs = job_runs(pg)
    assert len({(r.job, r.tick) for r in runs}) == len(runs)
    assert {r.owner for r in runs} == {leader_owner, next(r.owner for r in runs
                                                          if r.owner != leader_owner)}
    assert all(r.outcome == "ok" for r in runs if r.finished_at is not None)
    assert standby.terminate() == 0


def test_embedded_serve_on_sqlite_delivers_to_the_log_and_survives_a_kill(
        processes: list[Rectify], tmp_path: Path) -> None:
    # Given a SQLite database with 150 issues in progress whose 3-day reminder is due
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    log = tmp_path / "notifications.jsonl"
    db = Database(url)
    engine = Engine(db, EvidenceStore(tmp_path / "evidence"), keys=TEST_KEYS,
                    clock=SystemClock())
    initialize(engine, PROJECT_ROOT / "definitions")
    deadline: date = local(datetime.now(UTC)).date() + timedelta(days=2)
    issues = []
    for n in range(150):
        issue_id = engine.create_issue(NewIssue(title=f"问题{n}", unit=UNIT.name,
                                                deadline=deadline), actor=OFFICE)
        engine.fire(issue_id, "start", actor=UNIT)
        issues.append(issue_id)
    env = {"DATABASE_URL": url, "BROKER_URL": "", "RECTIFY_NOTIFY_LOG": str(log),
           "RECTIFY_EVIDENCE_DIR": str(tmp_path / "evidence"), "RECTIFY_LEASE": "3",
           "RECTIFY_WEBHOOK_TIMEOUT": "0.5", "RECTIFY_BATCH": "10", "RECTIFY_THREADS": "2",
           **FAST}

    # When `rectify serve` runs with no servers, is killed with SIGKILL mid-run, and restarts
    first = start(processes, ["serve", "--port", str(free_port())], env,
                  tmp_path / "serve1.log")
    wait_for(lambda: log.exists() and log.stat().st_size > 0, timeout=60, interval=0.01,
             what="the first reminder in the log")
    first.kill()
    sent_before_restart = outbox_counts(db)["sent"]
    second = start(processes, ["serve", "--port", str(free_port())], env,
                   tmp_path / "serve2.log")

    def all_sent() -> bool:
        return outbox_counts(db) == Counter({"sent": len(issues)})

    wait_for(all_sent, timeout=90, what="a reminder for each issue, sent")

    # Then each issue's reminder reached the log channel, and none is missing
    logged = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert {entry["issue_id"] for entry in logged} == set(issues)
    # (repeats: at most the one message each of the 2 threads had in flight at the kill)
    assert len(logged) - len({entry["dedupe_key"] for entry in logged}) <= 2
    assert sent_before_restart < len(issues)  # the kill really left work behind
    with db.session() as session:
        pending_due = session.scalar(select(func.count()).select_from(Timer).where(
            Timer.status.in_(("pending", "leased")), Timer.due_at <= datetime.now(UTC)))
    assert pending_due == 0
    # And SIGTERM stops it gracefully
    assert second.terminate() == 0
    db.dispose()


def test_doctor_reports_a_healthy_embedded_setup_and_fails_on_dead_letters(
        processes: list[Rectify], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rectify.db'}"
    db = Database(url)
    upgrade(db)
    env = {"DATABASE_URL": url, "BROKER_URL": "", **FAST}

    def doctor() -> tuple[int, dict[str, object]]:
        process = Rectify(["doctor", "--json"], env, tmp_path / "doctor.out")
        code = process.process.wait(timeout=60)
        process.stream.close()
        text = (tmp_path / "doctor.out").read_text(encoding="utf-8")
        (tmp_path / "doctor.out").unlink()
        return code, json.loads(text[text.index("{"):])

    # Given no scheduler ever ran: unhealthy, and the leader check says what to start
    code, report = doctor()
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert code == 1 and checks["leader"]["status"] == "fail"
    assert "rectify serve" in checks["leader"]["detail"]

    # When `rectify serve` runs, the same checks pass
    serve = start(processes, ["serve", "--port", str(free_port())], env, tmp_path / "serve.log")
    wait_for(lambda: job_runs(db), timeout=30, what="a job run")
    code, report = doctor()
    assert code == 0 and report["healthy"] is True, report

    # And a dead letter makes it unhealthy again, pointing at the commands that fix it
    now = datetime.now(UTC)
    with db.transaction() as conn:
        conn.execute(insert(Notification).values(
            dedupe_key="dead:1", kind="reminder", level="red", recipient=UNIT.name,
            channel="webhook", address="http://127.0.0.1:9/none", subject="s", body="b",
            status="dead", attempts=8, next_attempt_at=now, created_at=now))
    code, report = doctor()
    checks = {c["name"]: c for c in report["checks"]}  # type: ignore[union-attr]
    assert code == 1 and checks["dead letters"]["status"] == "fail"
    assert "rectify outbox retry" in checks["dead letters"]["detail"]
    assert serve.terminate() == 0
    db.dispose()
