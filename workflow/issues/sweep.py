"""The timer sweep: claim due timer rows under a lease, then settle each issue's claimed
timers in one transaction — send the current level once, record the ones it skipped.

The database decides everything: what is due comes from ``timers.due_at <= now`` (so a sweep
after an outage catches up from the rows themselves), the lease makes a crashed sweeper's
rows claimable again, and the unique dedupe key of each notification makes a repeated
settlement harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from workflow.audit import AuditEntry, AuditKey, append_audit
from workflow.clock import SystemClock, local
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import ConflictError
from workflow.issues.engine import Engine
from workflow.issues.rows import SYSTEM_ACTOR, SYSTEM_ROLE, Due, EventDraft, IssueRow
from workflow.issues.transaction import IssueTx
from workflow.models import Timer
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import Notice, enqueue
from workflow.org.actors import Actor
from workflow.spec.timers import (
    CANCELLED,
    DONE,
    ESCALATION,
    LEASED,
    LIGHT_LABELS,
    MILESTONE,
    MISSED,
    PENDING,
    REMINDER,
    SKIPPED,
    WORKING_DAYS,
    calendar_days,
    days_overdue,
    light_of,
    milestone_of,
)
from workflow.spec.workdays import WorkCalendar

logger = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_BATCH = 1000
SETTLE_ATTEMPTS = 3
TIMERS = Timer.__table__


@dataclass(frozen=True)
class ClaimedTimer:
    id: int
    issue_id: int
    state: str
    kind: str
    level: str
    rank: int
    deadline_at: datetime
    due_at: datetime


@dataclass
class SweepReport:
    """What one sweep did (counts of timers and of notifications queued)."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    cancelled: int = 0
    notifications: int = 0
    conflicts: int = 0
    failed: int = 0
    levels: dict[str, int] = field(default_factory=dict)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claim(now: datetime, limit: int, owner: str, lease: timedelta) -> Any:
    t = TIMERS
    due = or_(and_(t.c.status == PENDING, t.c.due_at <= now),
              and_(t.c.status == LEASED, t.c.lease_until < now))
    pick = (select(t.c.id).where(due).order_by(t.c.due_at).limit(limit)
            .with_for_update(skip_locked=True))
    return (update(t).where(t.c.id.in_(pick.scalar_subquery()))
            .values(status=LEASED, lease_owner=owner, lease_until=now + lease,
                    attempts=t.c.attempts + 1))


_TIMER_COLUMNS = ("id", "issue_id", "state", "kind", "level", "rank", "deadline_at", "due_at")


def claim_due_timers(db: Database, *, now: datetime, limit: int, owner: str,
                     lease: timedelta = DEFAULT_LEASE,
                     audit: tuple[AuditEntry, AuditKey] | None = None) -> list[ClaimedTimer]:
    """Lease up to ``limit`` due timers: pending ones whose time has come, and leased ones
    whose lease expired. PostgreSQL skips rows another sweeper holds (``SKIP LOCKED``);
    SQLite serialises sweepers on its write lock (``BEGIN IMMEDIATE``). ``audit`` (a record
    and its key) is appended to the audit trail in the same transaction."""
    t = TIMERS
    claim = _claim(now, limit, owner, lease).returning(*(t.c[c] for c in _TIMER_COLUMNS))
    with db.transaction() as conn:
        claimed = [ClaimedTimer(*row) for row in conn.execute(claim)]
        if audit is not None:
            append_audit(conn, audit[0], at=SystemClock().now(), key=audit[1])
        return claimed


def lease_due_timers(db: Database, *, now: datetime, limit: int, owner: str,
                     lease: timedelta = DEFAULT_LEASE) -> list[tuple[int, int]]:
    """The relay's half of a claim: lease due timers to the batch token ``owner``.

    Returns:
        ``(timer id, issue id)`` pairs, so the relay can keep an issue's timers in one batch.
    """
    t = TIMERS
    with db.transaction() as conn:
        return sorted((row.id, row.issue_id) for row in conn.execute(
            _claim(now, limit, owner, lease).returning(t.c.id, t.c.issue_id)))


