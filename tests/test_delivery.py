"""A notice arrives once: each outcome recorded as it happens, the lease renewed before each
send, a batch that lost its lease stopping; the lease rule checked at start; outbox rows
that refer to their contact instead of carrying a robot's token; what is kept of a reply;
doctor telling a backlog being caught up from lag. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from tests.sinks import HttpSink
from tests.support import LOOPBACK, office_act
from tests.test_notify import queue, row
from workflow.clock import FrozenClock
from workflow.config import RunSettings, Settings
from workflow.db import Database
from workflow.doctor import FAIL, OK, WARN, check_lag
from workflow.errors import ConfigurationError
from workflow.jobs import record_leadership
from workflow.migrate import upgrade
from workflow.models import Contact, Notification, Timer
from workflow.notify.channels import (
    Channel,
    ChannelRegistry,
    LogChannel,
    OutgoingMessage,
    WebhookChannel,
    channels_from_env,
)
from workflow.notify.contacts import Contacts, add_contact
from workflow.notify.delivery import (
    DEFAULT_LEASE,
    claim_due_notifications,
    deliver_due,
    minimum_lease,
    send_messages,
)
from workflow.notify.enqueue import ConnectionOutbox, Notice, enqueue
from workflow.notify.replies import NOT_KEPT, REPLY_LIMIT, reply_excerpt
from workflow.notify.statuses import PENDING, SENDING, SENT
from workflow.startup import check_lease

UNIT = "相山区人民政府"
LEASE = timedelta(seconds=60)
TOKEN = "access_token=0123456789abcdef-secret"


@pytest.fixture
def outbox(db: Database) -> Iterator[Database]:
    yield db
    with db.transaction() as conn:
        conn.execute(Notification.__table__.delete())
        conn.execute(Contact.__table__.delete())
        conn.execute(Timer.__table__.delete())


class Watching(Channel):
    """The log channel's name, a callback on every send (to move the clock, or to look at the
    outbox while the batch is still going)."""

    name = "log"

    def __init__(self, on_send: Callable[[OutgoingMessage], None]):
        self.sent: list[int] = []
        self.on_send = on_send

    def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message.id)
        self.on_send(message)


# --- outcomes as they happen, the lease renewed before each send -----------------------------

def test_each_delivery_is_recorded_before_the_next_send(outbox: Database,
                                                        clock: FrozenClock) -> None:
    # Given three due messages claimed by one worker
    ids = [queue(outbox, clock.now(), key=f"k{n}", issue_id=n) for n in range(3)]
    claimed = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="A", lease=LEASE)
    seen: list[list[str]] = []

    # When it sends them, and the outbox is read during each send
    channel = Watching(lambda _m: seen.append([row(outbox, i).status for i in ids]))
    report = send_messages(outbox, ChannelRegistry([channel]), claimed, clock=clock,
                           owner="A", lease=LEASE)

    # Then every earlier message was already recorded as sent while the next one went out
    assert report.sent == 3
    assert seen == [[SENDING, SENDING, SENDING], [SENT, SENDING, SENDING],
                    [SENT, SENT, SENDING]]


def test_the_heartbeat_keeps_a_long_batch_from_being_handed_out_again(
        outbox: Database, clock: FrozenClock) -> None:
    # Given four messages claimed by A, each send taking half the lease
    for n in range(4):
        queue(outbox, clock.now(), key=f"k{n}", issue_id=n)
    claimed = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="A", lease=LEASE)
    stolen: list[int] = []

    def slow(_message: OutgoingMessage) -> None:
        clock.advance(LEASE / 2)
        stolen.extend(m.id for m in claim_due_notifications(
            outbox, now=clock.now(), limit=10, owner="B", lease=LEASE))

    # When A works through them (two whole leases) while B tries to claim after every send
    channel = Watching(slow)
    report = send_messages(outbox, ChannelRegistry([channel]), claimed, clock=clock,
                           owner="A", lease=LEASE)

    # Then B never got a row, and A sent each message once
    assert stolen == []
    assert report.sent == 4 and sorted(channel.sent) == sorted(m.id for m in claimed)


def test_a_batch_that_lost_its_lease_stops_without_sending(outbox: Database,
                                                           clock: FrozenClock) -> None:
    # Given three messages claimed by A, and a first send that outlives the whole lease
    ids = [queue(outbox, clock.now(), key=f"k{n}", issue_id=n) for n in range(3)]
    claimed = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="A", lease=LEASE)
    channel = Watching(lambda _m: clock.advance(LEASE + timedelta(seconds=1)))

    # When A comes back from it
    report = send_messages(outbox, ChannelRegistry([channel]), claimed, clock=clock,
                           owner="A", lease=LEASE)

    # Then A sent nothing more: the first is recorded, the others are due again at once with
    # their attempt given back
    assert channel.sent == [ids[0]]
    assert (report.sent, report.given_back) == (1, 2)
    assert [(row(outbox, i).status, row(outbox, i).attempts) for i in ids[1:]] == \
        [(PENDING, 0), (PENDING, 0)]
    again = claim_due_notifications(outbox, now=clock.now(), limit=10, owner="B", lease=LEASE)
    assert [m.id for m in again] == ids[1:]


def test_a_message_taken_over_by_another_worker_is_not_sent_again(
        outbox: Database, clock: FrozenClock) -> None:
    # Given A's claim expired and B claimed and sent the message meanwhile
    queue(outbox, clock.now())
    stale = claim_due_notifications(outbox, now=clock.now(), limit=1, owner="A", lease=LEASE)
    clock.advance(LEASE + timedelta(seconds=1))
    log = LogChannel()
    assert deliver_due(outbox, ChannelRegistry([log]), now=clock.now(), owner="B",
                       lease=LEASE).sent == 1

    # When A, back from a pause, goes on with its batch
    late = send_messages(outbox, ChannelRegistry([log]), stale, clock=clock, owner="A",
                         lease=LEASE)

    # Then the receiver got it once
    assert late.sent == 0 and len(log.messages) == 1


# --- the lease rule, checked at start --------------------------------------------------------

def test_default_lease_outlasts_one_send_and_is_about_a_minute() -> None:
    run, channels = RunSettings.from_env({}), channels_from_env({})
    assert run.lease == DEFAULT_LEASE.total_seconds() == 60
    assert minimum_lease(channels) == 2 * (10 + 1)
    check_lease(run, channels)  # the shipped defaults start


def test_a_lease_shorter_than_the_rule_is_refused_naming_the_settings() -> None:
    run = RunSettings.from_env({"RECTIFY_LEASE": "4"})
    with pytest.raises(ConfigurationError) as refused:
        check_lease(run, channels_from_env({}))
    message = str(refused.value)
    assert "RECTIFY_LEASE=4 s" in message and "RECTIFY_WEBHOOK_TIMEOUT" in message
    assert "2 × (longest timeout + 1 s) = 22 s" in message
    # And with the timeout lowered to 1 s, 4 s is enough
    check_lease(run, channels_from_env({"RECTIFY_WEBHOOK_TIMEOUT": "1"}))


@pytest.mark.parametrize("command", [["outbox", "deliver"], ["worker"], ["serve"]])
def test_a_delivering_process_refuses_to_start_with_a_lease_too_short(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from workflow.cli import app

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'r.db'}")
    monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:1/0")  # never reached
    monkeypatch.setenv("RECTIFY_LEASE", "5")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1
    assert "RECTIFY_LEASE=5 s is too short" in result.output
    assert "Traceback" not in result.output


# --- the outbox refers to the contact; what is kept of a reply ------------------------------

def notice_to(name: str) -> Notice:
    return Notice(template="digest", kind="digest", level="digest", issue_id=None,
                  timer_id=None, context={"recipient": name, "date": "2026-11-28", "items": [
                      {"subject": "【红灯督办】问题12", "issue_id": 12, "level": "red"}]},
                  recipients=(name,), key="digest")


def test_a_webhook_row_keeps_the_contact_not_the_robots_token(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given the office reached by a robot whose URL carries its token
    url = http_sink.url("/robot/send") + "?" + TOKEN
    contact_id = add_contact(outbox, "整改办", "webhook", url, {"preset": "dingtalk"},
                             by=office_act(outbox), hosts=LOOPBACK)

    # When a notice is queued for it and delivered
    with outbox.transaction() as conn:
        assert enqueue(ConnectionOutbox(outbox, conn), Contacts(outbox), notice_to("整改办"),
                       now=clock.now(), settings=Settings()) == 1
    channel = WebhookChannel(timeout=5, clock=clock, hosts=LOOPBACK)
    report = deliver_due(outbox, ChannelRegistry([channel]), now=clock.now(), owner="w")

    # Then the row names the contact, and no column of it holds the token
    with outbox.session() as session:
        stored = session.scalars(select(Notification)).one()
    assert (stored.contact_id, stored.address) == (contact_id, None)
    assert stored.dedupe_key.endswith(f":整改办:webhook:contact:{contact_id}")
    values = [str(getattr(stored, c.key)) for c in Notification.__table__.columns]
    assert not any("0123456789abcdef" in value for value in values)
    # And the robot got it at its URL with the token, shaped by the contact's preset
    assert report.sent == 1
    [received] = http_sink.received
    assert received.query["access_token"] == ["0123456789abcdef-secret"]
    assert received.body["msgtype"] == "markdown"


def test_existing_webhook_rows_are_linked_to_their_contact_by_the_migration(
        tmp_path: Path, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a database at the schema before the reference, with a contact and a pending row
    # that carries the robot's URL in its address and its dedupe key
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0014")
    url = http_sink.url("/robot/send") + "?" + TOKEN
    key = f"1:2:red:整改办:webhook:{url}"
    with db.transaction() as conn:  # only the columns the old schema has
        conn.execute(insert(Contact).values(name="整改办", channel="webhook", address=url,
                                            options={}))
        conn.execute(insert(Notification).values(
            dedupe_key=key, kind="notice", level="red", recipient="整改办", channel="webhook",
            address=url, subject="s", body="b", status="pending", attempts=0,
            next_attempt_at=clock.now(), created_at=clock.now()))

    # When the schema is upgraded and the row delivered
    upgrade(db)
    with db.session() as session:
        [(contact_id, stored_key, address)] = session.execute(select(
            Notification.contact_id, Notification.dedupe_key, Notification.address)).all()
    channel = WebhookChannel(timeout=5, clock=clock, hosts=LOOPBACK)
    report = deliver_due(db, ChannelRegistry([channel]), now=clock.now() + timedelta(seconds=1),
                         owner="w")

    # Then it refers to the contact, keeps no token, and still reaches the robot
    assert (stored_key, address) == (f"1:2:red:整改办:webhook:contact:{contact_id}", None)
    assert report.sent == 1 and http_sink.received[0].query["access_token"]
    db.dispose()


def test_a_reply_is_kept_only_from_an_allowed_host_and_only_200_characters(
        outbox: Database, clock: FrozenClock, http_sink: HttpSink) -> None:
    # Given a receiver that answers 500 with its secrets, on a host messages may be sent to
    # but whose replies are not kept (any host but the allowlisted robot hosts)
    http_sink.script.append((500, {"errcode": 1, "errmsg": "internal: db password=hunter2"}))
    notification_id = queue(outbox, clock.now(), channel="webhook",
                            address=http_sink.url("/hook"))

    # When the message is delivered
    channel = WebhookChannel(timeout=5, clock=clock, hosts=LOOPBACK, reply_hosts=())
    deliver_due(outbox, ChannelRegistry([channel]), now=clock.now(), owner="w")

    # Then the status code is kept and the reply is not
    error = row(outbox, notification_id).last_error or ""
    assert "HTTP 500" in error and NOT_KEPT in error and "hunter2" not in error
    # And a robot host's reply is kept to at most 200 characters
    assert reply_excerpt("oapi.dingtalk.com", "x" * 500) == "x" * REPLY_LIMIT
    assert reply_excerpt("OAPI.DingTalk.com.", b"ok") == "ok"
    assert reply_excerpt("127.0.0.1", b"ok") == NOT_KEPT


# --- doctor: a backlog being caught up is not lag --------------------------------------------

def test_doctor_tells_a_backlog_being_caught_up_from_lag(outbox: Database,
                                                         clock: FrozenClock) -> None:
    # Given 3 messages due 47 days ago, during an outage, and a scheduler leading since now
    run = RunSettings(max_lag=300)
    outage = clock.now() - timedelta(days=47)
    for n in range(3):
        queue(outbox, outage, key=f"old{n}", issue_id=n)
    record_leadership(outbox, "host:1:abc", now=clock.now())

    # When doctor looks a minute into the catch-up
    clock.advance(timedelta(minutes=1))
    catching_up = check_lag(outbox, run, clock.now())

    # Then it says it is catching up 3 rows, and does not fail
    assert catching_up.status == WARN
    assert "正在补发积压 3 条" in catching_up.detail and "catching up 3 rows" in catching_up.detail
    assert "4060" not in catching_up.detail  # not the 47 days as a wait

    # When the catch-up makes no progress for longer than the limit, it fails
    clock.advance(timedelta(minutes=10))
    stalled = check_lag(outbox, run, clock.now())
    assert stalled.status == FAIL and "RECTIFY_DOCTOR_MAX_LAG" in stalled.detail

    # And a row that fell due while the scheduler led is lag, counted from its due time
    with outbox.transaction() as conn:
        conn.execute(Notification.__table__.delete())
    queue(outbox, clock.now() - timedelta(seconds=400), key="late")
    lag = check_lag(outbox, run, clock.now())
    assert lag.status == FAIL and "has waited 400 s" in lag.detail
    with outbox.transaction() as conn:
        conn.execute(Notification.__table__.delete())
    queue(outbox, clock.now() - timedelta(seconds=20), key="fresh")
    assert check_lag(outbox, run, clock.now()).status == OK
