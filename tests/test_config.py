"""Run settings read from the environment (workflow/config.py): a bad value names its
variable and what is allowed."""

from __future__ import annotations

import pytest

from workflow.config import RunSettings, Settings
from workflow.errors import ConfigurationError


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RECTIFY_SWEEP_INTERVAL", "soon", "not a number of seconds"),
    ("RECTIFY_LEASE", "0", "greater than 0"),
    ("RECTIFY_BATCH", "1.5", "whole number"),
    ("RECTIFY_LEADER_LOCK", "zookeeper", "allowed: auto, postgres, redis, file"),
])
def test_bad_run_settings_say_what_is_allowed(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        RunSettings.from_env({name: value})
    assert name in str(caught.value)


@pytest.mark.parametrize("value", ["24", "-1", "9:30", "nine"])
def test_a_bad_reminder_hour_says_what_is_allowed(value: str) -> None:
    with pytest.raises(ConfigurationError, match="must be a whole hour from 0 to 23") as caught:
        Settings.from_env({"RECTIFY_REMINDER_HOUR": value})
    assert "RECTIFY_REMINDER_HOUR" in str(caught.value)


def test_the_reminder_hour_defaults_to_nine_and_can_be_set() -> None:
    assert Settings.from_env({}).reminder_hour == 9
    assert Settings.from_env({"RECTIFY_REMINDER_HOUR": "0"}).reminder_hour == 0
