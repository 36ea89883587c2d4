"""The scheduler process: APScheduler jobs behind a leader lock.

Jobs (UTC, ``coalesce=True``, ``max_instances=1``, explicit ids with ``replace_existing``):

* ``sweep`` every ``RECTIFY_SWEEP_INTERVAL`` s (15): lease due timers, hand them to workers;
* ``relay`` every ``RECTIFY_RELAY_INTERVAL`` s (5): lease due outbox rows, hand them out;
* ``digest`` daily at 09:00 Asia/Shanghai: fold held reminders into the daily digest;
* ``lookback`` daily at 08:00 Asia/Shanghai: look-back (回头看) notices for the marks that
  have come (the default lifecycle: 6 and 12 months after clearance);
* ``monthly_report`` on the 1st at 08:30 Asia/Shanghai: last month's progress to the office;
* ``housekeeping`` daily at 03:00 Asia/Shanghai: drop job-run records older than 7 days;
* ``checkpoint`` daily at 02:30 Asia/Shanghai: sign a digest of every history chain's head
  into the checkpoint log (run here, not by a worker: the signing key stays on this machine).

Exactly one scheduler runs jobs: the one holding the leader lock. The others are standbys
that try the lock every tenth of ``RECTIFY_LOCK_PERIOD`` and take over within one period of
the leader's end. Locks: a PostgreSQL advisory lock on a dedicated connection (losing the
connection loses leadership), a Redis key with a TTL renewed by the leader, or a file lock
next to the SQLite file. On top of the lock, each run records its job and tick (the
scheduled time it serves) under a unique key, so a tick runs once even when leadership
changes hands in the middle of it.

``rectify scheduler`` (or ``python scheduler.py``) runs this with Celery workers;
``rectify serve`` runs it with an in-process pool (embedded mode). This module does not
import the command line; the command line calls ``run_from_env``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

from workflow.clock import SHANGHAI
from workflow.config import RunSettings
from workflow.errors import ConfigurationError, DefinitionError, InputError, RectifyError
from workflow.jobs import (
    Dispatcher,
    Runtime,
    claim_tick,
    daily_checkpoint,
    finish_tick,
    prune_job_runs,
    record_leadership,
    relay_lookback,
    relay_outbox,
    relay_timers,
)

logger = logging.getLogger("rectify.scheduler")

# Interval ticks are counted from this instant, so every scheduler has the same ticks.
ANCHOR = datetime(2020, 1, 1, tzinfo=UTC)
# "rsch": not the audit trail's chain lock ("rect", workflow.audit), which every
# administrative change and sign-in takes; sharing it, a leader blocked them all.
ADVISORY_KEY = 0x72736368
REDIS_KEY = "rectify:scheduler:leader"
MISFIRE_GRACE = 60 * 60


# --- leader locks ----------------------------------------------------------------------------

class LeaderLock(Protocol):
    """Who may run jobs. ``try_acquire`` never blocks; ``still_held`` is called by the leader
    every third of the lock period and renews where the lock expires."""

    description: str

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLock:
    """``pg_try_advisory_lock`` on a connection of its own: the server frees the lock when
    the connection ends, so a killed leader loses it at once and a cut-off one as soon as
    its connection is found dead."""

    def __init__(self, database_url: str, period: float):
        import psycopg

        self._psycopg = psycopg
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._timeout = max(1, int(period / 2))
        self._conn: Any = None
        self.description = f"PostgreSQL advisory lock {ADVISORY_KEY} on {url.host}"

    def try_acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=self._timeout,
                    keepalives=1, keepalives_idle=self._timeout, keepalives_interval=1,
                    keepalives_count=2, application_name="rectify-scheduler")
            return bool(self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                           (ADVISORY_KEY,)).fetchone()[0])
        except self._psycopg.Error as exc:
            logger.warning("cannot reach PostgreSQL for the leader lock: %s", exc)
            self._close()
            return False

    def still_held(self) -> bool:
        try:
            held = self._conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = %s", (ADVISORY_KEY,)).fetchone()[0]
            return bool(held)
        except (self._psycopg.Error, AttributeError) as exc:
            logger.warning("leader lock connection lost: %s", exc)
            self._close()
            return False

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            with contextlib.suppress(self._psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_KEY,))
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class RedisLock:
    """A Redis key holding this scheduler's token with a TTL of one lock period; the leader
    renews it (only if the token is still its own) every third of the period."""

    RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
             "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
    RELEASE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
               "return redis.call('del', KEYS[1]) else return 0 end")

    def __init__(self, redis_url: str, period: float, token: str):
        import redis

        self._redis = redis.Redis.from_url(redis_url, socket_timeout=max(0.5, period / 4),
                                           socket_connect_timeout=max(0.5, period / 4))
        self._errors = (redis.RedisError, OSError)
        self._ttl_ms = int(period * 1000)
        self._token = token
        self.description = f"Redis key {REDIS_KEY} (TTL {period:g} s)"

    def try_acquire(self) -> bool:
        try:
            return bool(self._redis.set(REDIS_KEY, self._token, nx=True, px=self._ttl_ms))
        except self._errors as exc:
            logger.warning("cannot reach Redis for the leader lock: %s", exc)
            return False

    def still_held(self) -> bool:
        try:
            return bool(self._redis.eval(self.RENEW, 1, REDIS_KEY, self._token, self._ttl_ms))
        except self._errors as exc:
            # Without a renewal the key expires; another scheduler may be leader already.
            logger.warning("cannot renew the leader lock in Redis: %s", exc)
            return False

    def release(self) -> None:
        with contextlib.suppress(self._errors):
            self._redis.eval(self.RELEASE, 1, REDIS_KEY, self._token)


class FileLock:
    """An exclusive lock on a file next to the SQLite database (one machine only)."""

    def __init__(self, path: Path):
        import filelock

        self._lock = filelock.FileLock(str(path))
        self._timeout = filelock.Timeout
        self.description = f"file lock {path}"

    def try_acquire(self) -> bool:
        try:
            self._lock.acquire(timeout=0)
        except self._timeout:
            return False
        return True

    def still_held(self) -> bool:
        return self._lock.is_locked

    def release(self) -> None:
        self._lock.release(force=True)


def lock_path(database_url: str) -> Path:
    """The scheduler's lock file for a SQLite database: ``<database file>.scheduler.lock``."""
    database = make_url(database_url).database or "rectify.db"
    return Path(database + ".scheduler.lock") if database != ":memory:" else \
        Path("rectify.scheduler.lock")


