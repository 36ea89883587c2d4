"""Notification delivery: templates, channels against real SMTP and HTTP sinks on loopback,
the outbox lease, back-off, dead letters and the daily digest, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import base64
import email
import email.policy
import hashlib
import hmac
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from jinja2 import UndefinedError
from sqlalchemy import delete, select

from tests.sinks import HttpSink
from tests.support import LOOPBACK, fire_valid, new_issue, office_act
from workflow.clock import SHANGHAI, FrozenClock
from workflow.config import PROJECT_ROOT, Settings
from workflow.db import Database
from workflow.errors import ConfigurationError, InputError
from workflow.issues.engine import Engine
from workflow.issues.sweep import sweep
from workflow.models import Contact, Notification
from workflow.notify.channels import (
    ChannelRegistry,
    EmailChannel,
    LogChannel,
    WebhookChannel,
    channels_from_env,
    idempotency_key,
)
from workflow.notify.contacts import recipients
from workflow.notify.delivery import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    DEFAULT_LEASE,
    backoff,
    claim_due_notifications,
    deliver_due,
    list_notifications,
    retry,
    send_messages,
)
from workflow.notify.digest import compose_digests
from workflow.notify.render import render
from workflow.notify.statuses import DEAD, DIGESTED, HELD, PENDING, SENDING, SENT

UNIT_NAME = "相山区人民政府"
ISSUE_CONTEXT: dict[str, Any] = {
    "issue_id": 7, "number": "12", "title": "部分建筑工地扬尘防控不到位", "unit": UNIT_NAME,
    "leader": "王副市长", "deadline": "2026-06-30", "days_left": 3, "days_overdue": 0,
    "light": "blue", "level": "reminder:3 days", "level_label": "催办提醒",
}
DINGTALK_SECRET = "SEC0123456789abcdef"


# --- fixtures: the outbox tables, an SMTP sink and an HTTP sink ---------------------------

def _empty_outbox(db: Database) -> None:
    with db.session(write=True) as session:
        session.execute(delete(Notification))
        session.execute(delete(Contact))


@pytest.fixture
def outbox(db: Database) -> Iterator[Database]:
    """The database with empty outbox and contact tables, emptied again afterwards (the
    PostgreSQL database is shared by the whole session)."""
    _empty_outbox(db)
    yield db
    _empty_outbox(db)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpSink:
    host: str
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(controller.hostname, controller.port, mailbox)
    finally:
        controller.stop()




# --- helpers ------------------------------------------------------------------------------

def queue(db: Database, now: datetime, *, recipient: str = UNIT_NAME, channel: str = "log",
          address: str | None = None, kind: str = "reminder", status: str = PENDING,
          issue_id: int = 7, level: str = "reminder:3 days", key: str | None = None,
          subject: str = "【催办提醒】距整改时限还有3天：部分建筑工地扬尘防控不到位",
          body: str = "请抓紧推进整改。\n") -> int:
    """Insert one outbox row as the sweep would, and return its id."""
    row = Notification(
        dedupe_key=key or f"{issue_id}:1:{level}:{recipient}:{channel}:{address or recipient}",
        issue_id=issue_id, timer_id=1, kind=kind, level=level, recipient=recipient,
        channel=channel, address=address if address is not None else recipient,
        subject=subject, body=body, status=status, attempts=0, next_attempt_at=now,
        created_at=now)
    with db.session(write=True) as session:
        session.add(row)
        session.flush()
        return row.id


def add_contact(db: Database, name: str, channel: str, address: str,
                **options: Any) -> None:
    with db.session(write=True) as session:
        session.add(Contact(name=name, channel=channel, address=address, options=options))


def row(db: Database, notification_id: int) -> Notification:
    with db.session() as session:
        return session.get_one(Notification, notification_id)


def webhook_channels(clock: FrozenClock) -> ChannelRegistry:
    return ChannelRegistry([LogChannel(), WebhookChannel(timeout=5, clock=clock,
                                                         hosts=LOOPBACK)])


# --- templates ----------------------------------------------------------------------------

def test_reminder_renders_in_chinese_with_the_issue_fields() -> None:
    # Given an issue three days before its deadline
    # When its reminder is rendered with a base URL
    subject, body = render("reminder", ISSUE_CONTEXT, base_url="https://zg.example.gov.cn/")

    # Then subject and body carry the facts officials need, in Chinese
    assert subject == "【催办提醒】距整改时限还有3天：部分建筑工地扬尘防控不到位"
    assert "距整改时限还有 3 天" in body
    for line in ("问题序号：12", "问题：部分建筑工地扬尘防控不到位", f"责任单位：{UNIT_NAME}",
                 "责任领导：王副市长", "整改时限：2026年6月30日", "预警状态：蓝灯（提醒）",
                 "查看详情：https://zg.example.gov.cn/issues/7"):
        assert line in body


def test_notice_levels_and_missing_link(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no base URL configured
    monkeypatch.delenv("RECTIFY_BASE_URL", raising=False)
    overdue = {**ISSUE_CONTEXT, "days_overdue": 8, "light": "red"}

    # When the red, key-supervision and accountability notices are rendered
    red = render("notice", {**overdue, "level": "red", "level_label": "红灯督办"})
    key = render("notice", {**overdue, "level": "key_supervision", "level_label": "重点督办"})
    proposal = render("notice", {**overdue, "level": "accountability",
                                 "level_label": "问责建议"})

    # Then each says what the level means, and no link is printed
    assert red[0] == "【督办通知·红灯督办】已逾期8天：部分建筑工地扬尘防控不到位"
    assert "预警状态：红灯（督办）" in red[1] and "逾期天数：8 天" in red[1]
    assert "3个工作日内书面报告" in red[1]
    assert "已列为重点督办事项" in key[1]
    assert "已形成问责建议" in proposal[1]
    assert all("查看详情" not in body for _, body in (red, key, proposal))


def test_render_refuses_missing_facts_and_unknown_kinds() -> None:
    # Given a context without the title
    context = {key: value for key, value in ISSUE_CONTEXT.items() if key != "title"}

    # When / Then rendering fails loudly instead of sending a notice with a hole
    with pytest.raises(UndefinedError, match="title"):
        render("reminder", context)
    with pytest.raises(InputError, match="allowed: reminder, notice, digest"):
        render("telegram", ISSUE_CONTEXT)


def test_backoff_doubles_from_30_seconds_up_to_one_hour() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [BACKOFF_BASE, BACKOFF_BASE * 2, BACKOFF_BASE * 4]
    assert backoff(8) == BACKOFF_CAP
    assert backoff(1000) == BACKOFF_CAP


# --- channels against real sinks -----------------------------------------------------------

def test_log_channel_records_messages_and_writes_json_lines(
        outbox: Database, clock: FrozenClock, tmp_path: Path) -> None:
    # Given a due reminder for a recipient without contacts (the log channel)
    notification_id = queue(outbox, clock.now())
    log = LogChannel(tmp_path / "notifications.jsonl")

    # When the outbox is delivered
    report = deliver_due(outbox, ChannelRegistry([log]), now=clock.now(), owner="w1")

    # Then the log holds it in memory and on disk, and the row is sent
    assert (report.sent, report.failed, report.dead) == (1, 0, 0)
    assert [m.id for m in log.messages] == [notification_id]
    [record] = log.read()
    assert record["subject"].startswith("【催办提醒】") and record["recipient"] == UNIT_NAME
    sent = row(outbox, notification_id)
    assert (sent.status, sent.attempts, sent.sent_at) == (SENT, 1, clock.now())


def test_email_reaches_a_real_smtp_server_in_chinese(
        outbox: Database, clock: FrozenClock, smtp_sink: SmtpSink) -> None:
    # Given a unit reached by e-mail and a reminder for it
    add_contact(outbox, UNIT_NAME, "email", "xiangshan@example.gov.cn")
    [(channel, address, _, _)] = recipients(outbox, UNIT_NAME)
    notification_id = queue(outbox, clock.now(), channel=channel, address=address)
    channels = ChannelRegistry([EmailChannel(smtp_sink.host, smtp_sink.port,
                                             "整改办 <rectify@example.gov.cn>", timeout=5)])

    # When the outbox is delivered
    report = deliver_due(outbox, channels, now=clock.now(), owner="w1")

    # Then the SMTP server received one UTF-8 message with the Chinese text intact
    assert report.sent == 1
    [envelope] = smtp_sink.mailbox.envelopes
    assert envelope.rcpt_tos == ["xiangshan@example.gov.cn"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Subject"] == "【催办提醒】距整改时限还有3天：部分建筑工地扬尘防控不到位"
    assert message["To"].addresses[0].display_name == UNIT_NAME
    assert message.get_content() == "请抓紧推进整改。\n"
    sent = row(outbox, notification_id)
    assert message["X-Idempotency-Key"] == idempotency_key(sent.dedupe_key)
    assert urllib.parse.unquote(message["X-Idempotency-Key"]) == sent.dedupe_key
    assert message["Message-ID"].endswith("@example.gov.cn>")
    assert sent.status == SENT


def test_webhook_posts_json_with_the_idempotency_key(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a recipient reached by a plain JSON webhook
    notification_id = queue(outbox, clock.now(), channel="webhook", address=http_sink.url())

    # When the outbox is delivered
    report = deliver_due(outbox, webhook_channels(clock), now=clock.now(), owner="w1")

    # Then the sink got the message fields and the key
    assert report.sent == 1
    [received] = http_sink.received
    sent = row(outbox, notification_id)
    assert received.headers["idempotency-key"] == idempotency_key(sent.dedupe_key)
    assert received.body["subject"] == sent.subject and received.body["id"] == notification_id
    assert received.body["dedupe_key"] == sent.dedupe_key


def test_failing_sink_gets_exactly_one_accepted_message_after_backoff(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a webhook that fails three times before it works
    http_sink.script = [(500, {"error": "busy"})] * 3
    notification_id = queue(outbox, clock.now(), channel="webhook", address=http_sink.url())
    channels = webhook_channels(clock)

    # When the outbox is delivered, waiting out each back-off (and once too early)
    reports = [deliver_due(outbox, channels, now=clock.now(), owner="w1")]
    for attempt in (1, 2, 3):
        clock.advance(backoff(attempt) - timedelta(seconds=1))
        early = deliver_due(outbox, channels, now=clock.now(), owner="w1")
        assert (early.sent, early.failed) == (0, 0)  # still backing off: not claimed
        clock.advance(timedelta(seconds=1))
        reports.append(deliver_due(outbox, channels, now=clock.now(), owner="w1"))

    # Then there were four attempts, one accepted, all with the same key, and one "sent"
    assert [(r.sent, r.failed) for r in reports] == [(0, 1), (0, 1), (0, 1), (1, 0)]
    assert [r.status for r in http_sink.received] == [500, 500, 500, 200]
    assert len(http_sink.accepted) == 1
    assert len({r.headers["idempotency-key"] for r in http_sink.received}) == 1
    sent = row(outbox, notification_id)
    assert (sent.status, sent.attempts, sent.sent_at) == (SENT, 4, clock.now())
    assert "HTTP 500" in (sent.last_error or "")


def test_dead_letter_after_max_attempts_then_retry_revives_it(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a webhook that keeps failing
    http_sink.script = [(503, {"error": "down"})] * 3
    notification_id = queue(outbox, clock.now(), channel="webhook", address=http_sink.url())
    channels = webhook_channels(clock)

    # When three attempts (the maximum here) fail
    reports = []
    for _ in range(3):
        reports.append(deliver_due(outbox, channels, now=clock.now(), owner="w1",
                                   max_attempts=3))
        clock.advance(BACKOFF_CAP)

    # Then the row is dead, listed as such, and no longer claimed
    assert [(r.failed, r.dead) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    dead = row(outbox, notification_id)
    assert (dead.status, dead.attempts) == (DEAD, 3) and "HTTP 503" in (dead.last_error or "")
    assert [n.id for n in list_notifications(outbox, status=DEAD)] == [notification_id]
    assert deliver_due(outbox, channels, now=clock.now(), owner="w1").sent == 0

    # When it is retried after the receiver is repaired
    assert retry(outbox, [notification_id], by=office_act(outbox), now=clock.now()) == 1
    report = deliver_due(outbox, channels, now=clock.now(), owner="w1", max_attempts=3)

    # Then it is delivered once, its attempt history kept
    assert report.sent == 1 and len(http_sink.accepted) == 1
    assert (row(outbox, notification_id).status, row(outbox, notification_id).attempts) == \
        (SENT, 4)
    with pytest.raises(InputError):
        retry(outbox, by=office_act(outbox), now=clock.now())


def test_unconfigured_channel_fails_and_waits_for_a_retry(
        outbox: Database, clock: FrozenClock) -> None:
    # Given an e-mail notification but no e-mail channel configured
    notification_id = queue(outbox, clock.now(), channel="email", address="a@example.gov.cn")

    # When the outbox is delivered
    report = deliver_due(outbox, ChannelRegistry([LogChannel()]), now=clock.now(), owner="w1")

    # Then it is not recorded as sent; the error names the missing channel
    assert (report.sent, report.failed) == (0, 1)
    failed = row(outbox, notification_id)
    assert failed.status == PENDING and failed.next_attempt_at == clock.now() + BACKOFF_BASE
    assert "no channel 'email'" in (failed.last_error or "")


# --- webhook presets ------------------------------------------------------------------------

def test_dingtalk_preset_is_signed_and_shaped_as_a_markdown_robot_message(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a DingTalk group robot with a signing secret, as the unit's contact
    http_sink.secret = DINGTALK_SECRET
    robot = http_sink.url("/robot/send?access_token=abc123")
    add_contact(outbox, UNIT_NAME, "webhook", robot, preset="dingtalk", secret=DINGTALK_SECRET)
    notification_id = queue(outbox, clock.now(), channel="webhook", address=robot)

    # When the outbox is delivered
    report = deliver_due(outbox, webhook_channels(clock), now=clock.now(), owner="w1")

    # Then DingTalk's checks pass: the token stays, timestamp and sign verify
    assert report.sent == 1
    [received] = http_sink.received
    assert received.path == "/robot/send" and received.query["access_token"] == ["abc123"]
    timestamp = received.query["timestamp"][0]
    assert int(timestamp) == int(clock.now().timestamp() * 1000)
    expected = base64.b64encode(hmac.new(DINGTALK_SECRET.encode(),
                                         f"{timestamp}\n{DINGTALK_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert received.query["sign"] == [expected]
    # And the body is DingTalk's markdown message
    sent = row(outbox, notification_id)
    assert received.body["msgtype"] == "markdown"
    assert received.body["markdown"]["title"] == sent.subject
    assert sent.subject in received.body["markdown"]["text"]
    assert sent.status == SENT


def test_dingtalk_errcode_is_a_failure(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a DingTalk robot that expects a signature, and a contact without the secret
    http_sink.secret = DINGTALK_SECRET
    robot = http_sink.url("/robot/send?access_token=abc123")
    add_contact(outbox, UNIT_NAME, "webhook", robot, preset="dingtalk")
    notification_id = queue(outbox, clock.now(), channel="webhook", address=robot)

    # When the outbox is delivered
    report = deliver_due(outbox, webhook_channels(clock), now=clock.now(), owner="w1")

    # Then the HTTP 200 with errcode 310000 counts as a failure, not as sent
    assert (report.sent, report.failed) == (0, 1)
    failed = row(outbox, notification_id)
    assert failed.status == PENDING and "errcode 310000" in (failed.last_error or "")
    assert "abc123" not in (failed.last_error or "")  # the robot's token stays out of logs


def test_wecom_preset_is_shaped_as_a_markdown_robot_message(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a WeCom group robot as the unit's contact
    robot = http_sink.url("/cgi-bin/webhook/send?key=k-1")
    add_contact(outbox, UNIT_NAME, "webhook", robot, preset="wecom")
    notification_id = queue(outbox, clock.now(), channel="webhook", address=robot)

    # When the outbox is delivered
    report = deliver_due(outbox, webhook_channels(clock), now=clock.now(), owner="w1")

    # Then WeCom's markdown message was posted, with no DingTalk signature
    assert report.sent == 1
    [received] = http_sink.received
    sent = row(outbox, notification_id)
    assert received.body == {"msgtype": "markdown",
                             "markdown": {"content": f"**{sent.subject}**\n{sent.body}"}}
    assert received.query == {"key": ["k-1"]}
    assert received.headers["idempotency-key"] == idempotency_key(sent.dedupe_key)


# --- leases and concurrency -----------------------------------------------------------------

def test_expired_lease_is_claimable_again(outbox: Database, clock: FrozenClock) -> None:
    # Given worker A claimed a message and stopped before finishing it
    notification_id = queue(outbox, clock.now())
    [claimed_by_a] = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="A")
    assert row(outbox, notification_id).status == SENDING

    # When worker B looks while the lease holds, and again after it expired
    during = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="B")
    clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
    after = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="B")

    # Then B gets it only after expiry; A, coming back, sends nothing: its lease is gone
    assert during == []
    assert [m.id for m in after] == [notification_id] and after[0].attempt == 2
    log = LogChannel()
    late = send_messages(outbox, ChannelRegistry([log]), [claimed_by_a], clock=clock,
                         owner="A")
    assert (late.sent, len(log.messages)) == (0, 0)
    assert row(outbox, notification_id).lease_owner == "B"
    assert send_messages(outbox, ChannelRegistry([log]), after, clock=clock,
                         owner="B").sent == 1
    assert row(outbox, notification_id).status == SENT


def test_message_whose_worker_keeps_dying_goes_dead(outbox: Database,
                                                    clock: FrozenClock) -> None:
    # Given a message whose every worker stops mid-send (the lease always runs out)
    notification_id = queue(outbox, clock.now())
    for owner in ("A", "B"):
        assert claim_due_notifications(outbox, now=clock.now(), limit=1, owner=owner,
                                       max_attempts=2)
        clock.advance(DEFAULT_LEASE + timedelta(minutes=1))

    # When a third worker claims after the second lease expired
    third = claim_due_notifications(outbox, now=clock.now(), limit=1, owner="C",
                                    max_attempts=2)

    # Then the message is dead rather than tried forever
    assert third == []
    dead = row(outbox, notification_id)
    assert (dead.status, dead.attempts) == (DEAD, 2) and "lease expired" in dead.last_error


def test_concurrent_claimers_never_get_the_same_row(outbox: Database,
                                                    clock: FrozenClock) -> None:
    # Given 60 due messages and four workers starting at the same moment
    ids = {queue(outbox, clock.now(), issue_id=n, key=f"k{n}") for n in range(60)}
    start = threading.Barrier(4)
    claims: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        try:
            start.wait()
            claims[owner] = [m.id for m in claim_due_notifications(
                outbox, now=clock.now(), limit=20, owner=owner)]
        except BaseException as exc:
            errors.append(exc)

    # When they all claim at once
    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every row went to exactly one worker
    assert errors == []
    claimed = [i for owned in claims.values() for i in owned]
    assert len(claimed) == len(set(claimed)) == 60 and set(claimed) == ids
    with outbox.session() as session:
        owners = dict(session.execute(select(Notification.id, Notification.lease_owner)).all())
    assert all(owners[i] == owner for owner, owned in claims.items() for i in owned)


# --- digest and contacts --------------------------------------------------------------------

def test_digest_groups_held_reminders_per_recipient_and_is_idempotent(
        outbox: Database, clock: FrozenClock) -> None:
    # Given three reminders held for one unit's digest and one for another recipient
    held = [queue(outbox, clock.now(), status=HELD, issue_id=n, key=f"held-{n}",
                  subject=f"【催办提醒】距整改时限还有3天：问题{n}") for n in (1, 2, 3)]
    other = queue(outbox, clock.now(), recipient="王副市长", status=HELD, issue_id=4,
                  key="held-4", subject="【催办提醒】距整改时限还有1天：问题4")

    # When the digest is composed twice the same day
    first = compose_digests(outbox, now=clock.now(),
                            settings=Settings(base_url="https://zg.example.gov.cn"))
    second = compose_digests(outbox, now=clock.now() + timedelta(hours=2), settings=Settings())

    # Then each recipient has one digest listing all its items; the second run added nothing
    assert (first, second) == (2, 0)
    digests = [n for n in list_notifications(outbox, limit=100) if n.kind == "digest"]
    assert sorted(n.recipient for n in digests) == ["王副市长", UNIT_NAME]
    [unit_digest] = [n for n in digests if n.recipient == UNIT_NAME]
    assert unit_digest.dedupe_key == f"digest:{UNIT_NAME}:log:{UNIT_NAME}:2026-01-05"
    assert unit_digest.subject == "【每日汇总】2026年1月5日催办提醒3项"
    for n in (1, 2, 3):
        assert f"{n}. 【催办提醒】距整改时限还有3天：问题{n}" in unit_digest.body
        assert f"https://zg.example.gov.cn/issues/{n}" in unit_digest.body
    assert {row(outbox, i).status for i in [*held, other]} == {DIGESTED}

    # When a reminder is held after today's digest went out
    late = queue(outbox, clock.now(), status=HELD, issue_id=5, key="held-5",
                 subject="【催办提醒】问题5")

    # Then it waits for tomorrow's digest instead of being lost
    assert compose_digests(outbox, now=clock.now() + timedelta(hours=3), settings=Settings()) == 0
    assert row(outbox, late).status == HELD
    assert compose_digests(outbox, now=clock.now() + timedelta(days=1), settings=Settings()) == 1
    assert row(outbox, late).status == DIGESTED

    # And the digests are delivered like any message; held rows never are
    log = LogChannel()
    report = deliver_due(outbox, ChannelRegistry([log]), now=clock.now() + timedelta(days=1),
                         owner="w1")
    assert report.sent == 3 and {m.kind for m in log.messages} == {"digest"}


def test_recipients_come_from_contacts_or_fall_back_to_the_log(outbox: Database) -> None:
    # Given a unit with two contacts and a leader with none
    add_contact(outbox, UNIT_NAME, "email", "xiangshan@example.gov.cn")
    add_contact(outbox, UNIT_NAME, "webhook", "https://oapi.dingtalk.com/robot/send?x=1",
                preset="dingtalk")

    # When / Then both contacts are listed; the leader is reached by the log channel
    with outbox.session() as session:
        email_id, webhook_id = session.scalars(select(Contact.id).order_by(Contact.id)).all()
    assert recipients(outbox, UNIT_NAME) == [
        ("email", "xiangshan@example.gov.cn", {}, email_id),
        ("webhook", "https://oapi.dingtalk.com/robot/send?x=1", {"preset": "dingtalk"},
         webhook_id),
    ]
    assert recipients(outbox, "王副市长") == [("log", "王副市长", {}, None)]



# --- settings and the one notification path ----------------------------------------------

def test_settings_are_read_from_the_environment_with_defaults() -> None:
    # Given an environment naming the office, the web address and the queue
    settings = Settings.from_env({"RECTIFY_OFFICE_NAME": "市整改办",
                                  "RECTIFY_BASE_URL": " https://zg.example.gov.cn/ ",
                                  "RECTIFY_QUEUE": "rectify-b"})

    # Then the settings carry them; an empty environment gives the defaults
    assert (settings.office_name, settings.base_url, settings.queue) == (
        "市整改办", "https://zg.example.gov.cn/", "rectify-b")
    default = Settings.from_env({})
    assert (default.office_name, default.base_url, default.queue) == ("整改办", None, "rectify")
    assert default == Settings()


def test_an_engine_names_signs_and_links_its_notices_from_its_settings(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an engine configured with the city's office and the system's web address
    configured = Engine(engine.db, engine.evidence, keys=engine.keys, clock=clock,
                        settings=Settings(office_name="市整改办",
                                          base_url="https://zg.example.gov.cn"))
    issue_id = new_issue(configured, deadline=date(2026, 3, 31))
    fire_valid(configured, issue_id, "start", evidence_file)

    # When the deadline passes and the sweep runs at 09:00 the day after
    clock.set(datetime(2026, 4, 1, 9, 0, tzinfo=SHANGHAI))
    sweep(configured)

    # Then the office's copy goes to 市整改办, and every text is signed by it with the link
    with engine.db.session() as session:
        rows = session.scalars(select(Notification).where(Notification.level == "red")).all()
    assert sorted(n.recipient for n in rows) == ["市整改办", "王副市长"]
    for n in rows:
        assert n.body.endswith("\n市整改办\n")
        assert f"查看详情：https://zg.example.gov.cn/issues/{issue_id}" in n.body


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_notify_sits_below_issues_and_only_enqueue_writes_notification_rows() -> None:
    # Given the engine's sources
    root = PROJECT_ROOT / "workflow"
    above = ("workflow.issues", "workflow.supervision", "workflow.documents", "workflow.jobs",
             "workflow.startup", "workflow.doctor", "workflow.cli")

    # Then nothing under notify/ imports a later layer
    for path in (root / "notify").glob("*.py"):
        later = sorted(name for name in imported_modules(path) if name.startswith(above))
        assert not later, f"notify/{path.name} imports {', '.join(later)}"
    # And notification rows are written only by enqueue, through the issue transaction's
    # add_notification or a ConnectionOutbox
    writers = sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                     if "add_notification(" in path.read_text(encoding="utf-8"))
    assert writers == ["issues/transaction.py", "notify/enqueue.py"]

def test_channels_from_env(tmp_path: Path) -> None:
    # Given no SMTP host, only log and webhook exist
    assert sorted(channels_from_env({})) == ["log", "webhook"]

    # Given SMTP settings
    channels = channels_from_env({
        "RECTIFY_SMTP_HOST": "smtp.example.gov.cn", "RECTIFY_SMTP_STARTTLS": "true",
        "RECTIFY_SMTP_USER": "rectify@example.gov.cn", "RECTIFY_SMTP_PASSWORD": "pw",
        "RECTIFY_NOTIFY_LOG": str(tmp_path / "log.jsonl")})

    # Then the e-mail channel is configured from them
    mail = channels["email"]
    assert isinstance(mail, EmailChannel)
    assert (mail.host, mail.port, mail.starttls, mail.sender) == \
        ("smtp.example.gov.cn", 587, True, "rectify@example.gov.cn")
    assert isinstance(channels["log"], LogChannel)
    assert channels["log"].path == tmp_path / "log.jsonl"
    with pytest.raises(ConfigurationError, match="RECTIFY_SMTP_SSL"):
        channels_from_env({"RECTIFY_SMTP_HOST": "h", "RECTIFY_SMTP_SSL": "maybe"})
