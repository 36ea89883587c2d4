"""Durable deadlines: timers written with transitions, swept with leases, one notice per
level, skipped levels recorded, extensions stopping the climb. Runs on SQLite and PostgreSQL
with an injected clock (no sleeping)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.sinks import HttpSink
from tests.support import (
    LOOPBACK,
    LOOPBACK_ENV,
    OFFICE,
    TEST_KEYS,
    UNIT,
    fire_valid,
    new_issue,
    office_act,
    start_directory,
)
from workflow.clock import SHANGHAI, FrozenClock, local
from workflow.config import Settings
from workflow.db import Database
from workflow.documents.briefing import write_monthly
from workflow.errors import InputError
from workflow.issues import queries, views
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.issues.sweep import claim_due_timers, sweep
from workflow.issues.verification import verify
from workflow.models import AccountabilityProposal, Notification, Timer
from workflow.notify.channels import channels_from_env, idempotency_key
from workflow.notify.contacts import add_contact
from workflow.notify.delivery import deliver_due
from workflow.spec.durations import parse_duration
from workflow.spec.timers import Step, calendar_days, days_overdue, plan_timers
from workflow.spec.workdays import load_calendar

DEADLINE_DAY = date(2026, 3, 31)
DEADLINE = datetime(2026, 3, 31, 23, 59, 59, tzinfo=SHANGHAI)
# Notices counted in days fall due at 09:00 Asia/Shanghai: the 7-day reminder on 03-24, the
# red notice on the first day past the deadline, 重点督办 7 days after that.
REMINDER_AT = datetime(2026, 3, 24, 9, 0, tzinfo=SHANGHAI)
RED_AT = datetime(2026, 4, 1, 9, 0, tzinfo=SHANGHAI)


def started_issue(engine: Engine, evidence: Path, **facts: Any) -> int:
    issue_id = new_issue(engine, deadline=DEADLINE_DAY, **facts)
    fire_valid(engine, issue_id, "start", evidence)
    return issue_id


def notices(db: Database, issue_id: int) -> Counter[str]:
    with db.session() as session:
        return Counter(session.scalars(select(Notification.level)
                                       .where(Notification.issue_id == issue_id)))


def timer_statuses(db: Database, issue_id: int) -> Counter[tuple[str, str]]:
    with db.session() as session:
        return Counter(session.execute(select(Timer.state, Timer.status)
                                       .where(Timer.issue_id == issue_id)))


def run_until(engine: Engine, clock: FrozenClock, end: datetime, step: timedelta) -> None:
    while clock.now() < end:
        clock.advance(step)
        sweep(engine)


def test_from_creation_to_40_days_overdue_each_level_is_sent_once(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue in progress with its deadline on 2026-03-31
    issue_id = started_issue(engine, evidence_file)
    # When the clock runs to 40 days past the deadline with a sweep every 6 hours
    run_until(engine, clock, DEADLINE + timedelta(days=40), timedelta(hours=6))
    # Then each reminder and each escalation level went out exactly once
    sent = notices(engine.db, issue_id)
    assert sent == Counter({"reminder:7 days": 1, "reminder:3 days": 1, "reminder:1 day": 1,
                            "red": 2, "key_supervision": 2, "accountability": 1})
    # (reminders to the unit; red and 重点督办 to the leader and the office; 问责建议 to the office)
    with engine.db.session() as session:
        recipients = set(session.execute(select(Notification.level, Notification.recipient)
                                          .where(Notification.issue_id == issue_id)))
        proposals = session.scalars(select(AccountabilityProposal)).all()
    assert ("reminder:1 day", UNIT.name) in recipients
    assert {("red", "王副市长"), ("red", "整改办"), ("accountability", "整改办")} <= recipients
    # And one accountability proposal is open for the office to decide, never a sanction
    assert [(p.issue_id, p.status) for p in proposals] == [(issue_id, "open")]
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.escalation_level, issue.key_supervision) == ("accountability", True)
    events = [e.trigger for e in queries.history(engine.db, issue_id)]
    assert events.count("remind") == 3 and events.count("escalate") == 3
    assert "skip" not in events
    assert verify(engine).ok


def test_notices_fall_due_at_the_right_moments(engine: Engine, clock: FrozenClock,
                                               evidence_file: Path) -> None:
    issue_id = started_issue(engine, evidence_file)
    # One second before 09:00 on the 7th day before the deadline nothing is due; at it, the
    # 7-day reminder is
    clock.set(REMINDER_AT - timedelta(seconds=1))
    assert sweep(engine).claimed == 0
    clock.advance(timedelta(seconds=1))
    assert sweep(engine).levels == {"reminder:7 days": 1}
    # The deadline itself (23:59:59) sends nothing at night: the red notice comes at 09:00 on
    # the first day past it, 重点督办 7 days later, also at 09:00
    clock.set(DEADLINE + timedelta(seconds=1))
    assert "red" not in sweep(engine).levels
    clock.set(RED_AT)
    sweep(engine)
    assert notices(engine.db, issue_id)["red"] == 2
    clock.set(RED_AT + timedelta(days=7) - timedelta(seconds=1))
    sweep(engine)
    assert notices(engine.db, issue_id)["key_supervision"] == 0
    clock.set(RED_AT + timedelta(days=7))
    sweep(engine)
    assert notices(engine.db, issue_id)["key_supervision"] == 2


def test_reminders_fall_due_at_the_configured_local_hour(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an engine configured to send reminders at 15:00 Asia/Shanghai
    configured = Engine(engine.db, engine.evidence, keys=engine.keys, clock=clock,
                        settings=Settings(reminder_hour=15))
    issue_id = started_issue(configured, evidence_file)
    # Then every timer counted in days falls due at 15:00 local time, none at 23:59
    with engine.db.session() as session:
        due = dict(session.execute(select(Timer.level, Timer.due_at)
                                   .where(Timer.issue_id == issue_id)).all())
    assert {level: local(at).strftime("%m-%d %H:%M") for level, at in due.items()} == {
        "reminder:7 days": "03-24 15:00", "reminder:3 days": "03-28 15:00",
        "reminder:1 day": "03-30 15:00", "red": "04-01 15:00",
        "key_supervision": "04-08 15:00", "accountability": "05-01 15:00"}


def test_an_approved_extension_moves_the_deadline_and_stops_the_climb(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue that went red at its deadline
    issue_id = started_issue(engine, evidence_file)
    run_until(engine, clock, DEADLINE + timedelta(days=2), timedelta(hours=12))
    assert notices(engine.db, issue_id)["red"] == 2
    # When the office approves an extension to 2026-06-30
    engine.fire(issue_id, "extend", actor=OFFICE, comment="汛期施工受阻，确有正当理由",
                fields={"new_deadline": "2026-06-30"})
    # Then the old deadline is kept in history and the new one is in force
    event = queries.history(engine.db, issue_id)[-1]
    assert event.payload["previous_deadline"] == "2026-03-31"
    assert event.payload["fields"] == {"new_deadline": "2026-06-30"}
    issue = queries.get_issue(engine.db, issue_id)
    assert issue.due_at == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)
    assert issue.escalation_level is None
    # And no 重点督办 or 问责建议 follows from the old deadline
    run_until(engine, clock, DEADLINE + timedelta(days=40), timedelta(hours=12))
    sent = notices(engine.db, issue_id)
    assert sent["key_supervision"] == 0 and sent["accountability"] == 0
    assert sent["red"] == 2  # only the one from before the extension
    # On 2026-05-10 the new deadline is 51 days away: the light is green again
    view = views.issue_view(engine.db, issue, engine.registry, clock.now())
    assert view["light"] == "green"


def test_leaving_a_state_cancels_every_pending_timer_of_it(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    issue_id = started_issue(engine, evidence_file)
    assert timer_statuses(engine.db, issue_id)[("in_progress", "pending")] == 6
    # When the unit applies for acceptance
    fire_valid(engine, issue_id, "apply_acceptance", evidence_file)
    # Then none of in_progress's timers is left pending, and acceptance has its reminders
    statuses = timer_statuses(engine.db, issue_id)
    assert statuses[("in_progress", "pending")] == 0
    assert statuses[("in_progress", "cancelled")] == 6
    assert statuses[("acceptance", "pending")] == 3  # acceptance does not escalate
    # And sweeping past the old deadline sends nothing for it
    run_until(engine, clock, DEADLINE + timedelta(days=10), timedelta(days=1))
    assert not [level for level in notices(engine.db, issue_id)
                if not level.startswith("reminder")]


def test_after_a_72_hour_gap_one_sweep_sends_only_the_current_level(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue swept until 2 days before its deadline (7- and 3-day reminders went out)
    issue_id = started_issue(engine, evidence_file)
    run_until(engine, clock, DEADLINE - timedelta(days=2), timedelta(hours=6))
    assert notices(engine.db, issue_id) == Counter({"reminder:7 days": 1, "reminder:3 days": 1})
    # When no sweep runs for 72 hours, across the deadline
    clock.advance(timedelta(hours=72))
    report = sweep(engine)
    # Then that one sweep sends the red notice only; the 1-day reminder is skipped silently
    assert report.levels == {"red": 1}
    assert notices(engine.db, issue_id) == Counter(
        {"reminder:7 days": 1, "reminder:3 days": 1, "red": 2})
    last = queries.history(engine.db, issue_id)[-1]
    assert (last.trigger, last.payload["level"], last.payload["skipped"]) == (
        "escalate", "red", ["reminder:1 day"])
    assert timer_statuses(engine.db, issue_id)[("in_progress", "skipped")] == 1
    # And sweeping again sends nothing more
    assert sweep(engine).sent == 0


def test_a_40_day_outage_keeps_every_effect_of_the_ladder(
        engine: Engine, clock: FrozenClock, evidence_file: Path, tmp_path: Path) -> None:
    # Given an issue in progress, due 2026-03-31, and no sweep at all until 40 days past it
    issue_id = started_issue(engine, evidence_file, number="12")
    clock.set(DEADLINE + timedelta(days=40))
    # When the sweep catches up
    report = sweep(engine)
    # Then it sends one notice, of the current level (问责建议), once
    assert report.levels == {"accountability": 1}
    with engine.db.session() as session:
        sent = session.execute(select(Notification.level, Notification.recipient)
                               .where(Notification.issue_id == issue_id)
                               .order_by(Notification.id)).all()
    # to the supervising leader (owed the red notice and 重点督办) and to the office
    assert sent == [("accountability", "王副市长"), ("accountability", "整改办")]
    # And every passed level took effect: 重点督办 set, the proposal open
    issue = queries.get_issue(engine.db, issue_id)
    assert (issue.escalation_level, issue.key_supervision) == ("accountability", True)
    with engine.db.session() as session:
        proposals = session.scalars(select(AccountabilityProposal)).all()
    assert [(p.issue_id, p.status) for p in proposals] == [(issue_id, "open")]
    # And the history says what the one notice covers and what was skipped
    last = queries.history(engine.db, issue_id)[-1]
    assert (last.trigger, last.payload["level"], last.payload["covers"]) == (
        "escalate", "accountability", ["red", "key_supervision"])
    assert last.payload["skipped"] == [
        "reminder:7 days", "reminder:3 days", "reminder:1 day", "red", "key_supervision"]
    # And sweeping again sends nothing more
    assert sweep(engine).sent == 0
    assert verify(engine).ok
    # And the monthly briefing lists the issue under 重点督办
    [markdown] = [path for path in write_monthly(engine, month="2026-05", out=tmp_path / "m")
                  if path.suffix == ".md"]
    text = markdown.read_text(encoding="utf-8")
    section = text[text.index("重点督办"):]
    section = section[:section.index("\n#", 1)] if "\n#" in section[1:] else section
    assert "| 12 | 部分建筑工地扬尘防控不到位 | 相山区人民政府 | 2026-03-31 |" in section


def test_an_expired_lease_is_claimable_again(engine: Engine, clock: FrozenClock,
                                             evidence_file: Path) -> None:
    issue_id = started_issue(engine, evidence_file)
    clock.set(RED_AT + timedelta(hours=1))
    # Given a sweeper that claimed the due timers and died before settling them
    claimed = claim_due_timers(engine.db, now=clock.now(), limit=100, owner="dead",
                               lease=timedelta(minutes=5))
    assert len(claimed) == 4
    # Then a second sweeper does not see them while the lease runs
    assert sweep(engine, now=clock.now() + timedelta(minutes=4)).claimed == 0
    # But after the lease it claims and settles them, sending the red notice once
    clock.advance(timedelta(minutes=6))
    assert sweep(engine).levels == {"red": 1}
    assert notices(engine.db, issue_id)["red"] == 2
    with engine.db.session() as session:
        attempts = session.scalars(select(Timer.attempts).where(
            Timer.issue_id == issue_id, Timer.level == "red")).one()
    assert attempts == 2


def test_light_filter_and_view(engine: Engine, clock: FrozenClock,
                               evidence_file: Path) -> None:
    late = started_issue(engine, evidence_file, number="1")
    soon = new_issue(engine, number="2", deadline=date(2026, 4, 5))
    fire_valid(engine, soon, "start", evidence_file)
    calm = new_issue(engine, number="3", deadline=date(2026, 12, 31))
    fire_valid(engine, calm, "start", evidence_file)
    clock.set(DEADLINE + timedelta(days=1))

    def ids(light: str) -> list[int]:
        return [i.id for i in queries.list_issues(
            engine.db, engine.registry, queries.IssueFilter(light=light), now=clock.now())]

    assert (ids("red"), ids("blue"), ids("green")) == ([late], [soon], [calm])
    view = views.issue_view(engine.db, queries.get_issue(engine.db, late), engine.registry,
                            clock.now())
    assert (view["light"], view["light_label_zh"]) == ("red", "督办")


def _sweep_in_process(url: str, evidence_dir: str, now: str, barrier: Any, out: Any) -> None:
    engine = Engine(Database(url), EvidenceStore(Path(evidence_dir)), keys=TEST_KEYS,
                    clock=FrozenClock(datetime.fromisoformat(now)))
    barrier.wait()
    total = 0
    while True:
        report = sweep(engine, limit=7)
        total += report.sent
        if report.claimed == 0:
            break
    out.put(total)


def test_two_sweepers_at_once_never_send_the_same_notice_twice(
        engine: Engine, clock: FrozenClock, evidence_file: Path, tmp_path: Path) -> None:
    # Given 40 issues all past their deadline, with reminders and the red notice due
    ids = [started_issue(engine, evidence_file, number=str(n)) for n in range(40)]
    clock.set(RED_AT + timedelta(hours=2))
    # When two sweeper processes start at the same moment, in small batches
    url = engine.db.engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_sweep_in_process, args=(
        url, str(tmp_path / "evidence"), clock.now().isoformat(), barrier, out))
        for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    # Then every issue got its red notice exactly once between them
    assert sum(out.get(timeout=10) for _ in workers) == len(ids)
    with engine.db.session() as session:
        per_issue = Counter(session.scalars(select(Notification.issue_id)
                                            .where(Notification.level == "red")))
        keys = session.scalar(select(func.count(func.distinct(Notification.dedupe_key))))
        rows = session.scalar(select(func.count()).select_from(Notification))
    assert per_issue == Counter({issue_id: 2 for issue_id in ids})
    assert keys == rows
    for issue_id in ids:
        assert [e.trigger for e in queries.history(engine.db, issue_id)].count("escalate") == 1
    assert verify(engine).ok


def test_a_deadline_over_an_unannounced_year_is_provisional_until_recomputed(
        engine: Engine, clock: FrozenClock, tmp_path: Path) -> None:
    # Given an issue assigned on Wednesday 2026-12-30: its 3-working-day deadline reaches
    # into 2027, for which no State Council notice is entered yet
    clock.set(datetime(2026, 12, 30, 10, 0, tzinfo=SHANGHAI))
    issue_id = new_issue(engine, deadline=date(2027, 6, 30))
    issue = queries.get_issue(engine.db, issue_id)
    assert issue.due_provisional
    assert issue.due_at == datetime(2027, 1, 5, 15, 59, 59, tzinfo=UTC)  # 31 Dec, 4 Jan, 5 Jan
    # When the office enters the 2027 notice (New Year off 1-4 January) and recomputes
    override = tmp_path / "calendar.yaml"
    override.write_text("years:\n  2027:\n    notice: 测试通知（非官方）\n"
                        "    holidays:\n      - 2027-01-01..2027-01-04\n", encoding="utf-8")
    engine.calendar = load_calendar(override)
    office = start_directory(engine.db)
    assert engine.recompute_provisional_deadlines(actor=office) == [issue_id]
    # Then the deadline moves to the official third working day and is no longer provisional
    issue = queries.get_issue(engine.db, issue_id)
    assert not issue.due_provisional
    assert issue.due_at == datetime(2027, 1, 6, 15, 59, 59, tzinfo=UTC)  # 31 Dec, 5 Jan, 6 Jan
    # And its timers follow the new deadline, and the history says what happened
    pending = {t.deadline_at for t in service_timers(engine, issue_id)}
    assert pending == {issue.due_at}
    event = queries.history(engine.db, issue_id)[-1]
    assert (event.trigger, event.actor) == ("recompute_deadline", "rectify")
    assert event.payload["previous_due"] == "2027-01-05T23:59:59+08:00"
    assert engine.recompute_provisional_deadlines(actor=office) == []
    assert verify(engine).ok


def service_timers(engine: Engine, issue_id: int) -> list[Timer]:
    with engine.db.session() as session:
        return list(session.scalars(select(Timer).where(Timer.issue_id == issue_id,
                                                        Timer.status == "pending")))


def test_milestones_are_planned_backwards_and_a_missed_one_turns_the_light_yellow(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue due 2026-03-31, planned in three stages (倒排工期)
    issue_id = started_issue(engine, evidence_file)
    plan = engine.set_milestones(issue_id, [
        ("方案编制", parse_duration("10 working days")),
        ("工程实施", parse_duration("30 days")),
        ("自查验收", parse_duration("5 working days"))], actor=OFFICE, comment="按整改方案")
    # Then the last stage takes the last 5 working days to the deadline, the 30 days before
    # end on the working day before them, and 方案编制 is due the day 工程实施 begins
    assert plan == [("方案编制", date(2026, 2, 22)), ("工程实施", date(2026, 3, 24)),
                    ("自查验收", date(2026, 3, 31))]
    assert queries.history(engine.db, issue_id)[-1].payload == {"milestones": {
        "方案编制": "2026-02-22", "工程实施": "2026-03-24", "自查验收": "2026-03-31"}}

    def view() -> dict[str, Any]:
        return views.issue_view(engine.db, queries.get_issue(engine.db, issue_id),
                                engine.registry, clock.now())

    # When the first milestone passes unreported, the light is yellow
    clock.set(datetime(2026, 2, 23, 9, 0, tzinfo=SHANGHAI))
    assert view()["light"] == "yellow"
    assert [i.id for i in queries.list_issues(
        engine.db, engine.registry, queries.IssueFilter(light="yellow"), now=clock.now())] == [
        issue_id]
    # And once the unit reports it reached, the light is green again
    engine.reach_milestone(issue_id, "方案编制", actor=UNIT, comment="方案已印发")
    assert view()["light"] == "green"
    assert view()["milestones"][0]["reached_at"] is not None
    with pytest.raises(InputError, match="no open milestone named '方案编制'"):
        engine.reach_milestone(issue_id, "方案编制", actor=UNIT)
    with pytest.raises(InputError, match="do not fit"):
        engine.set_milestones(issue_id, [("全部", parse_duration("90 working days"))],
                              actor=OFFICE)
    assert verify(engine).ok


def test_milestone_reminders_and_the_missed_notice_go_out_once(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue whose first milestone '方案编制' is due 2026-02-24 (35 days before the end)
    issue_id = started_issue(engine, evidence_file)
    engine.set_milestones(issue_id, [("方案编制", parse_duration("10 working days")),
                                     ("工程实施", parse_duration("35 days"))], actor=OFFICE)
    # When the clock runs past it with a sweep every 6 hours
    run_until(engine, clock, datetime(2026, 2, 26, 9, 0, tzinfo=SHANGHAI), timedelta(hours=6))
    # Then the unit was reminded 7, 3 and 1 days before, and the unit and the leader were told
    # once that it was missed (yellow)
    sent = notices(engine.db, issue_id)
    assert sent == Counter({"方案编制|reminder:7 days": 1, "方案编制|reminder:3 days": 1,
                            "方案编制|reminder:1 day": 1, "方案编制|missed": 2})
    event = queries.history(engine.db, issue_id)[-1]
    assert (event.trigger, event.payload["level"], event.payload["light"]) == (
        "escalate", "方案编制|missed", "yellow")
    with engine.db.session() as session:
        missed_to = set(session.scalars(select(Notification.recipient).where(
            Notification.level == "方案编制|missed")))
    assert missed_to == {UNIT.name, "王副市长"}
    # And reaching the second milestone early cancels its pending timers
    engine.reach_milestone(issue_id, "工程实施", actor=UNIT)
    run_until(engine, clock, DEADLINE - timedelta(days=8), timedelta(days=1))
    assert not [level for level in notices(engine.db, issue_id) if level.startswith("工程实施")]
    assert verify(engine).ok


def test_an_overdue_issue_reaches_the_leaders_dingtalk_robot_end_to_end(
        engine: Engine, clock: FrozenClock, evidence_file: Path,
        http_sink: HttpSink) -> None:
    # Given the supervising leader's DingTalk group robot as a contact
    by = office_act(engine.db)
    add_contact(engine.db, "王副市长", "webhook", http_sink.url("/robot/send"),
                {"preset": "dingtalk"}, by=by, hosts=LOOPBACK)
    issue_id = started_issue(engine, evidence_file)
    # When the deadline passes, a sweep runs and the outbox is delivered
    clock.set(RED_AT + timedelta(hours=3))
    sweep(engine)
    report = deliver_due(engine.db, channels_from_env(LOOPBACK_ENV), now=clock.now(),
                         owner="test")
    # Then the robot got one markdown message about the issue, with its idempotency key,
    # and the office's copy went to the log
    assert report.sent == 2
    [received] = http_sink.accepted
    assert received.body["msgtype"] == "markdown"
    assert "部分建筑工地扬尘防控不到位" in received.body["markdown"]["text"]
    with engine.db.session() as session:
        row = session.scalars(select(Notification).where(
            Notification.recipient == "王副市长")).one()
    assert (row.status, row.issue_id, row.channel) == ("sent", issue_id, "webhook")
    assert received.headers["idempotency-key"] == idempotency_key(row.dedupe_key)
    with pytest.raises(InputError, match="unknown webhook preset 'slack'"):
        add_contact(engine.db, "整改办", "webhook", http_sink.url(), {"preset": "slack"},
                    by=by, hosts=LOOPBACK)


def test_an_acceptance_reminder_without_an_acceptance_unit_goes_to_the_office(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue naming no acceptance unit, awaiting acceptance since 03-25 10:00 (its
    # acceptance window ends 04-24)
    issue_id = started_issue(engine, evidence_file)
    clock.set(datetime(2026, 3, 25, 10, 0, tzinfo=SHANGHAI))
    fire_valid(engine, issue_id, "apply_acceptance", evidence_file)
    # When the sweep runs at the acceptance window's 7-day reminder
    clock.set(datetime(2026, 4, 17, 9, 0, tzinfo=SHANGHAI))
    sweep(engine)
    # Then the office, which organises acceptance, is reminded instead of nobody, and not
    # the unit
    with engine.db.session() as session:
        sent = session.execute(select(Notification.recipient, Notification.subject)
                               .where(Notification.issue_id == issue_id)).all()
    assert [(recipient, subject.split("：")[0]) for recipient, subject in sent] == [
        ("整改办", "【催办提醒】距验收销号时限还有7天")]


@pytest.mark.parametrize(("step", "deadline", "due"), [
    # a reminder in days: 09:00 on the local day that many days before the deadline's
    (Step("reminder", "reminder:7 days", -timedelta(days=7), True),
     datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI),
     datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI)),
    # a deadline at 00:30 Shanghai (still the day before in UTC) counts from its Shanghai day
    (Step("reminder", "reminder:1 day", -timedelta(days=1), True),
     datetime(2026, 12, 10, 0, 30, tzinfo=SHANGHAI),
     datetime(2026, 12, 9, 9, 0, tzinfo=SHANGHAI)),
    # a level of the ladder: the first 09:00 at or after the deadline plus its offset
    (Step("escalation", "red", timedelta(0), True),
     datetime(2026, 12, 10, 8, 30, tzinfo=SHANGHAI),
     datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI)),
    (Step("escalation", "key_supervision", timedelta(days=7), True),
     datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI),
     datetime(2026, 12, 18, 9, 0, tzinfo=SHANGHAI)),
    # a step in hours falls due exactly
    (Step("reminder", "reminder:12 hours", -timedelta(hours=12), False),
     datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI),
     datetime(2026, 12, 10, 11, 59, 59, tzinfo=SHANGHAI)),
], ids=["days-before", "after-midnight", "red-same-morning", "level-after-days", "hours"])
def test_steps_counted_in_days_fall_due_at_nine_in_shanghai(
        step: Step, deadline: datetime, due: datetime) -> None:
    [planned] = plan_timers([step], deadline)
    assert planned.due_at == due


def test_day_counts_are_shanghai_days() -> None:
    deadline = datetime(2026, 3, 31, 23, 59, 59, tzinfo=SHANGHAI)
    # 30 seconds past midnight in Shanghai (16:00 UTC the day before): one day overdue
    assert days_overdue(deadline, datetime(2026, 4, 1, 0, 0, 30, tzinfo=SHANGHAI)) == 1
    assert days_overdue(deadline, datetime(2026, 3, 31, 23, 59, 59, tzinfo=SHANGHAI)) == 0
    assert calendar_days(datetime(2026, 12, 4, 23, 0, tzinfo=SHANGHAI),
                         datetime(2026, 12, 10, 0, 1, tzinfo=SHANGHAI)) == 6