def take_timers(db: Database, ids: list[int], *, owner: str, now: datetime,
                lease: timedelta = DEFAULT_LEASE) -> list[ClaimedTimer]:
    """A worker's half: the timers of ``ids`` still leased to ``owner``, lease renewed; any
    whose lease ran out and passed to another batch are left to that batch."""
    t = TIMERS
    wanted = sorted(set(ids))
    if not wanted:
        return []
    take = (update(t).where(t.c.id.in_(wanted), t.c.lease_owner == owner,
                            t.c.status == LEASED)
            .values(lease_until=now + lease)
            .returning(*(t.c[c] for c in _TIMER_COLUMNS)))
    with db.transaction() as conn:
        return [ClaimedTimer(*row) for row in conn.execute(take)]


def sweep(engine: Engine, *, now: datetime | None = None, limit: int = DEFAULT_BATCH,
          owner: str | None = None, lease: timedelta = DEFAULT_LEASE,
          moved_by: Actor | None = None) -> SweepReport:
    """Claim what is due and settle it, issue by issue (one transaction each).

    Args:
        now: the time to sweep at (default the engine's clock); ahead of the real time only
            on a training database.
        moved_by: who moved the clock to ``now`` (``sweep --now``): the move goes to the
            audit trail in the claim's transaction.

    Raises:
        InputError: ``now`` is ahead of the real time on a database not for training
            (nothing is claimed).
    """
    now = now or engine.clock.now()
    engine.check_time(now)
    owner = owner or default_owner()
    audit = None if moved_by is None else (
        moved_by.audit("clock_moved", "sweep", now=now.isoformat()), engine.keys.current)
    claimed = claim_due_timers(engine.db, now=now, limit=limit, owner=owner, lease=lease,
                               audit=audit)
    return settle(engine, claimed, owner=owner, now=now)


def settle(engine: Engine, claimed: list[ClaimedTimer], *, owner: str,
           now: datetime) -> SweepReport:
    """Settle claimed timers issue by issue, one transaction each; an issue whose settlement
    fails keeps its leases and is tried again after they expire."""
    report = SweepReport(claimed=len(claimed))
    contacts = Contacts(engine.db)
    for issue_id, timers in groupby(sorted(claimed, key=lambda t: (t.issue_id, t.id)),
                                    key=lambda t: t.issue_id):
        batch = list(timers)
        try:
            for attempt in range(1, SETTLE_ATTEMPTS + 1):
                try:
                    _settle(engine, issue_id, batch, owner=owner, now=now, report=report,
                            contacts=contacts)
                    break
                except ConflictError:
                    # Someone moved the issue (or settled its other timers) meanwhile: the
                    # transaction rolled back and the leases are still ours, so settle again
                    # against the issue as it is now.
                    report.conflicts += 1
                    if attempt == SETTLE_ATTEMPTS:
                        raise
        except Exception:
            report.failed += 1
            logger.exception("settling timers of issue %s failed; they are retried after "
                             "their lease", issue_id)
    if claimed:
        logger.info("sweep %s: %s", owner, report)
    return report


@dataclass
class _Timeline:
    """One deadline's steps for an issue: the issue's own deadline, or one milestone."""

    timers: list[ClaimedTimer]
    live: list[ClaimedTimer]
    reached: int
    milestone: str | None = None


def _timelines(tx: IssueTx, compiled: Any, row: IssueRow,
               candidates: list[ClaimedTimer]) -> list[_Timeline]:
    main = [t for t in candidates if t.kind != MILESTONE]
    timelines = [_Timeline(main, [t for t in main if t.state == row.state
                                  and t.deadline_at == row.due_at],
                           compiled.level_rank(row.escalation_level))]
    by_name: dict[str, list[ClaimedTimer]] = {}
    for t in candidates:
        if t.kind == MILESTONE:
            by_name.setdefault(milestone_of(t.level), []).append(t)
    if by_name:
        open_due = tx.open_milestones(candidates[0].issue_id)
        for name, group in by_name.items():
            live = [t for t in group
                    if t.state == row.state and open_due.get(name) == t.deadline_at]
            reached = tx.milestone_reached_rank(group[0].issue_id, name,
                                                 group[0].deadline_at)
            timelines.append(_Timeline(group, live, reached, name))
    return timelines


def _settle(engine: Engine, issue_id: int, timers: list[ClaimedTimer], *, owner: str,
            now: datetime, report: SweepReport, contacts: Contacts) -> None:
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None:
            return
        compiled = engine.registry.get(row.definition_id, row.definition_version)
        # The current level comes from everything due now, not just this batch's share of it,
        # so a batch limit never splits an issue's catch-up into several notices.
        due = {t.id: t for t in timers}
        due.update((t[0], ClaimedTimer(*t)) for t in tx.due_timers(issue_id, now))
        candidates = sorted(due.values(), key=lambda t: t.id)
        settling = _Settling(tx, compiled, owner=owner, now=now, report=report,
                             contacts=contacts, settings=engine.settings,
                             calendar=engine.calendar)
        for timeline in _timelines(tx, compiled, row, candidates):
            row = _settle_timeline(settling, row, timeline)


