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

from transitions import EventData, Machine, Transition

from workflow.errors import RequirementError
from workflow.spec.definitions import ProcessDefinition, TransitionSpec
from workflow.spec.timers import state_words, timeline


@dataclass(slots=True)
class FireContext:
    """What a guard sees: the issue and the inputs of one ``fire`` call."""

    issue_id: int
    state: str
    comment: str | None
    evidence: Sequence[Any]
    checklist: Mapping[str, Any] | None
    fields: Mapping[str, Any]
    accepted_fields: dict[str, Any] = field(default_factory=dict)
    accepted_checklist: dict[str, dict[str, str]] = field(default_factory=dict)
    open_subtasks: Sequence[tuple[int, str | None]] = ()  # (id, unit) of unfinished sub-tasks
    # the issue is not at a step the transition allows: (English, Chinese) of each reason
    stage_problems: Sequence[tuple[str, str]] = ()


# A checklist item is affirmed only by an explicit yes; any other text is no answer at all.
ANSWERS = ("是", "否", "yes", "no")
_ANSWER_OF = {"是": "是", "yes": "是", "否": "否", "no": "否"}
_SEPARATORS = (":", "：")


def checklist_answer(value: Any) -> dict[str, str]:
    """The answer to one checklist item: ``是:NOTE`` / ``否:NOTE`` (or ``yes``/``no``, and a
    full-width ``：``), or a mapping ``{"answer": …, "note": …}``.

    Returns:
        ``{"answer": "是" or "否", "note": NOTE}``.

    Raises:
        ValueError: no answer, an answer other than 是/否/yes/no, or no note; the message
            says which.
    """
    if isinstance(value, Mapping):
        answer, note = value.get("answer"), value.get("note")
    elif isinstance(value, str):
        cut = min((i for i in (value.find(sep) for sep in _SEPARATORS) if i >= 0), default=-1)
        answer, note = (value[:cut], value[cut + 1:]) if cut >= 0 else (value, None)
    elif value is None:
        raise ValueError("not answered")
    else:
        raise ValueError(f"{value!r} is not an answer")
    answer = str(answer).strip() if answer is not None else ""
    if answer.lower() not in _ANSWER_OF:
        raise ValueError(f"{answer!r} is not an answer" if answer else "no answer")
    note = str(note).strip() if note is not None else ""
    if not note:
        raise ValueError(f"answered {answer} without a note")
    return {"answer": _ANSWER_OF[answer.lower()], "note": note}


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
        problems: list[tuple[str, str]] = list(context.stage_problems)
        if requires.comment and not (context.comment or "").strip():
            problems.append(("a comment is required (说明/理由)", "请填写说明/理由"))
        if len(context.evidence) < requires.evidence:
            problems.append((f"at least {requires.evidence} evidence file(s) are required "
                             f"(佐证材料); {len(context.evidence)} given",
                             f"须上传至少{requires.evidence}份佐证材料，"
                             f"已上传{len(context.evidence)}份"))
        problems += self._checklist_problems(context)
        problems += self._field_problems(context)
        if requires.subtasks_done and context.open_subtasks:
            problems.append((
                "every sub-task must be done first; not done: " + ", ".join(
                    f"issue {issue_id} ({unit or 'no unit'})"
                    for issue_id, unit in context.open_subtasks),
                "子任务须全部完成，未完成：" + "、".join(
                    f"问题{issue_id}（{unit or '未定单位'}）"
                    for issue_id, unit in context.open_subtasks)))
        if problems:
            raise RequirementError(issue_id=context.issue_id, trigger=self.spec.trigger,
                                   problems=[en for en, _ in problems],
                                   problems_zh=[zh for _, zh in problems])
        return True

    def _checklist_problems(self, context: FireContext) -> list[tuple[str, str]]:
        given = context.checklist
        if self.checklist is None:
            if given:
                return [(f"'{self.spec.trigger}' takes no checklist", "此操作不需填写清单")]
            return []
        given = given or {}
        keys = [item.key for item in self.checklist.items]
        problems = [(f"unknown checklist item '{key}'; items of {self.spec.requires.checklist}: "
                     f"{', '.join(keys)}", f"清单中没有“{key}”一项")
                    for key in given if key not in keys]
        for item in self.checklist.items:
            where = f"checklist {self.checklist.label_zh} item '{item.key}' ({item.label_zh})"
            try:
                answer = checklist_answer(given.get(item.key))
            except ValueError as exc:
                problems.append((f"{where}: {exc}; answer {item.key}=是:NOTE "
                                 f"(allowed answers: {', '.join(ANSWERS)}; a note is required)",
                                 f"“{item.label_zh}”须回答是或否并填写说明"))
                continue
            if answer["answer"] != "是":
                problems.append((f"{where} is answered 否 ({answer['note']}); clearance needs "
                                 "every item answered 是",
                                 f"“{item.label_zh}”回答为否（{answer['note']}），"
                                 "销号须每项均为是"))
                continue
            context.accepted_checklist[item.key] = answer
        return problems

    def _field_problems(self, context: FireContext) -> list[tuple[str, str]]:
        specs = self.spec.requires.fields
        problems = [(f"unknown field '{name}'; fields of '{self.spec.trigger}': "
                     f"{', '.join(specs) or 'none'}", f"此操作没有“{name}”一项")
                    for name in context.fields if name not in specs]
        for name, spec in specs.items():
            value = context.fields.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                problems.append((f"field '{name}' ({spec.label_zh}) is required, type "
                                 f"{spec.type}", f"请填写{spec.label_zh}"))
                continue
            try:
                context.accepted_fields[name] = _coerce(spec.type, value)
            except ValueError:
                expected = {"date": "a date like 2026-12-31", "number": "a number",
                            "text": "text"}[spec.type]
                expected_zh = {"date": "日期（如2026-12-31）", "number": "数字",
                               "text": "文字"}[spec.type]
                problems.append((f"field '{name}' ({spec.label_zh}) = {value!r} is not "
                                 f"{expected}", f"{spec.label_zh}须为{expected_zh}"))
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
        self.level_ranks = {step.level: rank for rank, step in
                            enumerate(self.timelines[True])}
        # How each state's deadline is named in notices and who gets its reminders.
        self.words = state_words(definition)
        self.machine = Machine(model=None, states=list(self.states), initial=definition.initial,
                               transitions=machine_transitions, auto_transitions=False,
                               send_event=True)
        # (state, trigger) → the machine's event and its one transition from that state: a
        # fire executes that transition directly (the engine has picked it already, and a
        # definition has at most one transition per trigger and source state).
        self._machine_transitions: dict[tuple[str, str], tuple[Any, Transition]] = {
            (source, trigger): (event, event.transitions[source][0])
            for trigger, event in self.machine.events.items()
            for source in event.transitions}

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
        """Let the shared machine execute ``trigger``'s transition from the context's state
        (its guard, exit and enter callbacks, the state change); returns the new state.

        Raises:
            RequirementError: a guard rejected the call.
            MachineError: ``trigger`` does not leave the context's state.
        """
        found = self._machine_transitions.get((context.state, trigger))
        if found is None:  # the machine's own refusal, as Event.trigger would raise it
            self.machine.events[trigger].trigger(context)
            return context.state
        event, transition = found
        machine = self.machine
        transition.execute(EventData(machine.get_state(context.state), event, machine, context,
                                     args=(), kwargs={}))
        return context.state
