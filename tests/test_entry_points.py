"""The ways people start rectify: the ``rectify`` script, ``python -m workflow.cli`` and
``python scheduler.py`` reach the same commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "BROKER_URL"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_python_dash_m_workflow_cli_knows_every_command() -> None:
    # Given the package run as a module / When asked for serve's help
    result = run("-m", "workflow.cli", "serve", "--help")
    # Then it is the serve command's help, not "No such command"
    assert result.returncode == 0, result.stderr
    assert "Embedded all-in-one" in result.stdout


def test_python_dash_m_workflow_cli_lists_the_commands_of_the_script() -> None:
    result = run("-m", "workflow.cli", "--help")
    assert result.returncode == 0, result.stderr
    for command in ("init", "issue", "ledger", "report", "serve", "scheduler", "worker",
                    "doctor", "demo"):
        assert command in result.stdout


def test_scheduler_script_without_a_broker_says_what_it_needs() -> None:
    # Given no BROKER_URL / When the scheduler is started as a script
    result = run("scheduler.py")
    # Then it refuses with the reason and the way out, and no traceback
    assert result.returncode == 1
    assert "BROKER_URL" in result.stderr and "rectify serve" in result.stderr
    assert "Traceback" not in result.stderr