def leader_lock(database_url: str, run: RunSettings, owner: str) -> LeaderLock:
    """The leader lock that ``RECTIFY_LEADER_LOCK`` (default ``auto``) selects.

    Raises:
        ConfigurationError: the chosen lock cannot be used with this database or broker.
    """
    kind = run.leader_lock
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    if kind == "auto":
        kind = "postgres" if postgres else "file"
    if kind == "postgres":
        if not postgres:
            raise ConfigurationError("RECTIFY_LEADER_LOCK=postgres needs a PostgreSQL "
                                     "DATABASE_URL; use file (SQLite) or redis")
        return PostgresLock(database_url, run.lock_period)
    if kind == "redis":
        url = run.lock_redis_url or run.broker_url
        if not url:
            raise ConfigurationError("RECTIFY_LEADER_LOCK=redis needs RECTIFY_LOCK_REDIS_URL "
                                     "or BROKER_URL")
        return RedisLock(url, run.lock_period, owner)
    if postgres:
        raise ConfigurationError("RECTIFY_LEADER_LOCK=file works only for a SQLite database "
                                 "(one machine); use postgres or redis")
    return FileLock(lock_path(database_url))


# --- the jobs --------------------------------------------------------------------------------

@dataclass(frozen=True)
class JobSpec:
    id: str
    trigger: BaseTrigger
    window: timedelta  # at least one period: the latest tick lies within it
    body: Callable[[], Any]


def last_tick(trigger: BaseTrigger, now: datetime, window: timedelta) -> datetime:
    """The latest time ``trigger`` fires at or before ``now`` (the tick a run serves)."""
    tick = None
    fire = trigger.get_next_fire_time(None, now - window)
    while fire is not None and fire <= now:
        tick = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return tick or now


def job_specs(runtime: Runtime, dispatcher: Dispatcher) -> list[JobSpec]:
    run = runtime.run

    def interval(seconds: float) -> IntervalTrigger:
        return IntervalTrigger(seconds=seconds, start_date=ANCHOR, timezone=UTC)

    return [
        JobSpec("sweep", interval(run.sweep_interval), timedelta(seconds=run.sweep_interval),
                lambda: relay_timers(runtime, dispatcher)),
        JobSpec("relay", interval(run.relay_interval), timedelta(seconds=run.relay_interval),
                lambda: relay_outbox(runtime, dispatcher)),
        JobSpec("digest", CronTrigger(hour=9, minute=0, timezone=SHANGHAI),
                timedelta(days=1, minutes=1), lambda: dispatcher.job("digest")),
        JobSpec("lookback", CronTrigger(hour=8, minute=0, timezone=SHANGHAI),
                timedelta(days=1, minutes=1), lambda: relay_lookback(runtime, dispatcher)),
        JobSpec("monthly_report", CronTrigger(day=1, hour=8, minute=30, timezone=SHANGHAI),
                timedelta(days=32), lambda: dispatcher.job("monthly_report")),
        JobSpec("housekeeping", CronTrigger(hour=3, minute=0, timezone=SHANGHAI),
                timedelta(days=1, minutes=1),
                lambda: prune_job_runs(runtime.db, now=runtime.now())),
        JobSpec("checkpoint", CronTrigger(hour=2, minute=30, timezone=SHANGHAI),
                timedelta(days=1, minutes=1), lambda: daily_checkpoint(runtime)),
    ]


