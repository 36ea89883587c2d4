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
    # Commands that change records act as the office unless they say --as
    monkeypatch.setenv("RECTIFY_ACTOR", "市整改办")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    run("init", "--training")  # the sweeps below move the clock
    return run


def test_init_a_second_time_changes_nothing_and_lists_both_definitions(rectify) -> None:
    # Given a database initialised once (the fixture runs `rectify init`)
    # When init runs again
    out = rectify("init")
    # Then both shipped definitions are reported unchanged
    assert "rectification@1: unchanged" in out and "rectification@2: unchanged" in out
    # And the list holds each of them once, with no issues
    rows = json.loads(rectify("definitions", "list", "--json"))
    assert [(row["id"], row["version"], row["label_zh"], row["issues"]) for row in rows] == [
        ("rectification", 1, "督察整改问题", 0), ("rectification", 2, "督察整改问题", 0)]


def two_issues_one_applied_for_acceptance(rectify, tmp_path: Path) -> tuple[dict, dict, str]:
    """餐饮油烟扰民 of 相山区 (王副市长, due 2026-01-31), started and applied for acceptance
    with 清单.txt, and 黑臭水体 of 杜集区 (due 2099-12-31), just created; with what
    `issue fire … start` printed."""
    created = json.loads(rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区",
                                 "--leader", "王副市长", "--deadline", "2026-01-31", "--json"))
    other = json.loads(rectify("issue", "create", "--title", "黑臭水体", "--unit", "杜集区",
                               "--deadline", "2099-12-31", "--json"))
    issue_id = str(created["id"])
    started = rectify("issue", "fire", issue_id, "start", "--as", "相山区", "--role", "unit")
    evidence = tmp_path / "清单.txt"
    evidence.write_text("整改清单", encoding="utf-8")
    rectify("issue", "fire", issue_id, "apply_acceptance", "--as", "相山区", "--role", "unit",
            "--comment", "已完成", "--evidence", str(evidence))
    return created, other, started


def test_create_and_fire_print_the_new_state_and_show_gives_the_next_triggers(
        rectify, tmp_path: Path) -> None:
    # When an issue is created, started and applied for acceptance
    created, _, started = two_issues_one_applied_for_acceptance(rectify, tmp_path)
    # Then creation printed it assigned (已交办) with its deadline, and firing the move
    assert (created["state"], created["state_label_zh"], created["deadline"]) == (
        "assigned", "已交办", "2026-01-31")
    assert "assigned → in_progress (version 2)" in started
    # And new issues follow rectification@2: the site check (or a rejection) comes next
    shown = json.loads(rectify("issue", "show", str(created["id"]), "--json"))
    assert (shown["state"], shown["stage"], shown["version"], shown["allowed_triggers"]) == (
        "acceptance", "applied", 3, ["site_check", "reject"])
    assert shown["definition"] == "rectification@2"


def test_history_lists_each_event_in_shanghai_time_and_verify_finds_it_intact(
        rectify, tmp_path: Path) -> None:
    # Given an issue applied for acceptance with evidence, and another just created
    created, _, _ = two_issues_one_applied_for_acceptance(rectify, tmp_path)
    # When its history is read
    history = json.loads(rectify("issue", "history", str(created["id"]), "--json"))
    # Then it lists each event, with the evidence's name, at Shanghai times
    assert [e["trigger"] for e in history] == ["create", "start", "apply_acceptance"]
    assert history[2]["payload"]["evidence"][0]["name"] == "清单.txt"
    assert history[0]["at"].endswith("+08:00")
    # And verify finds every issue's history intact
    assert "history intact: 2 issue(s), 4 event(s)" in rectify("verify")


def test_issue_list_filters_by_unit_state_leader_and_overdue_and_prints_a_table(
        rectify, tmp_path: Path) -> None:
    # Given an issue of 相山区 (王副市长) past its deadline and applied for acceptance, and
    # one of 杜集区 due in 2099
    created, other, _ = two_issues_one_applied_for_acceptance(rectify, tmp_path)
    # When the issues are listed by unit, state, leader and being overdue
    by_unit = json.loads(rectify("issue", "list", "--unit", "杜集区", "--json"))
    by_state = json.loads(rectify("issue", "list", "--state", "acceptance", "--json"))
    by_leader = json.loads(rectify("issue", "list", "--leader", "王副市长", "--json"))
    overdue = json.loads(rectify("issue", "list", "--overdue", "--json"))
    # Then each filter gives the issue it names
    assert [v["id"] for v in by_unit] == [other["id"]]
    assert [v["id"] for v in by_state] == [created["id"]]
    assert [v["id"] for v in by_leader] == [created["id"]]
    assert [v["id"] for v in overdue] == [created["id"]]
    assert overdue[0]["days_overdue"] > 0
    # And without --json the list is the 整改情况清单 table with Chinese state labels
    table = rectify("issue", "list")
    assert "整改情况清单" in table and "待验收" in table


