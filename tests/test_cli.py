"""The `rectify` command line, run in-process against a real database (SQLite and
PostgreSQL): exit codes, tables, --json, and errors users can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workflow.cli import app
from workflow.db import Database
from workflow.issues import policy


@pytest.fixture
def rectify(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `rectify ARGS` with DATABASE_URL pointing at the test database."""
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run("init")
    return run


def test_init_is_idempotent_and_lists_definitions(rectify) -> None:
    out = rectify("init")
    assert "rectification@1: unchanged" in out and "rectification@2: unchanged" in out
    rows = json.loads(rectify("definitions", "list", "--json"))
    assert [(row["id"], row["version"], row["label_zh"], row["issues"]) for row in rows] == [
        ("rectification", 1, "督察整改问题", 0), ("rectification", 2, "督察整改问题", 0)]


def test_create_fire_show_history_and_list_filters(rectify, tmp_path: Path) -> None:
    created = json.loads(rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区",
                                 "--leader", "王副市长", "--deadline", "2026-01-31", "--json"))
    assert (created["state"], created["state_label_zh"], created["deadline"]) == (
        "assigned", "已交办", "2026-01-31")
    other = json.loads(rectify("issue", "create", "--title", "黑臭水体", "--unit", "杜集区",
                               "--deadline", "2099-12-31", "--json"))
    issue_id = str(created["id"])
    assert "assigned → in_progress (version 2)" in rectify(
        "issue", "fire", issue_id, "start", "--as", "相山区", "--role", "unit")
    evidence = tmp_path / "清单.txt"
    evidence.write_text("整改清单", encoding="utf-8")
    rectify("issue", "fire", issue_id, "apply_acceptance", "--as", "相山区", "--role", "unit",
            "--comment", "已完成", "--evidence", str(evidence))
    shown = json.loads(rectify("issue", "show", issue_id, "--json"))
    # New issues follow rectification@2: the site check (or a rejection) comes next
    assert (shown["state"], shown["stage"], shown["version"], shown["allowed_triggers"]) == (
        "acceptance", "applied", 3, ["site_check", "reject"])
    assert shown["definition"] == "rectification@2"
    history = json.loads(rectify("issue", "history", issue_id, "--json"))
    assert [e["trigger"] for e in history] == ["create", "start", "apply_acceptance"]
    assert history[2]["payload"]["evidence"][0]["name"] == "清单.txt"
    assert history[0]["at"].endswith("+08:00")
    by_unit = json.loads(rectify("issue", "list", "--unit", "杜集区", "--json"))
    assert [v["id"] for v in by_unit] == [other["id"]]
    by_state = json.loads(rectify("issue", "list", "--state", "acceptance", "--json"))
    assert [v["id"] for v in by_state] == [created["id"]]
    by_leader = json.loads(rectify("issue", "list", "--leader", "王副市长", "--json"))
    assert [v["id"] for v in by_leader] == [created["id"]]
    overdue = json.loads(rectify("issue", "list", "--overdue", "--json"))
    assert [v["id"] for v in overdue] == [created["id"]]
    assert overdue[0]["days_overdue"] > 0
    table = rectify("issue", "list")
    assert "整改情况清单" in table and "待验收" in table
    assert "history intact: 2 issue(s), 4 event(s)" in rectify("verify")


def test_refusals_exit_non_zero_and_say_what_is_allowed(rectify) -> None:
    issue_id = str(json.loads(rectify("issue", "create", "--title", "x", "--unit", "u",
                                      "--json"))["id"])
    out = rectify("issue", "fire", issue_id, "clear", "--as", "办", "--role", "office", code=1)
    assert "allowed triggers: start" in out
    rectify("issue", "fire", issue_id, "start", "--as", "办", "--role", "office")
    out = rectify("issue", "fire", issue_id, "apply_acceptance", "--as", "u", "--role", "unit",
                  code=1)
    assert "a comment is required" in out and "evidence file(s) are required" in out
    out = rectify("issue", "create", "--title", "x", "--deadline", "2026/13/01", code=2)
    assert "use YYYY-MM-DD" in out
    assert "issue 999 does not exist" in rectify("issue", "show", "999", code=1)


def test_definitions_check_prints_every_fault_and_exits_non_zero(rectify,
                                                                 tmp_path: Path) -> None:
    source = (Path(__file__).parent.parent / "definitions" / "rectification-v1.yaml"
              ).read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(source.replace("to: cleared", "to: closed", 1)
                      .replace("roles: [unit]", "roles: [mayor]", 1), encoding="utf-8")
    out = rectify("definitions", "check", str(broken), code=1)
    assert "unknown state 'closed'" in out and "unknown role 'mayor'" in out
    assert f"{broken}:" in out and "problem(s) found" in out
    report = json.loads(rectify("definitions", "check", str(broken), "--json", code=1))
    assert not report["ok"]
    assert {(f["key"], f["file"]) for f in report["faults"]} >= {
        ("transitions[3].to", str(broken)), ("transitions[1].roles[0]", str(broken))}
    assert "2 definition(s) valid" in rectify("definitions", "check")


