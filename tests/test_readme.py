"""The README's Usage block works as written: every command in it runs, in order, on a fresh
training database from a directory that holds the repository's examples; a command marked
``# refused`` exits 1 (2 for bad input) with a message. None ends in a traceback.
``printf FORMAT [ARG…] | rectify …`` feeds the command's standard input."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workflow.cli import app
from workflow.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
MARKER = "<!-- usage-test:"


def usage_commands(text: str) -> list[tuple[str, list[str], bool, str | None]]:
    """The Usage block as (line as written, arguments after ``rectify`` or ``export``,
    refused?, standard input) in order; ``a && b`` gives two commands."""
    block = text[text.index(MARKER):].split("```sh\n", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        comment = re.search(r"\s#\s(.*)$", line)
        refused = bool(comment and comment.group(1).startswith("refused"))
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word != "&&":
                current.append(word)
                continue
            stdin = None
            if current and current[0] == "printf" and "|" in current:
                pipe = current.index("|")
                form, *args = current[1:pipe]
                stdin = form.replace("\\n", "\n") % tuple(args) if args else \
                    form.replace("\\n", "\n")
                current = current[pipe + 1:]
            assert current and current[0] in ("rectify", "export"), line
            commands.append((line.strip(), current, refused, stdin))
            current = []
    return commands


COMMANDS = usage_commands(README.read_text(encoding="utf-8"))


def test_the_usage_block_names_commands_in_the_order_they_run() -> None:
    # Given the README's Usage block
    # Then it starts by creating a training database with its first office person
    assert COMMANDS[0][1] == ["rectify", "init", "--training", "--admin", "市整改办"]
    assert len(COMMANDS) > 60


def test_every_command_of_the_usage_block_works_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a fresh directory with the repository's examples, and no settings
    (tmp_path / "examples").symlink_to(PROJECT_ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "RECTIFY_ACTOR", "RECTIFY_EVIDENCE_DIR", "BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    outputs: dict[tuple[str, ...], str] = {}
    # When each command runs in order
    for line, words, refused, stdin in COMMANDS:
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            monkeypatch.setenv(name, value)
            continue
        result = runner.invoke(app, words[1:], input=stdin)
        # Then it succeeds, or is refused where the README says so, with a message
        assert isinstance(result.exception, SystemExit | None), (line, result.exception)
        assert result.exit_code in ((1, 2) if refused else (0,)), (line, result.output)
        if refused:
            assert "error" in result.output, (line, result.output)
        outputs[tuple(words[1:])] = result.output
    # And the sample ledger, imported as the snapshot of 2021-03-28, gives the source report's
    # sentence as of that day; as of 2021-01-01 it counts by the sheet's dates: every item
    # assigned on the plan's feedback day (2020-04-02), none cleared (no 销号日期: the
    # clearances count from the snapshot day)
    progress = ("report", "progress", "--plan", "淮北市整改方案（示例台账）", "--as-of")
    assert "截至2021年3月28日，68个整改任务，已完成整改66个，其余2个正在推进整改。" \
        "其中2个已超过整改时限。" in outputs[(*progress, "2021-03-28")]
    assert "截至2021年1月1日，68个整改任务，已完成整改0个，其余68个正在推进整改。" in \
        outputs[(*progress, "2021-01-01")]