def test_an_illegal_trigger_exits_1_naming_the_triggers_allowed(rectify) -> None:
    # Given an issue just created
    issue_id = str(json.loads(rectify("issue", "create", "--title", "x", "--unit", "u",
                                      "--json"))["id"])
    # When the office tries to clear it
    out = rectify("issue", "fire", issue_id, "clear", "--as", "办", "--role", "office", code=1)
    # Then it exits 1 and says what may be fired instead
    assert "allowed triggers: start" in out


def test_a_trigger_without_its_requirements_exits_1_naming_each_of_them(rectify) -> None:
    # Given an issue in progress
    issue_id = str(json.loads(rectify("issue", "create", "--title", "x", "--unit", "u",
                                      "--json"))["id"])
    rectify("issue", "fire", issue_id, "start", "--as", "办", "--role", "office")
    # When the unit applies for acceptance with neither a comment nor evidence
    out = rectify("issue", "fire", issue_id, "apply_acceptance", "--as", "u", "--role", "unit",
                  code=1)
    # Then it exits 1 and names both requirements
    assert "a comment is required" in out and "evidence file(s) are required" in out


def test_a_malformed_deadline_exits_2_with_the_format_to_use(rectify) -> None:
    # When an issue is created with a deadline that is not a date
    out = rectify("issue", "create", "--title", "x", "--deadline", "2026/13/01", code=2)
    # Then it exits 2 and says how to write one
    assert "use YYYY-MM-DD" in out


def test_showing_an_unknown_issue_exits_1_and_says_it_does_not_exist(rectify) -> None:
    # Given an issue, so that the database is not empty
    rectify("issue", "create", "--title", "x", "--unit", "u")
    # When an issue id that does not exist is shown
    # Then it exits 1 and says so
    assert "issue 999 does not exist" in rectify("issue", "show", "999", code=1)


def test_definitions_check_prints_every_fault_and_exits_non_zero(rectify,
                                                                 tmp_path: Path) -> None:
    # Given the shipped rectification@1 with an unknown state and an unknown role put in
    source = (Path(__file__).parent.parent / "definitions" / "rectification-v1.yaml"
              ).read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(source.replace("to: cleared", "to: closed", 1)
                      .replace("roles: [unit]", "roles: [mayor]", 1), encoding="utf-8")
    # When it is checked
    out = rectify("definitions", "check", str(broken), code=1)
    # Then it exits 1 and prints both faults, each with its file
    assert "unknown state 'closed'" in out and "unknown role 'mayor'" in out
    assert f"{broken}:" in out and "problem(s) found" in out
    # And --json gives each fault with its key and file
    report = json.loads(rectify("definitions", "check", str(broken), "--json", code=1))
    assert not report["ok"]
    assert {(f["key"], f["file"]) for f in report["faults"]} >= {
        ("transitions[3].to", str(broken)), ("transitions[1].roles[0]", str(broken))}


def test_definitions_check_without_a_file_finds_the_shipped_definitions_valid(
        rectify) -> None:
    # When the definitions are checked without naming a file
    # Then the shipped ones are checked and found valid
    assert "2 definition(s) valid" in rectify("definitions", "check")


def test_verify_reports_tampering_with_exit_code_1(rectify, db: Database) -> None:
    # Given an issue whose state was changed by hand, behind its history's back
    rectify("issue", "create", "--title", "x")
    with db.transaction() as conn:
        conn.exec_driver_sql("UPDATE issues SET state = 'cleared'")
    # When the history is verified
    out = rectify("verify", code=1)
    # Then it exits 1 naming the issue
    assert "history check FAILED: issue 1" in out


def test_commands_on_an_uninitialised_database_say_to_run_init(tmp_path: Path,
                                                                monkeypatch) -> None:
    # Given a database that was never initialised
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    # When the issues are listed
    result = CliRunner().invoke(app, ["issue", "list"])
    # Then it exits 1 and says to run `rectify init`
    assert result.exit_code == 1 and "run `rectify init`" in result.output