def test_verify_reports_tampering_with_exit_code_1(rectify, db: Database) -> None:
    rectify("issue", "create", "--title", "x")
    with db.transaction() as conn:
        conn.exec_driver_sql("UPDATE issues SET state = 'cleared'")
    out = rectify("verify", code=1)
    assert "history check FAILED: issue 1" in out


def test_commands_on_an_uninitialised_database_say_to_run_init(tmp_path: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = CliRunner().invoke(app, ["issue", "list"])
    assert result.exit_code == 1 and "run `rectify init`" in result.output


def test_demo_runs_the_sample_plan_without_servers(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    # 5 creations and 20 steps, through the acceptance steps of rectification@2
    for text in ("整改情况清单", "已销号", "验收不通过", "待现场核查", "五个决不放过",
                 "现场核查通过", "公示异议", "审签",
                 "history verified: 5 issues, 25 events, intact"):
        assert text in result.output
    assert (tmp_path / "demo.db").exists()


def test_deadline_commands_sweep_extend_timers_outbox(rectify) -> None:
    # Given an issue in progress whose deadline (2026-01-31) has passed
    issue_id = str(json.loads(rectify("issue", "create", "--title", "扬尘", "--unit", "杜集区",
                                      "--leader", "李副市长", "--deadline", "2026-01-31",
                                      "--json"))["id"])
    rectify("issue", "fire", issue_id, "start", "--as", "杜集区", "--role", "unit")
    timers = json.loads(rectify("timers", "list", "--issue", issue_id, "--json"))
    assert [t["level"] for t in timers] == ["reminder:7 days", "reminder:3 days",
                                            "reminder:1 day", "red", "key_supervision",
                                            "accountability"]
    # When one sweep runs as of 2026-02-03, three days past it
    report = json.loads(rectify("sweep", "--now", "2026-02-03T09:00", "--json"))
    # Then the issue got one red notice (to leader and office) and shows a red light
    assert (report["sent"], report["notifications"], report["levels"]) == (1, 2, {"red": 1})
    red = json.loads(rectify("issue", "list", "--light", "red", "--json"))
    assert [v["id"] for v in red] == [int(issue_id)]
    assert "unknown light 'purple'" in rectify("issue", "list", "--light", "purple", code=2)
    queued = json.loads(rectify("outbox", "list", "--status", "pending", "--json"))
    assert sorted(n["recipient"] for n in queued) == ["整改办", "李副市长"]
    # And delivering sends them through the default log channel
    assert "sent 2" in rectify("outbox", "deliver")
    assert "0 digest(s) queued" in rectify("outbox", "digest")
    assert "sent" in rectify("outbox", "list", "--status", "sent")
    rectify("outbox", "dead")  # exit 0: no dead letters
    # When the office approves an extension, the old timers go and new ones come
    rectify("issue", "extend", issue_id, "--until", "2026-12-31", "--reason", "正当理由")
    pending = json.loads(rectify("timers", "list", "--issue", issue_id, "--json"))
    assert {t["deadline_at"][:10] for t in pending} == {"2026-12-31"}
    assert "--until '2026-13-01' is not a date" in rectify(
        "issue", "extend", issue_id, "--until", "2026-13-01", "--reason", "x", code=2)


def test_distributed_commands_need_a_broker_and_say_so(rectify, monkeypatch) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    for command in ("scheduler", "worker"):
        output = rectify(command, code=1)
        assert "BROKER_URL" in output and "rectify serve" in output


def test_bad_run_setting_stops_serve_with_the_variable_named(rectify, monkeypatch) -> None:
    monkeypatch.setenv("RECTIFY_RELAY_INTERVAL", "often")
    output = rectify("serve", code=1)
    assert "RECTIFY_RELAY_INTERVAL='often' is not a number of seconds" in output


def test_accountability_from_the_command_line(rectify) -> None:
    rectify("issue", "create", "--title", "黑臭水体返黑返臭", "--unit", "杜集区")
    rectify("accountability", "add", "--subject", "李某", "--type", "领导干部", "--rank", "处级",
            "--method", "通报", "--method", "诫勉", "--decided-by", "市纪委监委",
            "--date", "2020-12-01", "--issue", "1", "--disclosed", "--as", "市纪委监委",
            "--role", "discipline")
    [row] = json.loads(rectify("accountability", "list", "--json"))
    assert (row["subject"], row["rank"], row["methods"], row["issues"], row["disclosed"]) == (
        "李某", "county", ["circulation", "admonishment"], [1], True)
    assert json.loads(rectify("accountability", "summary", "--json")) == {
        "organizations": 0, "cadres": 1, "by_rank": {"county": 1}}
    refused = rectify("accountability", "add", "--subject", "王某", "--type", "干部",
                      "--method", "诫勉", "--decided-by", "x", "--date", "2020-12-01",
                      "--issue", "1", code=2)
    assert ("unknown subject type '干部'; allowed: 党组织 (organization), 领导干部 (cadre)"
            in refused)


def test_definitions_migrate_dry_run_lists_and_exits_1_when_some_cannot_move(
        rectify, tmp_path: Path) -> None:
    for title in ("问题一", "问题二"):
        rectify("issue", "create", "--title", title, "--unit", "杜集区",
                "--definition", "rectification@1")
    rectify("issue", "fire", "2", "start", "--as", "杜集区", "--role", "unit")
    source = Path("definitions/rectification-v1.yaml").read_text(encoding="utf-8")
    renamed = source.replace("version: 1", "version: 3").replace(
        "- key: in_progress\n", "- key: working\n").replace(
        "to: in_progress\n", "to: working\n").replace("from: in_progress\n", "from: working\n")
    (tmp_path / "v3.yaml").write_text(renamed, encoding="utf-8")
    rectify("definitions", "load", str(tmp_path / "v3.yaml"))
    report = json.loads(rectify("definitions", "migrate", "--from", "rectification@1",
                                "--to", "rectification@3", "--dry-run", "--json", code=1))
    assert [m["issue_id"] for m in report["moved"]] == [1] and report["dry_run"] is True
    assert report["refused"][0]["issue_id"] == 2
    assert "state 'in_progress' does not exist in rectification@3" in \
        report["refused"][0]["reason"]
    assert "rectification@1" in rectify("issue", "show", "1")


def test_monthly_progress_from_the_command_line(rectify) -> None:
    rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区人民政府")
    rectify("issue", "create", "--title", "工地扬尘", "--unit", "杜集区")
    month = json.loads(rectify("issue", "show", "1", "--json"))["created_at"][:7]
    rectify("issue", "progress", "1", "--month", month, "--text", "已完成30%", "--percent",
            "30", "--behind", "--as", "相山区人民政府", "--role", "unit")
    [report] = json.loads(rectify("issue", "reports", "1", "--json"))
    assert (report["month"], report["percent"], report["on_schedule"]) == (month, 30, False)
    assert json.loads(rectify("issue", "show", "1", "--json"))["light"] == "yellow"
    owing = json.loads(rectify("progress", "missing", "--month", month, "--json"))
    assert [row["id"] for row in owing["owing"]] == [2] and owing["marked"] is None
    refused = rectify("issue", "progress", "2", "--month", month, "--text", "x", "--percent",
                      "5", "--as", "相山区人民政府", "--role", "unit", code=1)
    assert "the issue belongs to 杜集区" in refused


def test_reading_as_a_unit_or_the_public(rectify) -> None:
    rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区人民政府",
            "--leader", "王副市长", "--measures", "加装净化设施")
    rectify("issue", "create", "--title", "工地扬尘", "--unit", "杜集区")
    mine = json.loads(rectify("issue", "list", "--as", "相山区人民政府", "--role", "unit",
                              "--json"))
    assert [v["id"] for v in mine] == [1]
    public = json.loads(rectify("issue", "list", "--as", "群众", "--role", "public", "--json"))
    assert [v["title"] for v in public] == ["餐饮油烟扰民", "工地扬尘"]
    assert "leader" not in public[0] and public[0]["measures"] == "加装净化设施"
    # One issue, and its history, read the same way: in scope or refused with the reason
    assert json.loads(rectify("issue", "show", "1", "--as", "相山区人民政府", "--role", "unit",
                              "--json"))["leader"] == "王副市长"
    refused = rectify("issue", "show", "2", "--as", "相山区人民政府", "--role", "unit", code=1)
    assert "相山区人民政府 (role 'unit') may not read it: the issue belongs to 杜集区" in refused
    [shown] = json.loads(rectify("issue", "show", "1", "--as", "群众", "--role", "public",
                                 "--json"))
    assert set(shown) == set(policy.PUBLIC_FIELDS)
    refused = rectify("issue", "history", "1", "--as", "群众", "--role", "public", code=1)
    assert "role 'public' may not read an issue's history (internal records)" in refused
    history = json.loads(rectify("issue", "history", "1", "--as", "相山区人民政府", "--role",
                                 "unit", "--json"))
    assert [event["trigger"] for event in history] == ["create"]
    refused = rectify("issue", "history", "2", "--as", "相山区人民政府", "--role", "unit", code=1)
    assert "may not read its history: the issue belongs to 杜集区" in refused
