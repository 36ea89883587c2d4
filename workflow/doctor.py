"""Health checks behind ``rectify doctor``: the database, the broker, the scheduler leader,
stuck leases, dead letters, webhook contacts off the allowlist and the lag between due and
sent (a backlog from before the current leader took over is reported as being caught up, not
as lag). No line shows a token: addresses are masked (``channels.mask_secrets``).

Each check is ``ok``, ``warn`` or ``fail``; ``doctor`` exits non-zero when any fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from workflow.clock import local
from workflow.config import RunSettings, Settings
from workflow.db import Database
from workflow.migrate import current_revision, head_revision
from workflow.models import Contact, JobRun, Notification, SchedulerLeadership, Timer
from workflow.notify.channels import WEBHOOK, mask_secrets, webhook_refusal

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _ago(now: datetime, then: datetime) -> str:
    seconds = int((now - then).total_seconds())
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def check_database(db: Database) -> Check:
    url = make_url(str(db.engine.url)).render_as_string(hide_password=True)
    try:
        current, head = current_revision(db), head_revision()
    except Exception as exc:
        return Check("database", FAIL, f"{url} unreachable: {exc}")
    if current != head:
        return Check("database", FAIL, f"{url} at schema {current or 'none'}, code expects "
                     f"{head}: run `rectify init`")
    return Check("database", OK, f"{url}, schema {current}")


def check_broker(run: RunSettings, queue: str) -> Check:
    if run.broker_url is None:
        return Check("broker", OK, "embedded mode (no BROKER_URL): tasks run in `rectify serve`")
    import redis

    where = make_url(run.broker_url).render_as_string(hide_password=True)
    try:
        client = redis.Redis.from_url(run.broker_url, socket_timeout=3, socket_connect_timeout=3)
        client.ping()
        queued = client.llen(queue)
    except (redis.RedisError, OSError) as exc:
        return Check("broker", FAIL, f"{where} unreachable: {exc}")
    return Check("broker", OK, f"{where} reachable, {queued} task(s) waiting in '{queue}'")


def check_leader(db: Database, run: RunSettings, now: datetime) -> Check:
    with db.session() as session:
        last = session.execute(select(JobRun.owner, JobRun.started_at)
                               .where(JobRun.job == "sweep")
                               .order_by(JobRun.started_at.desc()).limit(1)).first()
    limit = timedelta(seconds=max(3 * run.sweep_interval + run.lock_period, 60))
    if last is None:
        return Check("leader", FAIL, "no scheduler has ever run the sweep: start "
                     "`rectify scheduler` (with workers) or `rectify serve`")
    owner, started = last
    if now - started > limit:
        return Check("leader", FAIL, f"no sweep since {local(started):%Y-%m-%d %H:%M:%S} "
                     f"({_ago(now, started)}, last leader {owner}): is a scheduler running?")
    return Check("leader", OK, f"{owner}, last sweep {_ago(now, started)}")


def check_leases(db: Database, run: RunSettings, now: datetime) -> Check:
    grace = now - timedelta(seconds=2 * max(run.sweep_interval, run.relay_interval) + 5)
    with db.session() as session:
        timers = session.scalar(select(func.count()).select_from(Timer).where(
            Timer.status == "leased", Timer.lease_until < grace))
        messages = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.status == "sending", Notification.lease_until < grace))
    if timers or messages:
        return Check("leases", FAIL, f"{timers} timer(s) and {messages} message(s) hold "
                     "expired leases nobody reclaimed: is the scheduler running?")
    return Check("leases", OK, "no expired leases waiting")


def check_dead_letters(db: Database) -> Check:
    with db.session() as session:
        dead = session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.status == "dead"))
    if dead:
        return Check("dead letters", FAIL, f"{dead} message(s) gave up: see `rectify outbox "
                     "dead`, fix the contact or channel, then `rectify outbox retry`")
    return Check("dead letters", OK, "none")


def check_contacts(db: Database, settings: Settings) -> Check:
    """Webhook contacts whose host is not on ``RECTIFY_WEBHOOK_HOSTS`` (or not https): their
    messages are refused at delivery."""
    with db.session() as session:
        hooks = session.execute(select(Contact.name, Contact.address)
                                .where(Contact.channel == WEBHOOK).order_by(Contact.id)).all()
    refused = [f"{name} {mask_secrets(address)}" for name, address in hooks
               if webhook_refusal(address, settings.webhook_hosts)]
    if refused:
        return Check("contacts", WARN, f"{len(refused)} webhook contact(s) off the allowlist "
                     f"(RECTIFY_WEBHOOK_HOSTS: {', '.join(settings.webhook_hosts.names)}); "
                     f"their messages are refused: {'; '.join(refused)}")
    return Check("contacts", OK, f"{len(hooks)} webhook contact(s), all on the allowlist")


def check_lag(db: Database, run: RunSettings, now: datetime) -> Check:
    """How long due rows wait, counted from when they fell due while a scheduler led.

    A row that fell due before the current leader took over (an outage, a first start on old
    data) is a backlog being caught up, not lag: its wait counts from the takeover. The
    check fails only when that wait exceeds ``RECTIFY_DOCTOR_MAX_LAG``.
    """
    with db.session() as session:
        message = session.scalar(select(func.min(Notification.next_attempt_at)).where(
            Notification.status == "pending", Notification.next_attempt_at <= now))
        timer = session.scalar(select(func.min(Timer.due_at)).where(
            Timer.status == "pending", Timer.due_at <= now))
        since = session.scalar(select(SchedulerLeadership.since)
                               .where(SchedulerLeadership.id == 1))
    waits = [(what, due) for what, due in (("message", message), ("timer", timer))
             if due is not None]
    if not waits:
        return Check("lag", OK, "无待处理积压 (nothing due is waiting)")
    what, oldest = min(waits, key=lambda pair: pair[1])
    if since is not None and oldest < since:
        backlog = _backlog(db, now)
        waited = now - since
        text = (f"正在补发积压 {backlog} 条 (catching up {backlog} rows due before the "
                f"scheduler took over at {local(since):%Y-%m-%d %H:%M:%S}; working on them "
                f"for {int(waited.total_seconds())} s)")
        if waited > timedelta(seconds=run.max_lag):
            return Check("lag", FAIL, f"{text}: slower than RECTIFY_DOCTOR_MAX_LAG "
                         f"{run.max_lag:g} s; are the workers running?")
        return Check("lag", WARN, text)
    worst = now - oldest
    text = f"最久等待 {int(worst.total_seconds())} 秒 (oldest due {what} has waited " \
           f"{int(worst.total_seconds())} s)"
    if worst > timedelta(seconds=run.max_lag):
        return Check("lag", FAIL, f"{text} (limit {run.max_lag:g} s, RECTIFY_DOCTOR_MAX_LAG)")
    return Check("lag", OK, text)


def _backlog(db: Database, now: datetime) -> int:
    """Due rows not settled yet: waiting or handed out."""
    with db.session() as session:
        messages = session.scalar(select(func.count()).select_from(Notification).where(
            Notification.status.in_(("pending", "sending")),
            Notification.next_attempt_at <= now)) or 0
        timers = session.scalar(select(func.count()).select_from(Timer).where(
            Timer.status.in_(("pending", "leased")), Timer.due_at <= now)) or 0
    return messages + timers


def diagnose(settings: Settings, run: RunSettings, now: datetime) -> list[Check]:
    """Run every check; later checks are skipped when the database is unusable."""
    db = Database(settings.database_url)
    try:
        checks = [check_database(db), check_broker(run, settings.queue)]
        if checks[0].status == FAIL:
            return checks
        checks += [check_leader(db, run, now), check_leases(db, run, now),
                   check_dead_letters(db), check_contacts(db, settings),
                   check_lag(db, run, now)]
        return checks
    finally:
        db.dispose()


def healthy(checks: list[Check]) -> bool:
    return all(check.status != FAIL for check in checks)


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"healthy": healthy(checks), "checks": [check.as_dict() for check in checks]}