def test_demo_runs_the_sample_plan_without_servers(tmp_path: Path) -> None:
    # When the demo runs, keeping its database
    result = CliRunner().invoke(app, ["demo", "--keep", str(tmp_path)])
    # Then it succeeds: 5 creations and 20 steps, through the acceptance steps of
    # rectification@2, ending with a verified history
    assert result.exit_code == 0, result.output
    for text in ("整改情况清单", "已销号", "验收不通过", "待现场核查", "五个决不放过",
                 "现场核查通过", "公示异议", "审签",
                 "history verified: 5 issues, 25 events, intact"):
        assert text in result.output
    # And the database is kept where it was asked
    assert (tmp_path / "demo.db").exists()


def started_issue_due_2026_01_31(rectify) -> str:
    """扬尘 of 杜集区, supervised by 李副市长, due 2026-01-31, started by its unit."""
    issue_id = str(json.loads(rectify("issue", "create", "--title", "扬尘", "--unit", "杜集区",
                                      "--leader", "李副市长", "--deadline", "2026-01-31",
                                      "--json"))["id"])
    rectify("issue", "fire", issue_id, "start", "--as", "杜集区", "--role", "unit")
    return issue_id


def test_timers_list_shows_the_reminders_and_escalations_of_a_started_issue(rectify) -> None:
    # Given an issue in progress, due 2026-01-31
    issue_id = started_issue_due_2026_01_31(rectify)
    # When its timers are listed
    timers = json.loads(rectify("timers", "list", "--issue", issue_id, "--json"))
    # Then they are the three reminders and the three escalation levels, in order
    assert [t["level"] for t in timers] == ["reminder:7 days", "reminder:3 days",
                                            "reminder:1 day", "red", "key_supervision",
                                            "accountability"]


def test_a_sweep_past_the_deadline_sends_one_red_notice_and_lights_the_issue_red(
        rectify) -> None:
    # Given an issue in progress whose deadline (2026-01-31) has passed
    issue_id = started_issue_due_2026_01_31(rectify)
    # When one sweep runs as of 2026-02-03, three days past it
    report = json.loads(rectify("sweep", "--now", "2026-02-03T09:00", "--json"))
    # Then the issue got one red notice (to leader and office) and shows a red light
    assert (report["sent"], report["notifications"], report["levels"]) == (1, 2, {"red": 1})
    red = json.loads(rectify("issue", "list", "--light", "red", "--json"))
    assert [v["id"] for v in red] == [int(issue_id)]
    assert "unknown light 'purple'" in rectify("issue", "list", "--light", "purple", code=2)
    # And the two notices wait in the outbox
    queued = json.loads(rectify("outbox", "list", "--status", "pending", "--json"))
    assert sorted(n["recipient"] for n in queued) == ["整改办", "李副市长"]


def test_outbox_deliver_sends_the_queued_notices_through_the_log_channel(rectify) -> None:
    # Given an overdue issue swept, with its two red notices in the outbox
    started_issue_due_2026_01_31(rectify)
    rectify("sweep", "--now", "2026-02-03T09:00")
    # When the outbox is delivered
    delivered = rectify("outbox", "deliver")
    # Then both are sent through the default log channel, and nothing is held or dead
    assert "sent 2" in delivered
    assert "0 digest(s) queued" in rectify("outbox", "digest")
    assert "sent" in rectify("outbox", "list", "--status", "sent")
    rectify("outbox", "dead")  # exit 0: no dead letters


def test_an_extension_replaces_the_timers_with_ones_for_the_new_deadline(rectify) -> None:
    # Given an overdue issue swept
    issue_id = started_issue_due_2026_01_31(rectify)
    rectify("sweep", "--now", "2026-02-03T09:00")
    # When the office approves an extension to 2026-12-31
    rectify("issue", "extend", issue_id, "--until", "2026-12-31", "--reason", "正当理由")
    # Then the old timers go and the pending ones are all for the new deadline
    pending = json.loads(rectify("timers", "list", "--issue", issue_id, "--json"))
    assert {t["deadline_at"][:10] for t in pending} == {"2026-12-31"}
    # And an extension to a day that does not exist is refused with exit 2
    assert "--until '2026-13-01' is not a date" in rectify(
        "issue", "extend", issue_id, "--until", "2026-13-01", "--reason", "x", code=2)


def test_distributed_commands_need_a_broker_and_say_so(rectify, monkeypatch) -> None:
    # Given no BROKER_URL
    monkeypatch.delenv("BROKER_URL", raising=False)
    for command in ("scheduler", "worker"):
        # When the scheduler or a worker is started
        output = rectify(command, code=1)
        # Then it exits 1, naming BROKER_URL and `rectify serve` as the way without one
        assert "BROKER_URL" in output and "rectify serve" in output


