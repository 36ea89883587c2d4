"""Errors, not tracebacks: every `rectify` command, given bad input, says what was wrong and
exits 1 or 2; a command that changes records refuses to run without an actor; `--now` moves
the clock only on a training database. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from workflow.cli import app
from workflow.db import Database


def command_paths() -> list[str]:
    """Every leaf command of `rectify`, e.g. ``issue fire``."""
    def walk(command: object, path: list[str]) -> list[str]:
        children = getattr(command, "commands", None)
        if children is None:
            return [" ".join(path)]
        return [leaf for name, sub in children.items() for leaf in walk(sub, [*path, name])]
    return walk(typer.main.get_command(app), [])


# Each command with bad input: an unknown issue, proposal or notification, a malformed value,
# an unknown choice, a missing file.
BAD_INPUT: dict[str, list[str]] = {
    "init": ["--admin", " "],
    "sweep": ["--limit", "many"],
    "verify": ["--issue", "x"],
    "demo": ["--keep", "/dev/null"],
    "serve": ["--threads", "4"],
    "scheduler": ["--leader", "me"],
    "worker": ["--concurrency", "lots"],
    "doctor": ["--json", "yes"],
    "db upgrade": ["head"],
    "db grant": ["rectify-app; DROP TABLE issues"],
    "checkpoint": ["--prove", "x"],
    "keys show": ["--all"],
    "keys rotate": ["--all"],
    "definitions check": ["no/such/definitions"],
    "definitions load": ["no/such/definitions"],
    "definitions list": ["--all"],
    "definitions migrate": ["--from", "rectification", "--to", "rectification@9"],
    "issue create": ["--title", "问题", "--deadline", "2026-02-30"],
    "issue list": ["--light", "purple"],
    "issue show": ["999"],
    "issue fire": ["1", "fly"],
    "issue history": ["999"],
    "issue extend": ["1", "--until", "soon", "--reason", "延期"],
    "issue progress": ["1", "--month", "March", "--text", "进展", "--percent", "60"],
    "issue reports": ["999"],
    "issue split": ["999"],
    "issue instruct": ["999", "--text", "批示"],
    "issue milestones": ["1", "--stage", "方案编制=soon"],
    "issue reach": ["1", "不存在的节点"],
    "timers list": ["--issue", "one"],
    "outbox list": ["--limit", "all"],
    "outbox dead": ["--limit", "all"],
    "outbox retry": ["999"],
    "outbox show": ["999"],
    "outbox deliver": ["--now", "next tuesday"],
    "outbox digest": ["today"],
    "calendar check": ["no/such/calendar.yaml"],
    "calendar recompute": ["--as", "不存在的人"],
    "contacts add": ["某单位", "--channel", "pigeon", "--address", "x"],
    "contacts list": ["--all"],
    "progress missing": ["--month", "2026-13"],
    "accountability add": ["--subject", "张某", "--type", "外星人", "--method", "诫勉",
                           "--decided-by", "纪委", "--date", "2026-11-20"],
    "accountability adopt": ["999", "--subject", "张某", "--type", "领导干部", "--method",
                             "诫勉", "--decided-by", "纪委", "--date", "2026-11-20"],
    "accountability dismiss": ["999", "--reason", "已批准延期"],
    "accountability proposals": ["--status", "maybe"],
    "accountability list": ["--issue", "x"],
    "accountability summary": ["--all"],
    "lookback start": ["--plan", "不存在的方案", "--sample", "200%"],
    "units add": ["相山区", "--parent", "不存在的市"],
    "units list": ["--all"],
    "people add": ["张三", "--role", "mayor"],
    "people list": ["--all"],
    "plan inspection": ["督察组", "--level", "宇宙级"],
    "plan add": ["方案", "--issued", "yesterday"],
    "plan list": ["--all"],
    "audit list": ["--limit", "all"],
    "audit verify": ["--all"],
    "web": ["--port", "http"],
    "accounts add": ["zhang.ke", "--person", "张科长"],
    "accounts list": ["--all"],
    "accounts disable": ["no.such.login"],
    "accounts reset-password": ["no.such.login"],
    "accounts totp": ["no.such.login"],
    "tokens create": ["zhang.ke", "--scope", "admin"],
    "tokens list": ["--all"],
    "tokens revoke": ["one"],
    "ledger import": ["no/such/ledger.xlsx", "--plan", "方案"],
    "ledger export": ["台账.csv"],
    "report progress": ["--as-of", "yesterday"],
    "report monthly": ["--month", "2026-13"],
    "report public": ["--format", "pdf"],
}


@pytest.fixture
def rectify(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`rectify ARGS` on the test database, started with an office person (市整改办) and one
    issue; returns the result (exit code, output, exception)."""
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("RECTIFY_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.delenv("RECTIFY_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args))

    assert run("init", "--admin", "市整改办").exit_code == 0
    assert run("issue", "create", "--title", "餐饮油烟扰民", "--as", "市整改办").exit_code == 0
    return run


