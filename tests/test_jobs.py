"""The relays, batch leases, job ticks, run settings and leader locks (SQLite and PostgreSQL;
the Redis lock on a private redis-server)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from scheduler import ANCHOR, FileLock, PostgresLock, RedisLock, last_tick, leader_lock
from tests.processes import RedisServer, wait_for
from tests.sinks import HttpSink
from tests.support import OFFICE, fire_valid, new_issue
from tests.test_notify import queue
from workflow.clock import SHANGHAI, FrozenClock, local
from workflow.config import RunSettings
from workflow.db import Database
from workflow.errors import ConfigurationError, InputError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.jobs import (
    LocalDispatcher,
    Runtime,
    claim_tick,
    deliver_batch,
    lookback_batch,
    monthly_report,
    prune_job_runs,
    relay_lookback,
    relay_outbox,
)
from workflow.models import Notification
from workflow.notify.channels import ChannelRegistry, LogChannel, WebhookChannel
from workflow.notify.delivery import lease_due_notifications, take_batch
from workflow.notify.statuses import PENDING, SENDING, SENT
from workflow.supervision import accountability
from workflow.supervision.lookback import add_months, parse_sample, start_campaign


@pytest.fixture
def runtime(engine: Engine, clock: FrozenClock) -> Runtime:
    channels = ChannelRegistry([LogChannel(), WebhookChannel(timeout=5, clock=clock)])
    return Runtime(engine, channels, RunSettings(batch=3, max_in_flight=7, lease=60))


class Collecting:
    """A dispatcher that keeps the batches it is handed (and can refuse them)."""

    def __init__(self, refuse_after: int | None = None):
        self.batches: list[tuple[list[int], str]] = []
        self.refuse_after = refuse_after

    def deliver(self, ids: list[int], token: str) -> None:
        if self.refuse_after is not None and len(self.batches) >= self.refuse_after:
            raise ConnectionError("broker unreachable")
        self.batches.append((ids, token))

    def timers(self, ids: list[int], token: str) -> None:
        self.deliver(ids, token)

    def lookback(self, ids: list[int]) -> None:
        self.deliver(ids, "lookback")

    def job(self, name: str) -> None:
        raise AssertionError(name)


def statuses(db: Database) -> dict[int, tuple[str, int]]:
    with db.session() as session:
        return {n.id: (n.status, n.attempts) for n in session.scalars(select(Notification))}


def test_relay_hands_out_batches_up_to_the_in_flight_limit(runtime: Runtime,
                                                           clock: FrozenClock) -> None:
    # Given 10 due messages, batches of 3 and at most 7 in flight
    for n in range(10):
        queue(runtime.db, clock.now(), key=f"k{n}")

    # When the relay runs twice before any worker settles anything
    dispatcher = Collecting()
    handed = relay_outbox(runtime, dispatcher) + relay_outbox(runtime, dispatcher)

    # Then 7 rows went out in batches of at most 3, each batch under its own token, and no
    # attempt is counted before a worker starts one
    assert handed == 7
    assert [len(ids) for ids, _ in dispatcher.batches] == [3, 3, 1]
    assert len({token for _, token in dispatcher.batches}) == 3
    assert sorted(statuses(runtime.db).values()).count((SENDING, 0)) == 7


def test_a_batch_the_broker_refused_is_given_back(runtime: Runtime,
                                                  clock: FrozenClock) -> None:
    # Given 5 due messages and a broker that takes one batch, then fails
    for n in range(5):
        queue(runtime.db, clock.now(), key=f"k{n}")
    dispatcher = Collecting(refuse_after=1)

    # When the relay runs
    with pytest.raises(ConnectionError):
        relay_outbox(runtime, dispatcher)

    # Then the refused batch's rows are pending again, due at once, attempts untouched
    rows = statuses(runtime.db)
    assert sorted(rows.values()) == [(PENDING, 0)] * 2 + [(SENDING, 0)] * 3


def test_a_batch_runs_once_even_if_its_task_is_delivered_twice(
        runtime: Runtime, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a batch of 3 webhook messages handed out under one token
    for n in range(3):
        queue(runtime.db, clock.now(), key=f"k{n}", channel="webhook",
              address=http_sink.url())
    [(ids, token)] = [(lease_due_notifications(runtime.db, now=clock.now(), limit=3,
                                               owner="batch:a"), "batch:a")]

    # When the task runs, and the broker hands the same task out again
    first = deliver_batch(runtime, ids, token)
    second = deliver_batch(runtime, ids, token)

    # Then the messages were sent once, with one attempt each
    assert (first.sent, second.sent) == (3, 0)
    assert len(http_sink.received) == 3
    assert sorted(statuses(runtime.db).values()) == [(SENT, 1)] * 3


def test_an_expired_batch_belongs_to_its_new_token(runtime: Runtime,
                                                   clock: FrozenClock) -> None:
    # Given a batch whose lease ran out before its worker started it
    queue(runtime.db, clock.now(), key="k")
    old = lease_due_notifications(runtime.db, now=clock.now(), limit=1, owner="batch:old",
                                  lease=timedelta(seconds=60))
    clock.advance(timedelta(seconds=61))
    new = lease_due_notifications(runtime.db, now=clock.now(), limit=1, owner="batch:new")

    # When the old task finally runs
    taken = take_batch(runtime.db, old, owner="batch:old", now=clock.now())

    # Then it finds nothing to send: the row is the new batch's
    assert old == new and taken == []
    assert [m.id for m in take_batch(runtime.db, new, owner="batch:new", now=clock.now())] \
        == new


def test_local_pool_gives_back_the_leases_of_batches_it_never_ran(runtime: Runtime,
                                                                   clock: FrozenClock) -> None:
    # Given an in-process pool that is shut down before its queued batches start
    for n in range(6):
        queue(runtime.db, clock.now(), key=f"k{n}")
    pool = LocalDispatcher(runtime, threads=1)
    blocker = threading.Event()
    pool._pool.submit(blocker.wait, 5)  # the only thread is busy

    # When the relay hands out 2 batches and the pool shuts down
    relay_outbox(runtime, pool)
    blocker.set()
    pool.shutdown()

    # Then nothing is left leased: each row was sent or is pending again
    assert {status for status, _ in statuses(runtime.db).values()} <= {SENT, PENDING}
    with pytest.raises(RuntimeError, match="shut down"):
        pool.deliver([1], "batch:x")


def test_each_job_tick_runs_once(db: Database, clock: FrozenClock) -> None:
    tick = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    assert claim_tick(db, "sweep", tick, owner="a", now=clock.now()) is not None
    assert claim_tick(db, "sweep", tick, owner="b", now=clock.now()) is None
    assert claim_tick(db, "relay", tick, owner="b", now=clock.now()) is not None
    clock.advance(timedelta(days=8))
    assert prune_job_runs(db, now=clock.now()) == 2


def test_last_tick_of_interval_and_cron_triggers() -> None:
    now = datetime(2026, 3, 1, 1, 0, 7, 500000, tzinfo=UTC)  # 09:00:07.5 in Shanghai
    every_15 = IntervalTrigger(seconds=15, start_date=ANCHOR, timezone=UTC)
    assert last_tick(every_15, now, timedelta(seconds=15)) == datetime(2026, 3, 1, 1, 0, 0,
                                                                       tzinfo=UTC)
    daily = CronTrigger(hour=9, minute=0, timezone=SHANGHAI)
    assert last_tick(daily, now, timedelta(days=1, minutes=1)) == datetime(
        2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
    monthly = CronTrigger(day=1, hour=8, minute=30, timezone=SHANGHAI)
    assert last_tick(monthly, now - timedelta(hours=1), timedelta(days=32)) == datetime(
        2026, 2, 1, 8, 30, tzinfo=SHANGHAI)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RECTIFY_SWEEP_INTERVAL", "soon", "not a number of seconds"),
    ("RECTIFY_LEASE", "0", "greater than 0"),
    ("RECTIFY_BATCH", "1.5", "whole number"),
    ("RECTIFY_LEADER_LOCK", "zookeeper", "allowed: auto, postgres, redis, file"),
])
def test_bad_run_settings_say_what_is_allowed(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        RunSettings.from_env({name: value})
    assert name in str(caught.value)


def test_leader_lock_choice_follows_the_database(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'r.db'}"
    assert isinstance(leader_lock(sqlite, RunSettings(), "me"), FileLock)
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        leader_lock(sqlite, RunSettings(leader_lock="postgres"), "me")
    with pytest.raises(ConfigurationError, match="BROKER_URL"):
        leader_lock(sqlite, RunSettings(leader_lock="redis"), "me")


def test_file_lock_admits_one_scheduler(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "s.lock"), FileLock(tmp_path / "s.lock")
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_postgres_lock_admits_one_and_frees_with_the_connection(postgres_url: str) -> None:
    first, second = PostgresLock(postgres_url, 3), PostgresLock(postgres_url, 3)
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire()
        first._conn.close()  # the leader's connection is gone (crash, network)
        assert not first.still_held()
        # the server frees the lock once it has noticed the connection is gone
        wait_for(second.try_acquire, timeout=10, what="the lock freed")
        assert second.still_held()
    finally:
        first.release()
        second.release()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_redis_lock_expires_without_renewal(private_redis: RedisServer) -> None:
    first = RedisLock(private_redis.url, 0.6, "first")
    second = RedisLock(private_redis.url, 0.6, "second")
    assert first.try_acquire() and not second.try_acquire()
    assert first.still_held()  # renewed
    time.sleep(0.8)  # the leader stopped renewing: the key expires
    assert second.try_acquire()
    assert not first.still_held()  # the old leader learns it lost
    second.release()
    assert first.try_acquire()
    first.release()


def test_lookback_notices_come_at_6_and_12_months_after_clearance_once_each(
        runtime: Runtime, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue cleared today and another still in progress
    engine = runtime.engine
    cleared = new_issue(engine, number="1")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, cleared, trigger, evidence_file)
    open_issue = new_issue(engine, number="2")
    fire_valid(engine, open_issue, "start", evidence_file)
    cleared_on = local(clock.now()).date()

    # When the daily look-back job runs the day before the 6-month mark, on it, and again
    dispatcher = Collecting()
    assert relay_lookback(runtime, dispatcher) == 1
    [(ids, _)] = dispatcher.batches
    clock.set(datetime.combine(add_months(cleared_on, 6), clock_time(8), SHANGHAI)
              - timedelta(days=1))
    before = lookback_batch(runtime, ids)
    clock.advance(timedelta(days=1))
    on_mark = lookback_batch(runtime, ids)
    again = lookback_batch(runtime, ids)
    clock.set(datetime.combine(add_months(cleared_on, 12), clock_time(8), SHANGHAI))
    at_twelve = lookback_batch(runtime, ids)

    # Then only the cleared issue is looked at, and each mark is noticed once, to the office
    assert ids == [cleared]
    assert (before, on_mark, again, at_twelve) == (0, 1, 0, 1)
    with runtime.db.session() as session:
        notices = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.kind, n.level, n.recipient) for n in notices] == [
        ("lookback", "lookback:6 months", "整改办"), ("lookback", "lookback:12 months", "整改办")]
    assert "回头看" in notices[0].subject and "满6个月" in notices[0].subject


def test_add_months_keeps_the_day_or_takes_the_last_one() -> None:
    assert add_months(date(2021, 3, 28), 6) == date(2021, 9, 28)
    assert add_months(date(2021, 8, 31), 6) == date(2022, 2, 28)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2021, 12, 15), 12) == date(2022, 12, 15)


def test_monthly_report_tells_the_office_the_month_once(runtime: Runtime, clock: FrozenClock,
                                                        evidence_file: Path) -> None:
    # Given three issues: one cleared, one in progress past its deadline, one just assigned
    engine = runtime.engine
    cleared = new_issue(engine, number="1")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, cleared, trigger, evidence_file)
    late = new_issue(engine, number="2", deadline=date(2026, 1, 31))
    fire_valid(engine, late, "start", evidence_file)
    unassigned = new_issue(engine, number="3")

    # When the monthly report runs on 1 March, and again the same day
    clock.set(datetime(2026, 3, 1, 8, 30, tzinfo=SHANGHAI))
    first, second = monthly_report(runtime), monthly_report(runtime)

    # Then the office got one report for February with the figures, in the officials' form
    assert (first, second) == (1, 0)
    with runtime.db.session() as session:
        [report] = session.scalars(select(Notification)
                                   .where(Notification.kind == "report")).all()
        reminders = session.scalars(select(Notification.issue_id)
                                    .where(Notification.level == "missing_report")).all()
    assert report.subject == "【月度调度】2026年2月整改进展"
    assert report.body.startswith("截至2026年3月1日，3个整改任务，已完成整改1个，其余2个正在推进"
                                  "整改，其中1个已超过整改时限。")
    assert "已销号：1个" in report.body and "整改中：1个" in report.body
    # And the two open issues that sent no February report were reminded, once
    assert sorted(reminders) == sorted([late, unassigned])


def test_lookback_campaign_draws_a_reproducible_sample_of_cleared_issues(
        engine: Engine, evidence_file: Path) -> None:
    # Given a plan with 10 cleared issues and 2 still in progress, and another plan
    cleared = []
    for n in range(12):
        issue_id = new_issue(engine, number=str(n + 1), plan="淮北市整改方案")
        steps = ("start",) if n >= 10 else ("start", "apply_acceptance", "clear")
        for trigger in steps:
            fire_valid(engine, issue_id, trigger, evidence_file)
        if n < 10:
            cleared.append(issue_id)
    new_issue(engine, plan="另一方案")

    # When the office starts a 30% look-back campaign with a seed, and the same draw again
    campaign = start_campaign(engine, "淮北市整改方案", actor=OFFICE, percent=30, seed=7)
    again = sorted(random.Random(7).sample(cleared, 3))

    # Then 3 of the 10 cleared issues (rounded up) are in look-back, named in their history
    assert campaign.eligible == 10 and campaign.started == again and not campaign.failed
    for issue_id in campaign.started:
        issue = queries.get_issue(engine.db, issue_id)
        last = queries.history(engine.db, issue_id)[-1]
        assert issue.state == "follow_up" and campaign.id in (last.comment or "")
    # And a plan with nothing to look back at, or a bad sample, is refused
    with pytest.raises(InputError, match="no issue of plan '另一方案' can start a look-back"):
        start_campaign(engine, "另一方案", actor=OFFICE)
    with pytest.raises(InputError, match="must be above 0% and at most 100%"):
        parse_sample("150%")


def test_rebound_reopens_the_record_and_opens_a_proposal(
        engine: Engine, evidence_file: Path) -> None:
    issue_id = new_issue(engine)
    for trigger in ("start", "apply_acceptance", "clear", "start_follow_up", "rebound"):
        fire_valid(engine, issue_id, trigger, evidence_file)
    last = queries.history(engine.db, issue_id)[-1]
    assert last.trigger == "rebound" and last.payload["clearance_revoked"] is True
    assert last.payload["proposal"] is True
    [proposal] = accountability.proposals(engine)
    assert proposal.issue_id == issue_id and proposal.reason.startswith("反弹：")
    assert queries.get_issue(engine.db, issue_id).state == "in_progress"
