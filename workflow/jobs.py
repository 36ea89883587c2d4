"""Background work as plain functions: the scheduler's jobs and the batches workers run.

The scheduler's relays lease due rows (timers, outbox messages) to a batch token and hand
the ids to a ``Dispatcher``; a worker runs ``process_timers`` or ``deliver_batch`` on them.
The same bodies run in Celery workers (``workers/``) and on the in-process pool of
``rectify serve`` (``LocalDispatcher``); nothing here knows which.

Nothing is trusted to the broker. A batch is a lease on database rows: if its message is
lost, or its worker dies, the lease runs out and the next relay hands the rows out again.
Delivery attempts are counted on the rows when a worker starts them (``take_batch``), so a
message stuck in a dead broker does not use up its attempts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from workflow.config import RunSettings, Settings
from workflow.db import Database
from workflow.documents.figures import queue_monthly
from workflow.issues.checkpoints import write_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles
from workflow.issues.sweep import (
    SweepReport,
    lease_due_timers,
    release_timers,
    settle,
    take_timers,
    timers_in_flight,
)
from workflow.models import JobRun, SchedulerLeadership
from workflow.notify.channels import ChannelRegistry, channels_from_env
from workflow.notify.delivery import (
    DeliveryReport,
    in_flight,
    lease_due_notifications,
    release_batch,
    send_messages,
    take_batch,
)
from workflow.notify.digest import compose_digests
from workflow.spec.durations import previous_month
from workflow.startup import check_lease, open_engine
from workflow.supervision import lookback, monthly_reports

logger = logging.getLogger(__name__)

JOB_RUNS = JobRun.__table__
LEADERSHIP = SchedulerLeadership.__table__
KEEP_JOB_RUNS = timedelta(days=7)


@dataclass
class Runtime:
    """What a job or a batch needs: the engine, the channels and the run settings."""

    engine: Engine
    channels: ChannelRegistry
    run: RunSettings

    @classmethod
    def from_env(cls) -> Runtime:
        """The runtime the environment configures.

        Raises:
            ConfigurationError: the database is not ready, or ``RECTIFY_LEASE`` is too short
                for the channel timeouts (``startup.check_lease``).
        """
        run, channels = RunSettings.from_env(), channels_from_env()
        check_lease(run, channels)
        return cls(open_engine(Settings.from_env()), channels, run)

    @property
    def db(self) -> Database:
        return self.engine.db

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.run.lease)

    def now(self) -> datetime:
        return self.engine.clock.now()


def new_token() -> str:
    """A batch token: the lease owner of the rows one batch carries."""
    return f"batch:{uuid.uuid4().hex}"


# --- what a worker runs ----------------------------------------------------------------------

def deliver_batch(runtime: Runtime, ids: list[int], token: str) -> DeliveryReport:
    """Send the outbox rows ``ids`` that are still leased to ``token``, renewing the lease
    before each send and recording each outcome as it happens."""
    now = runtime.now()
    messages = take_batch(runtime.db, ids, owner=token, now=now, lease=runtime.lease)
    if len(messages) < len(ids):
        logger.info("batch %s: %s of %s row(s) were settled or handed out again meanwhile",
                    token, len(ids) - len(messages), len(ids))
    return send_messages(runtime.db, runtime.channels, messages, clock=runtime.engine.clock,
                         owner=token, lease=runtime.lease)


def process_timers(runtime: Runtime, ids: list[int], token: str) -> SweepReport:
    """Settle the timers ``ids`` that are still leased to ``token``."""
    now = runtime.now()
    claimed = take_timers(runtime.db, ids, owner=token, now=now, lease=runtime.lease)
    return settle(runtime.engine, claimed, owner=token, now=now)


def lookback_batch(runtime: Runtime, ids: list[int]) -> int:
    """Queue the look-back notices that have come for the issues ``ids``."""
    return lookback.queue_notices(runtime.engine, ids, now=runtime.now())


def daily_digest(runtime: Runtime) -> int:
    """Fold the reminders held for the digest into today's digest messages."""
    return compose_digests(runtime.db, now=runtime.now(), settings=runtime.engine.settings)