class Scheduler:
    """APScheduler jobs that run only while this process holds the leader lock.

    Args:
        runtime: engine, channels and run settings.
        dispatcher: where batches go (Celery or the in-process pool).
        lock: the leader lock.
        owner: this scheduler's name in job-run records and logs.
    """

    def __init__(self, runtime: Runtime, dispatcher: Dispatcher, lock: LeaderLock,
                 owner: str | None = None):
        self.runtime, self.dispatcher, self.lock = runtime, dispatcher, lock
        self.owner = owner or scheduler_name()
        self.leader = False
        self.aps = BackgroundScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE})
        self.specs = job_specs(runtime, dispatcher)
        for spec in self.specs:
            self.aps.add_job(self._run, spec.trigger, args=(spec,), id=spec.id, name=spec.id,
                             replace_existing=True)

    def _run(self, spec: JobSpec) -> None:
        if not self.leader:
            return
        now = self.runtime.now()
        tick = last_tick(spec.trigger, now, spec.window)
        run_id = claim_tick(self.runtime.db, spec.id, tick, owner=self.owner, now=now)
        if run_id is None:
            logger.debug("%s tick %s ran already", spec.id, tick.isoformat())
            return
        try:
            result = spec.body()
        except Exception as exc:
            logger.exception("job %s (tick %s) failed", spec.id, tick.isoformat())
            finish_tick(self.runtime.db, run_id, outcome="failed",
                        detail=f"{type(exc).__name__}: {exc}"[:2000], now=self.runtime.now())
            return
        finish_tick(self.runtime.db, run_id, outcome="ok",
                    detail=None if result is None else str(result), now=self.runtime.now())
        if result:
            logger.info("job %s (tick %s): %s", spec.id, tick.isoformat(), result)

    def _record_leadership(self) -> None:
        try:
            record_leadership(self.runtime.db, self.owner, now=self.runtime.now())
        except Exception:
            # Jobs run all the same; doctor then measures lag without knowing the start.
            logger.exception("could not record the leadership of %s", self.owner)

    def run(self, stop: threading.Event) -> None:
        """Lead or stand by until ``stop`` is set; then finish the running job, let go of
        the lock and return."""
        period = self.runtime.run.lock_period
        self.aps.start(paused=True)
        logger.info("scheduler %s up; leader lock: %s", self.owner, self.lock.description)
        try:
            while not stop.is_set():
                if not self.leader:
                    if self.lock.try_acquire():
                        self.leader = True
                        logger.info("scheduler %s is the leader; running jobs", self.owner)
                        self._record_leadership()
                        self.aps.resume()
                elif not self.lock.still_held():
                    self.leader = False
                    self.aps.pause()
                    logger.warning("scheduler %s lost the leader lock; standing by",
                                   self.owner)
                stop.wait(period / 3 if self.leader else max(0.2, period / 10))
        finally:
            self.leader = False
            self.aps.shutdown(wait=True)
            self.lock.release()
            logger.info("scheduler %s stopped", self.owner)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (graceful shutdown)."""
    stop = threading.Event()

    def handle(signum: int, _frame: Any) -> None:
        logger.info("%s received; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def serve(runtime: Runtime, *, distributed: bool) -> None:
    """Run the scheduler until SIGTERM/SIGINT: with Celery workers (``distributed``) or with
    the in-process pool (embedded mode)."""
    from workflow.jobs import LocalDispatcher

    run = runtime.run
    dispatcher: Any
    if distributed:
        from workers.app import CeleryDispatcher

        dispatcher = CeleryDispatcher()
    else:
        dispatcher = LocalDispatcher(runtime, run.threads)
    url = runtime.db.engine.url.render_as_string(hide_password=False)
    owner = scheduler_name()
    scheduler = Scheduler(runtime, dispatcher, leader_lock(url, run, owner), owner)
    stop = stop_on_signals()
    try:
        scheduler.run(stop)
    finally:
        dispatcher.shutdown()


def scheduler_name() -> str:
    """``host:pid:random``: names this scheduler in job runs, logs and the Redis lock."""
    return f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def configure_logging() -> None:
    """Log to stderr at ``RECTIFY_LOG_LEVEL`` (INFO), APScheduler's own records from WARNING."""
    level = os.environ.get("RECTIFY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every 15 s "job executed" is noise; the scheduler logs what its jobs did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def run_from_env(*, distributed: bool) -> None:
    """What ``rectify scheduler`` (``distributed``) and ``rectify serve`` run: configure
    logging, build the runtime from the environment and serve until SIGTERM/SIGINT.

    Raises:
        ConfigurationError: ``distributed`` without ``BROKER_URL``, or an unusable
            environment.
    """
    if distributed and RunSettings.from_env().broker_url is None:
        raise ConfigurationError("rectify scheduler hands work to Celery workers and needs "
                                 "BROKER_URL (e.g. redis://127.0.0.1:6379/0); without a "
                                 "broker run `rectify serve` (embedded mode)")
    configure_logging()
    serve(Runtime.from_env(), distributed=distributed)


def main() -> int:
    """``python scheduler.py``: the same as ``rectify scheduler``; the engine's errors are
    printed to stderr with exit code 1 (2 for bad input)."""
    try:
        run_from_env(distributed=True)
    except DefinitionError as exc:
        for fault in exc.faults:
            print(fault, file=sys.stderr)
        print(f"{len(exc.faults)} problem(s) found", file=sys.stderr)
        return 1
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RectifyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
