"""Run settings read from the environment (workflow/config.py): a bad value names its
variable and what is allowed."""

from __future__ import annotations

import pytest

from workflow.config import RunSettings
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