def monthly_report(runtime: Runtime) -> int:
    """Mark last month's missing progress reports (yellow, reminder to the unit), then queue
    last month's progress report for the office; returns the messages queued."""
    now = runtime.now()
    missing = monthly_reports.flag_missing(runtime.engine, previous_month(now))
    if missing:
        logger.info("%s issue(s) owe last month's progress report", missing)
    return queue_monthly(runtime.engine, now=now)


def daily_checkpoint(runtime: Runtime) -> str:
    """Sign a checkpoint of every history chain's head into the checkpoint log. The
    scheduler runs it itself, not a worker: the signing key and the log stay on its machine."""
    files = TrustFiles.for_database(runtime.db.url)
    made = write_checkpoint(runtime.db, files, runtime.now())
    return (f"checkpoint #{made.seq}: {made.issues} issue(s), {made.events} event(s), root "
            f"{made.digest} in {files.checkpoint_log}")


JOB_BODIES: dict[str, Callable[[Runtime], int]] = {
    "digest": daily_digest,
    "monthly_report": monthly_report,
}


def run_job(runtime: Runtime, name: str) -> int:
    """Run the named job body (``digest`` or ``monthly_report``)."""
    try:
        body = JOB_BODIES[name]
    except KeyError:
        raise ValueError(f"unknown job {name!r}; jobs: {', '.join(JOB_BODIES)}") from None
    return body(runtime)


# --- how batches reach a worker --------------------------------------------------------------

class Dispatcher(Protocol):
    """Hands batches to workers. ``deliver``/``timers`` raise when the batch could not be
    handed over (the relay then gives its rows back)."""

    def deliver(self, ids: list[int], token: str) -> None: ...

    def timers(self, ids: list[int], token: str) -> None: ...

    def lookback(self, ids: list[int]) -> None: ...

    def job(self, name: str) -> None: ...


