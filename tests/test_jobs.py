"""The scheduler's relays, batch leases, job ticks and job bodies (workflow/jobs.py), on
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from scheduler import ANCHOR, last_tick
from tests.sinks import HttpSink
from tests.support import LOOPBACK, fire_valid, new_issue
from tests.test_notify import queue
from workflow.clock import SHANGHAI, FrozenClock
from workflow.config import RunSettings
from workflow.db import Database
from workflow.issues.engine import Engine
from workflow.jobs import (
    LocalDispatcher,
    Runtime,
    claim_tick,
    deliver_batch,
    monthly_report,
    prune_job_runs,
    relay_outbox,
)
from workflow.models import Notification
from workflow.notify.channels import ChannelRegistry, LogChannel, WebhookChannel
from workflow.notify.delivery import lease_due_notifications, take_batch
from workflow.notify.statuses import PENDING, SENDING, SENT


def make_runtime(engine: Engine, clock: FrozenClock) -> Runtime:
    """Log and webhook channels, batches of 3, at most 7 in flight, 60-second leases."""
    channels = ChannelRegistry([LogChannel(), WebhookChannel(timeout=5, clock=clock,
                                                             hosts=LOOPBACK)])
    return Runtime(engine, channels, RunSettings(batch=3, max_in_flight=7, lease=60))


@pytest.fixture
def runtime(engine: Engine, clock: FrozenClock) -> Runtime:
    return make_runtime(engine, clock)


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
                                  "整改。其中1个已超过整改时限。")
    assert "已销号：1个" in report.body and "整改中：1个" in report.body
    # And the two open issues that sent no February report were reminded, once
    assert sorted(reminders) == sorted([late, unassigned])