def test_bad_run_setting_stops_serve_with_the_variable_named(rectify, monkeypatch) -> None:
    # Given a relay interval that is not a number
    monkeypatch.setenv("RECTIFY_RELAY_INTERVAL", "often")
    # When `rectify serve` starts
    output = rectify("serve", code=1)
    # Then it stops at once, naming the variable, its value and what it should be
    assert "RECTIFY_RELAY_INTERVAL='often' is not a number of seconds" in output


def test_an_accountability_record_added_is_listed_and_summed_by_rank(rectify) -> None:
    # Given an issue
    rectify("issue", "create", "--title", "黑臭水体返黑返臭", "--unit", "杜集区")
    # When the discipline commission records that a county-level cadre was held to account
    rectify("accountability", "add", "--subject", "李某", "--type", "领导干部", "--rank", "处级",
            "--method", "通报", "--method", "诫勉", "--decided-by", "市纪委监委",
            "--date", "2020-12-01", "--issue", "1", "--disclosed", "--as", "市纪委监委",
            "--role", "discipline")
    # Then the list shows the record with its rank and methods, and the summary counts it
    [row] = json.loads(rectify("accountability", "list", "--json"))
    assert (row["subject"], row["rank"], row["methods"], row["issues"], row["disclosed"]) == (
        "李某", "county", ["circulation", "admonishment"], [1], True)
    assert json.loads(rectify("accountability", "summary", "--json")) == {
        "organizations": 0, "cadres": 1, "by_rank": {"county": 1}}


def test_an_accountability_record_of_an_unknown_subject_type_exits_2_naming_the_types(
        rectify) -> None:
    # Given an issue
    rectify("issue", "create", "--title", "黑臭水体返黑返臭", "--unit", "杜集区")
    # When a record is added for a subject type that does not exist
    refused = rectify("accountability", "add", "--subject", "王某", "--type", "干部",
                      "--method", "诫勉", "--decided-by", "x", "--date", "2020-12-01",
                      "--issue", "1", code=2)
    # Then it exits 2 and names the two types there are
    assert ("unknown subject type '干部'; allowed: 党组织 (organization), 领导干部 (cadre)"
            in refused)


def test_definitions_migrate_dry_run_lists_and_exits_1_when_some_cannot_move(
        rectify, tmp_path: Path) -> None:
    # Given two issues on rectification@1, the second in progress, and a version 3 in which
    # in_progress is renamed working
    for title in ("问题一", "问题二"):
        rectify("issue", "create", "--title", title, "--unit", "杜集区",
                "--definition", "rectification@1")
    rectify("issue", "fire", "2", "start", "--as", "杜集区", "--role", "unit")
    source = Path("definitions/rectification-v1.yaml").read_text(encoding="utf-8")
    renamed = source.replace("version: 1", "version: 3").replace(
        "- key: in_progress\n", "- key: working\n").replace(
        "to: in_progress\n", "to: working\n").replace("from: in_progress\n", "from: working\n")
    (tmp_path / "v3.yaml").write_text(renamed, encoding="utf-8")
    rectify("init", "--admin", "市整改办")  # loading definitions takes an office person
    rectify("definitions", "load", str(tmp_path / "v3.yaml"))
    # When a dry run of the migration from version 1 to 3 is asked for
    report = json.loads(rectify("definitions", "migrate", "--from", "rectification@1",
                                "--to", "rectification@3", "--dry-run", "--json", code=1))
    # Then it exits 1: the first issue would move, the second not, with the reason
    assert [m["issue_id"] for m in report["moved"]] == [1] and report["dry_run"] is True
    assert report["refused"][0]["issue_id"] == 2
    assert "state 'in_progress' does not exist in rectification@3" in \
        report["refused"][0]["reason"]
    # And nothing moved
    assert "rectification@1" in rectify("issue", "show", "1")


def two_issues_of_two_units(rectify) -> str:
    """餐饮油烟扰民 of 相山区人民政府 and 工地扬尘 of 杜集区; returns the month they were made."""
    rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区人民政府")
    rectify("issue", "create", "--title", "工地扬尘", "--unit", "杜集区")
    return json.loads(rectify("issue", "show", "1", "--json"))["created_at"][:7]