@dataclass(frozen=True)
class _Settling:
    """What settling one issue's timelines works with."""

    tx: IssueTx
    compiled: Any
    owner: str
    now: datetime
    report: SweepReport
    contacts: Contacts
    settings: Settings
    calendar: WorkCalendar


def _settle_timeline(s: _Settling, row: IssueRow, timeline: _Timeline) -> IssueRow:
    """Send the timeline's current step once and record the ones it passed; returns the issue
    row as it is after the history event (version and head hash moved on).

    After an outage the current step may be several rungs up the ladder. Every rung passed
    still takes effect: its flag (重点督办) is set, its proposal (问责建议) opened, and its
    recipients (the supervising leader) get the one notice of the current level, which names
    the rungs it covers."""
    tx, now, report = s.tx, s.now, s.report
    notices = s.compiled.definition.notices
    live = timeline.live
    fresh = sorted((t for t in live if t.rank > timeline.reached), key=lambda t: t.rank)
    top = fresh[-1] if fresh else None
    finish = {t.id: (CANCELLED if t not in live else DONE if t is top else SKIPPED)
              for t in timeline.timers}
    ours = {t.id for t in sorted(timeline.timers, key=lambda t: t.id)
            if tx.finish_timer(t.id, owner=s.owner, status=finish[t.id], now=now)}
    if top is not None and top.id not in ours:
        top = None
    skipped = sorted((t for t in live if t is not top and t.id in ours), key=lambda t: t.rank)
    report.cancelled += sum(1 for t in timeline.timers if t not in live and t.id in ours)
    if top is None and not skipped:
        return row
    milestone = timeline.milestone
    missed = top is not None and milestone is not None and top.level.endswith(MISSED)
    levels = {lv.key: lv for lv in notices.escalation}
    level = None if top is None or milestone is not None or top.kind == REMINDER else levels[
        top.level]
    # The rungs of the ladder this notice covers: those passed unsent, then its own.
    passed = [(t, levels[t.level]) for t in skipped if level is not None
              and t.kind == ESCALATION and t.rank > timeline.reached and t.level in levels]
    covered = [*passed, (top, level)] if level is not None else []
    flagged = any(lv.flag == "key_supervision" for _, lv in covered)
    key_supervision = row.key_supervision or flagged
    if milestone is None:
        due = Due(row.due_at, row.due_provisional, top.level if top else row.escalation_level,
                  key_supervision)
        deadline = row.due_at
    else:
        due = Due.of(row)
        deadline = (top or skipped[-1]).deadline_at
    light = "yellow" if missed and not (row.due_at and now > row.due_at) else light_of(
        due_at=row.due_at, completed=False, notices=notices, now=now)
    overdue = days_overdue(deadline, now)
    payload: dict[str, Any] = {"skipped": [t.level for t in skipped], "light": light,
                               "days_overdue": overdue}
    if top is not None:
        payload["level"] = top.level
    if passed:
        payload["covers"] = [t.level for t, _ in passed]
    trigger = "skip" if top is None else "remind" if top.kind == REMINDER or (
        milestone and not missed) else "escalate"
    new_hash = tx.record(issue_id=timeline.timers[0].issue_id,
                          old_version=row.version, prev_hash=row.head_hash, now=now, due=due,
                          event=EventDraft(SYSTEM_ACTOR, SYSTEM_ROLE, trigger, row.state,
                                           row.state, None, payload))
    after = row._replace(version=row.version + 1, head_hash=new_hash, escalation_level=due.level,
                         key_supervision=due.key_supervision)
    report.skipped += len(skipped)
    if top is None:
        return after
    report.sent += 1
    report.levels[top.level] = report.levels.get(top.level, 0) + 1
    for timer, rung in covered:
        if rung.opens_proposal:
            tx.open_proposal(issue_id=timer.issue_id, timer_id=timer.id, now=now,
                              reason=f"逾期{overdue}天未完成整改（{rung.label_zh}）")
    words = s.compiled.words[row.state]
    if milestone is None:
        roles = words.remind if level is None else tuple(dict.fromkeys(
            role for _, rung in covered for role in rung.notify))
    else:
        roles = notices.milestone_missed if missed else notices.remind
    reminder = top.kind == REMINDER or (milestone is not None and not missed)
    names = _recipients(roles, row, office=s.settings.office_name)
    notice = _notice(s, row, top, level, names, deadline=deadline, light=light,
                     overdue=overdue, milestone=milestone, reminder=reminder,
                     covers=[rung.label_zh for _, rung in passed], flagged=flagged,
                     addressee=roles[0] if roles else "unit",
                     held=reminder and notices.digest_reminders)
    report.notifications += enqueue(tx, s.contacts, notice, now=now, settings=s.settings)
    return after