def test_every_command_has_a_bad_input_case() -> None:
    # Given every command of `rectify`
    # Then each has a bad-input case below, and no case names a command that is gone
    assert sorted(BAD_INPUT) == sorted(command_paths())


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_gets_a_message_and_exit_1_or_2_never_a_traceback(
        rectify, command: str) -> None:
    # Given a started database with one issue
    # (commands that change records act as the office, so the bad input is what is refused)
    args = [*command.split(), *BAD_INPUT[command]]
    if "--as" not in args and _takes_actor(command):
        args += ["--as", "市整改办"]
    # When the command runs with bad input
    result = rectify(*args)
    # Then it exits 1 or 2 with a message, and no exception escaped
    assert isinstance(result.exception, SystemExit), (args, result.exception, result.output)
    assert result.exit_code in (1, 2), (args, result.output)
    assert result.output.strip(), args


def _takes_actor(command: str) -> bool:
    found = typer.main.get_command(app)
    for name in command.split():
        found = found.commands[name]  # type: ignore[attr-defined]
    return any("--as" in getattr(param, "opts", ()) for param in found.params)


CHANGES = [
    ["issue", "create", "--title", "问题"], ["issue", "fire", "1", "start"],
    ["issue", "extend", "1", "--until", "2027-03-31", "--reason", "汛期"],
    ["units", "add", "淮北市"], ["people", "add", "张三", "--role", "unit"],
    ["contacts", "add", "某单位", "--channel", "email", "--address", "a@b.cn"],
    ["outbox", "retry", "--all-dead"], ["definitions", "load"], ["calendar", "recompute"],
    ["plan", "add", "方案"], ["plan", "inspection", "督察组", "--level", "省级"],
]


@pytest.mark.parametrize("args", CHANGES, ids=lambda args: " ".join(args[:2]))
def test_a_change_without_an_actor_is_refused_and_changes_nothing(
        rectify, args: list[str]) -> None:
    # Given a started database, and no --as and no RECTIFY_ACTOR
    def records() -> tuple[str, str]:
        return (rectify("issue", "list", "--json").output,
                rectify("audit", "list", "--as", "市整改办").output)

    before = records()
    # When a command that changes records runs
    result = rectify(*args)
    # Then it is refused: there is no default actor; and nothing changed
    assert result.exit_code == 2, result.output
    assert "needs an actor: give --as NAME" in result.output and "RECTIFY_ACTOR" in result.output
    assert records() == before


def test_a_registered_office_person_registers_and_others_are_refused(rectify) -> None:
    # Given the office person 市整改办 and a unit person registered by them
    assert rectify("units", "add", "相山区人民政府", "--as", "市整改办").exit_code == 0
    assert rectify("people", "add", "张科长", "--role", "unit", "--unit", "相山区人民政府",
                   "--as", "市整改办").exit_code == 0
    # When the unit person registers someone
    refused = rectify("people", "add", "李四", "--role", "office", "--as", "张科长")
    # Then it is refused naming the role allowed
    assert refused.exit_code == 1
    assert "role 'unit' may not register people; roles allowed: office" in refused.output
    # And the registrations are on the audit trail with the actor and the OS user
    trail = json.loads(rectify("audit", "list", "--as", "市整改办", "--json").output)
    assert [(row["action"], row["actor"]) for row in trail] == [
        ("bootstrap", "市整改办"), ("unit_add", "市整改办"), ("person_add", "市整改办")]
    assert all(row["os_user"] for row in trail[1:])
    assert rectify("audit", "verify").exit_code == 0


def test_an_event_records_the_os_user_beside_the_actor(rectify) -> None:
    # When the office starts an issue's history through the CLI
    history = json.loads(rectify("issue", "history", "1", "--json").output)
    # Then its event names the actor and the operating-system user
    assert history[0]["actor"] == "市整改办"
    assert history[0]["payload"]["os_user"]


def test_sweep_now_is_refused_on_a_database_not_created_for_training(rectify) -> None:
    # Given a database created for real work
    # When a sweep is asked to run as of a later time
    result = rectify("sweep", "--now", "2099-07-10T09:00", "--as", "市整改办")
    # Then it is refused, says why and what is allowed, and nothing was swept
    assert result.exit_code == 2
    assert "only a training database" in result.output and "rectify init --training" in \
        result.output
    # And a real database cannot be turned into a training one
    again = rectify("init", "--training")
    assert again.exit_code == 2 and "marks a new database" in again.output


def test_sweep_now_on_a_training_database_needs_an_actor_and_is_audited(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a fresh training database with an office person
    monkeypatch.setenv("DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("RECTIFY_ACTOR", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--training", "--admin", "市整改办"]).exit_code == 0
    # When the clock is moved without an actor, then with one
    anonymous = runner.invoke(app, ["sweep", "--now", "2099-07-10T09:00"])
    moved = runner.invoke(app, ["sweep", "--now", "2099-07-10T09:00", "--as", "市整改办"])
    # Then the first is refused and the second sweeps, recorded on the audit trail
    assert anonymous.exit_code == 2 and "needs an actor" in anonymous.output
    assert moved.exit_code == 0, moved.output
    trail = json.loads(runner.invoke(app, ["audit", "list", "--as", "市整改办", "--json"]).output)
    assert (trail[-1]["action"], trail[-1]["actor"], trail[-1]["details"]["now"]) == (
        "clock_moved", "市整改办", "2099-07-10T01:00:00+00:00")