def test_a_unit_reports_its_monthly_progress_and_behind_schedule_turns_it_yellow(
        rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    month = two_issues_of_two_units(rectify)
    # When 相山区人民政府 reports 30% this month, behind schedule
    rectify("issue", "progress", "1", "--month", month, "--text", "已完成30%", "--percent",
            "30", "--behind", "--as", "相山区人民政府", "--role", "unit")
    # Then the report is listed for the issue, and the issue's light is yellow
    [report] = json.loads(rectify("issue", "reports", "1", "--json"))
    assert (report["month"], report["percent"], report["on_schedule"]) == (month, 30, False)
    assert json.loads(rectify("issue", "show", "1", "--json"))["light"] == "yellow"


def test_progress_missing_lists_the_issues_that_owe_the_month_without_marking_them(
        rectify) -> None:
    # Given two issues, the first with this month's progress reported
    month = two_issues_of_two_units(rectify)
    rectify("issue", "progress", "1", "--month", month, "--text", "已完成30%", "--percent",
            "30", "--behind", "--as", "相山区人民政府", "--role", "unit")
    # When the issues owing this month's report are asked for
    owing = json.loads(rectify("progress", "missing", "--month", month, "--json"))
    # Then only the second is listed, and none is marked
    assert [row["id"] for row in owing["owing"]] == [2] and owing["marked"] is None


def test_a_unit_may_not_report_progress_on_another_units_issue(rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    month = two_issues_of_two_units(rectify)
    # When 相山区人民政府 reports progress on 杜集区's issue
    refused = rectify("issue", "progress", "2", "--month", month, "--text", "x", "--percent",
                      "5", "--as", "相山区人民政府", "--role", "unit", code=1)
    # Then it exits 1, saying whose the issue is
    assert "the issue belongs to 杜集区" in refused


def issue_of_each_unit(rectify) -> None:
    """餐饮油烟扰民 of 相山区人民政府 (王副市长, measures 加装净化设施), and 工地扬尘 of 杜集区."""
    rectify("issue", "create", "--title", "餐饮油烟扰民", "--unit", "相山区人民政府",
            "--leader", "王副市长", "--measures", "加装净化设施")
    rectify("issue", "create", "--title", "工地扬尘", "--unit", "杜集区")


def test_a_unit_lists_only_its_own_issues(rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    issue_of_each_unit(rectify)
    # When 相山区人民政府 lists the issues
    mine = json.loads(rectify("issue", "list", "--as", "相山区人民政府", "--role", "unit",
                              "--json"))
    # Then it sees its own only
    assert [v["id"] for v in mine] == [1]


def test_the_public_lists_every_issue_with_the_disclosed_fields_only(rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    issue_of_each_unit(rectify)
    # When the public lists the issues
    public = json.loads(rectify("issue", "list", "--as", "群众", "--role", "public", "--json"))
    # Then it sees both, with their measures but not their leader
    assert [v["title"] for v in public] == ["餐饮油烟扰民", "工地扬尘"]
    assert "leader" not in public[0] and public[0]["measures"] == "加装净化设施"


def test_a_unit_shows_its_own_issue_and_is_refused_another_with_the_reason(rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    issue_of_each_unit(rectify)
    # When 相山区人民政府 shows its own issue, then 杜集区's
    mine = json.loads(rectify("issue", "show", "1", "--as", "相山区人民政府", "--role", "unit",
                              "--json"))
    refused = rectify("issue", "show", "2", "--as", "相山区人民政府", "--role", "unit", code=1)
    # Then its own is shown in full, and the other is refused with the reason
    assert mine["leader"] == "王副市长"
    assert "相山区人民政府 (role 'unit') may not read it: the issue belongs to 杜集区" in refused


def test_the_public_sees_an_issues_public_fields_and_not_its_history(rectify) -> None:
    # Given an issue of 相山区人民政府
    issue_of_each_unit(rectify)
    # When the public shows it, and asks for its history
    [shown] = json.loads(rectify("issue", "show", "1", "--as", "群众", "--role", "public",
                                 "--json"))
    refused = rectify("issue", "history", "1", "--as", "群众", "--role", "public", code=1)
    # Then it gets exactly the public fields, and the history is refused as internal
    assert set(shown) == set(policy.PUBLIC_FIELDS)
    assert "role 'public' may not read an issue's history (internal records)" in refused


def test_a_unit_reads_the_history_of_its_own_issues_only(rectify) -> None:
    # Given an issue of 相山区人民政府 and one of 杜集区
    issue_of_each_unit(rectify)
    # When 相山区人民政府 reads the history of its own issue, then of 杜集区's
    history = json.loads(rectify("issue", "history", "1", "--as", "相山区人民政府", "--role",
                                 "unit", "--json"))
    refused = rectify("issue", "history", "2", "--as", "相山区人民政府", "--role", "unit", code=1)
    # Then its own history is there, and the other is refused with the reason
    assert [event["trigger"] for event in history] == ["create"]
    assert "may not read its history: the issue belongs to 杜集区" in refused