class LocalDispatcher:
    """Embedded mode: batches run on a small in-process thread pool.

    Args:
        runtime: what the batches run against.
        threads: pool size.
    """

    def __init__(self, runtime: Runtime, threads: int):
        self.runtime = runtime
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rectify-task")
        self._lock = threading.Lock()
        self._closed = False

    def _submit(self, label: str, body: Callable[..., Any], *args: Any,
                release: Callable[[], int] | None = None) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the in-process pool is shut down")
            future = self._pool.submit(_logged, label, body, self.runtime, *args)

        def done(f: Future[Any]) -> None:
            if f.cancelled() and release is not None:
                release()

        future.add_done_callback(done)

    def deliver(self, ids: list[int], token: str) -> None:
        self._submit(f"deliver {token}", deliver_batch, ids, token,
                     release=lambda: release_batch(self.runtime.db, ids, owner=token))

    def timers(self, ids: list[int], token: str) -> None:
        self._submit(f"timers {token}", process_timers, ids, token,
                     release=lambda: release_timers(self.runtime.db, ids, owner=token))

    def lookback(self, ids: list[int]) -> None:
        self._submit("lookback", lookback_batch, ids)

    def job(self, name: str) -> None:
        self._submit(name, run_job, name)

    def shutdown(self) -> None:
        """Finish the batches running now; give back the leases of those still queued."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)


def _logged(label: str, body: Callable[..., Any], *args: Any) -> Any:
    try:
        result = body(*args)
    except Exception:
        logger.exception("%s failed; its rows are handed out again after their lease", label)
        raise
    logger.debug("%s: %s", label, result)
    return result


# --- what the scheduler's relays do ----------------------------------------------------------

def relay_outbox(runtime: Runtime, dispatcher: Dispatcher) -> int:
    """Lease due outbox rows in batches and hand each batch to a worker, keeping at most
    ``max_in_flight`` rows out; returns how many rows were handed out."""
    run = runtime.run
    now = runtime.now()
    budget = run.max_in_flight - in_flight(runtime.db, now=now)
    handed = 0
    while budget > 0:
        token = new_token()
        ids = lease_due_notifications(runtime.db, now=now, limit=min(run.batch, budget),
                                      owner=token, lease=runtime.lease)
        if not ids:
            break
        try:
            dispatcher.deliver(ids, token)
        except Exception:
            release_batch(runtime.db, ids, owner=token)
            raise
        handed += len(ids)
        budget -= len(ids)
    return handed


def relay_timers(runtime: Runtime, dispatcher: Dispatcher) -> int:
    """Lease due timers and hand them to workers in batches of whole issues (an issue's due
    timers settle together); returns how many timers were handed out."""
    run = runtime.run
    now = runtime.now()
    budget = run.max_in_flight - timers_in_flight(runtime.db, now=now)
    if budget <= 0:
        return 0
    token = new_token()
    pairs = lease_due_timers(runtime.db, now=now, limit=budget, owner=token,
                             lease=runtime.lease)
    batches: list[list[int]] = [[]]
    for _issue, group in groupby(sorted(pairs, key=lambda p: (p[1], p[0])),
                                 key=lambda p: p[1]):
        if len(batches[-1]) >= run.batch:
            batches.append([])
        batches[-1].extend(timer_id for timer_id, _ in group)
    handed = 0
    for number, ids in enumerate(batch for batch in batches if batch):
        try:
            dispatcher.timers(ids, token)
        except Exception:
            rest = [i for batch in batches[number:] for i in batch]
            release_timers(runtime.db, rest, owner=token)
            raise
        handed += len(ids)
    return handed


def relay_lookback(runtime: Runtime, dispatcher: Dispatcher) -> int:
    """Hand the issues in states with look-back marks to workers in batches; returns how
    many issues were handed out. Nothing is leased: a lost batch is simply looked at again
    by the next day's run (the notices' dedupe keys make any repeat harmless)."""
    ids = lookback.candidates(runtime.engine)
    for batch in lookback.batches(ids, runtime.run.batch):
        dispatcher.lookback(batch)
    return len(ids)


# --- one run per job and tick ----------------------------------------------------------------

def claim_tick(db: Database, job: str, tick: datetime, *, owner: str,
               now: datetime) -> int | None:
    """Record that ``owner`` runs ``job`` for ``tick``; None when that tick ran already
    (another scheduler got it first)."""
    try:
        with db.transaction() as conn:
            return conn.execute(JOB_RUNS.insert().values(
                job=job, tick=tick, owner=owner, started_at=now, outcome="running")
                .returning(JOB_RUNS.c.id)).scalar_one()
    except IntegrityError:
        return None


def finish_tick(db: Database, run_id: int, *, outcome: str, detail: str | None,
                now: datetime) -> None:
    with db.transaction() as conn:
        conn.execute(update(JOB_RUNS).where(JOB_RUNS.c.id == run_id)
                     .values(outcome=outcome, detail=detail, finished_at=now))


def prune_job_runs(db: Database, *, now: datetime, keep: timedelta = KEEP_JOB_RUNS) -> int:
    """Delete job-run records older than ``keep``; returns how many."""
    with db.transaction() as conn:
        return conn.execute(delete(JOB_RUNS).where(JOB_RUNS.c.started_at < now - keep)).rowcount


def record_leadership(db: Database, owner: str, *, now: datetime) -> None:
    """Record that ``owner`` leads from ``now`` on (the one row of ``scheduler_leadership``);
    ``doctor`` measures lag from here, not from before the scheduler ran."""
    with db.transaction() as conn:
        if not conn.execute(update(LEADERSHIP).where(LEADERSHIP.c.id == 1)
                            .values(owner=owner, since=now)).rowcount:
            conn.execute(LEADERSHIP.insert().values(id=1, owner=owner, since=now))
