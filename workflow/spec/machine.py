"""One shared ``transitions.Machine`` per definition version, and the guards it runs.

The machine has no models (``model=None``): each ``fire`` hands it a short-lived
``FireContext`` carrying the issue's current state and the caller's inputs. The machine picks
the transition, runs the requirement guard as its condition, and moves the context's state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from transitions import EventData, Machine

from workflow.errors import RequirementError
from workflow.spec.definitions import ProcessDefinition, TransitionSpec
from workflow.spec.timers import timeline


@dataclass
class FireContext:
    """What a guard sees: the issue and the inputs of one ``fire`` call."""

    issue_id: int
    state: str
    comment: str | None
    evidence: Sequence[Any]
    checklist: Mapping[str, Any] | None
    fields: Mapping[str, Any]
    accepted_fields: dict[str, Any] = field(default_factory=dict)
    open_subtasks: Sequence[tuple[int, str | None]] = ()  # (id, unit) of unfinished sub-tasks
    stage_problems: Sequence[str] = ()  # the issue is not at a step the transition allows


class RequirementGuard:
    """The condition of one transition: checks comment, evidence, checklist and fields,
    and raises ``RequirementError`` listing everything missing (not just the first)."""

    def __init__(self, spec: TransitionSpec, definition: ProcessDefinition):
        self.spec = spec
        requires = spec.requires
        self.checklist = definition.checklists[requires.checklist] if requires.checklist else None

    def __call__(self, event: EventData) -> bool:
        context: FireContext = event.model
        requires = self.spec.requires
        problems: list[str] = list(context.stage_problems)
        if requires.comment and not (context.comment or "").strip():
            problems.append("a comment is required (说明/理由)")
        if len(context.evidence) < requires.evidence:
            problems.append(f"at least {requires.evidence} evidence file(s) are required "
                            f"(佐证材料); {len(context.evidence)} given")
        problems += self._checklist_problems(context.checklist)
        problems += self._field_problems(context)
        if requires.subtasks_done and context.open_subtasks:
            problems.append("every sub-task must be done first; not done: " + ", ".join(
                f"issue {issue_id} ({unit or 'no unit'})"
                for issue_id, unit in context.open_subtasks))
        if problems:
            raise RequirementError(issue_id=context.issue_id, trigger=self.spec.trigger,
                                   problems=problems)
        return True

    def _checklist_problems(self, given: Mapping[str, Any] | None) -> list[str]:
        if self.checklist is None:
            if given:
                return [f"'{self.spec.trigger}' takes no checklist"]
            return []
        given = given or {}
        keys = [item.key for item in self.checklist.items]
        problems = [f"unknown checklist item '{key}'; items of {self.spec.requires.checklist}: "
                    f"{', '.join(keys)}" for key in given if key not in keys]
        for item in self.checklist.items:
            value = given.get(item.key)
            affirmed = isinstance(value, str) and value.strip() != ""
            if not affirmed:
                problems.append(f"checklist {self.checklist.label_zh} item '{item.key}' "
                                f"({item.label_zh}) must be affirmed with a note")
        return problems

    def _field_problems(self, context: FireContext) -> list[str]:
        specs = self.spec.requires.fields
        problems = [f"unknown field '{name}'; fields of '{self.spec.trigger}': "
                    f"{', '.join(specs) or 'none'}" for name in context.fields if name not in specs]
        for name, spec in specs.items():
            value = context.fields.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append(f"field '{name}' ({spec.label_zh}) is required, type {spec.type}")
                continue
            try:
                context.accepted_fields[name] = _coerce(spec.type, value)
            except ValueError:
                expected = {"date": "a date like 2026-12-31", "number": "a number",
                            "text": "text"}[spec.type]
                problems.append(f"field '{name}' ({spec.label_zh}) = {value!r} is not {expected}")
        return problems


def _coerce(kind: str, value: Any) -> Any:
    if kind == "date":
        return value.isoformat() if isinstance(value, date) else date.fromisoformat(str(value))\
            .isoformat()
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(value)
        return float(value) if not isinstance(value, int) else value
    return str(value)


class CompiledDefinition:
    """A definition version ready to run: its shared machine and lookup tables."""

    def __init__(self, definition: ProcessDefinition):
        self.definition = definition
        self.states = {state.key: state for state in definition.states}
        self.transitions: dict[tuple[str, str], TransitionSpec] = {}
        machine_transitions = []
        for spec in definition.transitions:
            for source in spec.source:
                self.transitions[(source, spec.trigger)] = spec
            machine_transitions.append({
                "trigger": spec.trigger, "source": list(spec.source), "dest": spec.dest,
                "conditions": [RequirementGuard(spec, definition)],
            })
        # The reminder/escalation steps, computed once: with and without the ladder.
        self.timelines = {escalate: timeline(definition.notices, escalate=escalate)
                          for escalate in (True, False)}
        self.level_ranks = {level: rank for rank, (_, level, _) in
                            enumerate(self.timelines[True])}
        self.machine = Machine(model=None, states=list(self.states), initial=definition.initial,
                               transitions=machine_transitions, auto_transitions=False,
                               send_event=True)

    def level_rank(self, level: str | None) -> int:
        """Rank of a level on the deadline's timeline (-1 for none or unknown)."""
        return self.level_ranks.get(level, -1) if level else -1

    def transition(self, state: str, trigger: str) -> TransitionSpec | None:
        return self.transitions.get((state, trigger))

    def allowed_triggers(self, state: str, role: str | None = None, *,
                         stage: str | bool | None = False) -> list[str]:
        """Triggers that leave ``state``, only those ``role`` may fire when a role is given,
        and only those that may be fired at ``stage`` when a stage (or None) is given."""
        return [trigger for (source, trigger), spec in self.transitions.items()
                if source == state and (role is None or role in spec.roles)
                and (stage is False or spec.stage is None or stage in spec.stage.source)]

    def run(self, context: FireContext, trigger: str) -> str:
        """Let the shared machine execute ``trigger`` on ``context``; returns the new state.

        Raises:
            RequirementError: a guard rejected the call.
        """
        self.machine.events[trigger].trigger(context)
        return context.state