def _recipients(roles: tuple[str, ...] | list[str], row: IssueRow, *,
                office: str) -> tuple[str, ...]:
    """The names behind recipient roles, each once, in the order of ``roles``: the unit, the
    acceptance unit (验收单位; the office when the issue names none), the supervising leader,
    the office."""
    names = {"unit": row.unit or row.lead_unit, "leader": row.leader, "office": office,
             "acceptor": row.acceptance_unit or office}
    return tuple(dict.fromkeys(name for role in roles if (name := names[role])))


def _days_left(s: _Settling, deadline: datetime, working: bool) -> int:
    """Whole days from today to the deadline's day in Asia/Shanghai: calendar days, or
    working days for a state whose deadline is counted in them; 0 on the day itself."""
    if working:
        return max(0, s.calendar.working_days_between(local(s.now).date(),
                                                      local(deadline).date()))
    return max(0, calendar_days(s.now, deadline))


def _notice(s: _Settling, row: IssueRow, top: ClaimedTimer, level: Any,
            names: tuple[str, ...], *, deadline: datetime, light: str, overdue: int,
            milestone: str | None, reminder: bool, covers: list[str], flagged: bool,
            addressee: str, held: bool) -> Notice:
    """The notice of ``top``: a reminder (催办提醒) before its deadline, a 督办通知 at or past
    it; a missed milestone's notice names the milestone; a notice that catches up on passed
    rungs of the ladder names them (``covers``)."""
    template = "reminder" if reminder else "notice"
    words = s.compiled.words[row.state]
    if milestone is not None:
        label, working, own = f"「{milestone}」节点时限", False, False
    else:
        label, working, own = words.label_zh, words.unit == WORKING_DAYS, words.rectification
    context = {
        "issue_id": top.issue_id, "number": row.number, "title": row.title, "unit": row.unit,
        "leader": row.leader, "deadline": local(deadline).date().isoformat(),
        "deadline_label": label,
        "rectification_deadline": None if own or row.deadline_at is None
        else local(row.deadline_at).date().isoformat(),
        "rectification": own or milestone is not None,
        "day_unit": "个工作日" if working else "天",
        "days_left": _days_left(s, deadline, working),
        "days_overdue": overdue, "light": light, "light_label": LIGHT_LABELS[light][0],
        "level": top.level, "level_label": level.label_zh if level else None,
        "milestone": milestone, "covers": covers,
        "addressee": addressee, "action": words.action_zh,
        "acceptance_unit": row.acceptance_unit if addressee == "acceptor" else None,
        "key_supervision": bool(level and level.flag == "key_supervision") or flagged,
        "proposal": bool(level and level.opens_proposal),
    }
    return Notice(template=template, kind=template, level=top.level, issue_id=top.issue_id,
                  timer_id=top.id, context=context, recipients=names,
                  key=f"{top.issue_id}:{top.id}:{top.level}", held=held)


def release_timers(db: Database, ids: list[int], *, owner: str) -> int:
    """Give back timers leased to ``owner`` that no worker took (the batch could not be
    handed over); they are due again at once, their claim not counted."""
    t = TIMERS
    wanted = sorted(set(ids))
    if not wanted:
        return 0
    with db.transaction() as conn:
        return conn.execute(
            update(t).where(t.c.id.in_(wanted), t.c.lease_owner == owner, t.c.status == LEASED)
            .values(status=PENDING, lease_owner=None, lease_until=None,
                    attempts=t.c.attempts - 1)).rowcount


def timers_in_flight(db: Database, *, now: datetime) -> int:
    """Timers leased and not expired: handed to workers and not yet settled."""
    t = TIMERS
    with db.session() as session:
        return session.execute(select(func.count()).select_from(t).where(
            t.c.status == LEASED, t.c.lease_until >= now)).scalar_one()
