"""Property test: random trigger sequences by random roles, with valid or invalid inputs.

Invariants after every step: the hash chain verifies, each event starting where the one
before ended and the last ending in the current state; the version went up by exactly one per
accepted transition and not at all on a refusal; no refused call left a trace.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support import ACCEPTOR, LEADER, OFFICE, PUBLIC, UNIT, inputs_for, new_issue
from workflow.errors import TransitionError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.issues.verification import verify

TRIGGERS = ["start", "apply_acceptance", "reject", "clear", "start_follow_up", "consolidate",
            "rebound", "extend", "no_such_trigger"]
ACTORS = [OFFICE, UNIT, ACCEPTOR, LEADER, PUBLIC]


def test_random_trigger_sequences_keep_history_state_and_version_consistent(
        engine: Engine, evidence_file: Path) -> None:

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.issue_id = new_issue(engine)
            self.version = 1
            self.accepted = 0

        @rule(trigger=st.sampled_from(TRIGGERS), actor=st.sampled_from(ACTORS),
              complete=st.booleans())
        def fire(self, trigger: str, actor: object, complete: bool) -> None:
            inputs = inputs_for(trigger, evidence_file) if trigger in TRIGGERS[:-1] else {}
            inputs.pop("actor", None)
            if not complete:
                inputs = {}
            try:
                result = engine.fire(self.issue_id, trigger, actor=actor, **inputs)
            except TransitionError:
                return
            self.accepted += 1
            self.version += 1
            assert result.version == self.version

        @invariant()
        def history_has_one_event_per_version(self) -> None:
            issue = queries.get_issue(engine.db, self.issue_id)
            events = queries.history(engine.db, self.issue_id)
            assert issue.version == self.version == len(events) == 1 + self.accepted

        @invariant()
        def hash_chain_verifies(self) -> None:
            assert verify(engine, self.issue_id).ok

    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=25, stateful_step_count=15, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]))
