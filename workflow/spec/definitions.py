"""Process definitions: the YAML schema, its validation with file/line/key errors, and loading.

A definition is data (``definitions/*.yaml``): states, transitions, roles, checklists and
deadline rules. ``load_file`` parses one file and returns a validated ``ProcessDefinition`` or
raises ``DefinitionError`` carrying every fault found, each naming the file, line and key.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from workflow.errors import DefinitionError, DefinitionFault
from workflow.spec.durations import parse_duration, parse_months
from workflow.spec.source import ParsedYaml, format_key, parse_yaml

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
FROM_ISSUE = "issue"
RECTIFICATION_DEADLINE_ZH = "整改时限"  # the issue's own deadline, as notices name it
CALENDAR_FILE_NAME = "calendar.yaml"  # the working-day override file, not a process definition


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labelled(_Strict):
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)


class ChecklistItem(Labelled):
    key: str = Field(pattern=KEY_PATTERN)


class Checklist(Labelled):
    items: list[ChecklistItem] = Field(min_length=1)


class StageSpec(Labelled):
    """A step inside a state (e.g. 公示 inside 待验收); ``lasts`` makes it a period."""

    key: str = Field(pattern=KEY_PATTERN)
    lasts: str | None = Field(default=None, description="how long the step runs, e.g. "
                                                        "'7 days' (公示期)")

    @field_validator("lasts")
    @classmethod
    def _lasts_is_offset(cls, value: str | None) -> str | None:
        if value is not None:
            _offset(value)
        return value

    @property
    def period(self) -> timedelta | None:
        return _offset(self.lasts) if self.lasts else None


Recipient = Literal["unit", "leader", "office"]
# A state's reminders may also go to the issue's acceptance unit (验收单位).
StateRecipient = Literal["unit", "acceptor", "leader", "office"]


class StateSpec(Labelled):
    """One state: its key, labels, and whether it ends the process or the rectification."""

    key: str = Field(pattern=KEY_PATTERN)
    terminal: bool = False
    completed: bool = Field(
        default=False,
        description="rectification is done in this state, so the issue's deadline no longer runs",
    )
    deadline: str | None = Field(
        default=None,
        description="'issue' (the issue's own 整改时限) or a duration such as '15 working days'",
    )
    escalate: bool = Field(
        default=True,
        description="past the deadline, climb the escalation ladder (otherwise reminders only)",
    )
    lookback_after: list[str] = Field(
        default_factory=list,
        description="look-back (回头看) marks after entering this state, e.g. ['6 months']",
    )
    stages: list[StageSpec] = Field(
        default_factory=list,
        description="steps inside the state, in order; entering the state starts the first",
    )
    deadline_label_zh: str | None = Field(
        default=None, min_length=1,
        description="what notices call the state's deadline, e.g. 验收时限; default 整改时限 "
                    "for 'issue', else the label of the transition that completes the state "
                    "followed by 时限 (开始整改时限)",
    )
    deadline_label_en: str | None = Field(default=None, min_length=1)
    remind: list[StateRecipient] | None = Field(
        default=None, min_length=1,
        description="who gets the reminders of the state's deadline; default notices.remind, "
                    "with the acceptance unit in the unit's place where only the acceptor "
                    "(not the unit) fires the state's transitions",
    )

    @model_validator(mode="after")
    def _words_need_a_deadline(self) -> StateSpec:
        given = [key for key in ("deadline_label_zh", "deadline_label_en", "remind")
                 if getattr(self, key) is not None]
        if given and self.deadline is None:
            raise ValueError(f"{', '.join(given)} given but the state has no deadline; add "
                             "'deadline' (e.g. '30 days' or 'issue') or remove them")
        if given and (self.completed or self.terminal):
            raise ValueError(f"{', '.join(given)} given but a completed or terminal state "
                             "sends no reminders; remove them")
        return self

    @field_validator("stages")
    @classmethod
    def _stage_keys_unique(cls, stages: list[StageSpec]) -> list[StageSpec]:
        keys = [stage.key for stage in stages]
        if len(set(keys)) != len(keys):
            raise ValueError("stage keys must be unique within a state")
        return stages

    def stage(self, key: str | None) -> StageSpec | None:
        return next((stage for stage in self.stages if stage.key == key), None)

    @field_validator("lookback_after")
    @classmethod
    def _marks_are_months(cls, values: list[str]) -> list[str]:
        months = [parse_months(value) for value in values]
        if months != sorted(set(months)):
            raise ValueError("look-back marks must be listed in strictly growing order")
        return values

    @field_validator("deadline")
    @classmethod
    def _deadline_is_rule(cls, value: str | None) -> str | None:
        if value is not None and value != FROM_ISSUE:
            try:
                parse_duration(value)
            except ValueError as exc:
                raise ValueError(f"{exc}, or '{FROM_ISSUE}' for the issue's own deadline") from None
        return value


class FieldSpec(Labelled):
    type: Literal["text", "date", "number"]
    sets: Literal["deadline"] | None = Field(
        default=None, description="issue attribute this field overwrites when the transition fires"
    )

    @model_validator(mode="after")
    def _deadline_needs_a_date(self) -> FieldSpec:
        if self.sets == "deadline" and self.type != "date":
            raise ValueError(f"a field with 'sets: deadline' must have type: date, not "
                             f"'{self.type}'")
        return self


class Requirements(_Strict):
    """What a transition demands of the call; each is checked as a guard."""

    comment: bool = False
    evidence: int = Field(default=0, ge=0)
    checklist: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)
    subtasks_done: bool = Field(
        default=False,
        description="every sub-task of the issue (one per cooperating unit) is completed",
    )


class StageRule(_Strict):
    """Where a transition stands among the steps of its source state: the steps it may be
    fired from, the step a self-transition moves to, and whether the current step's period
    (``lasts``) must be over first."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: list[str] = Field(alias="from", min_length=1)
    dest: str | None = Field(default=None, alias="to")
    after_period: bool = False

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TransitionSpec(Labelled):
    trigger: str = Field(pattern=KEY_PATTERN)
    source: list[str] = Field(alias="from", min_length=1)
    dest: str = Field(alias="to")
    roles: list[str] = Field(min_length=1)
    requires: Requirements = Field(default_factory=Requirements)
    stage: StageRule | None = Field(
        default=None,
        description="the steps of the source state it may be fired from, and the step it "
                    "moves to",
    )
    opens_proposal: bool = Field(
        default=False,
        description="firing it opens an accountability proposal (问责建议) for the office, "
                    "e.g. on a rebound (反弹)",
    )
    records_acceptor: bool = Field(
        default=False,
        description="the person firing it and their unit are recorded on the issue as the ones "
                    "who accepted it (谁验收、谁负责), e.g. on the site check",
    )

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def is_hours(value: str) -> bool:
    """Whether an offset text counts hours (``"48 hours"``) rather than days."""
    return parse_duration(value).unit == "hours"


def _offset(value: str) -> timedelta:
    """A reminder or escalation offset: calendar days or hours (not working days)."""
    duration = parse_duration(value)
    if duration.unit == "working_days":
        raise ValueError(f"offset {value!r}: use calendar 'days' or 'hours' here; working days "
                         "apply to state deadlines only")
    return timedelta(days=duration.count) if duration.unit == "days" \
        else timedelta(hours=duration.count)


class EscalationLevel(Labelled):
    """One rung of the ladder past a deadline (督办): who is told, and what it sets."""

    key: str = Field(pattern=KEY_PATTERN)
    after: str | None = Field(default=None, description="offset past the deadline; none = at it")
    light: Literal["yellow", "red"] = "red"
    notify: list[Recipient] = Field(min_length=1)
    flag: Literal["key_supervision"] | None = None
    opens_proposal: bool = False

    @field_validator("after")
    @classmethod
    def _after_is_offset(cls, value: str | None) -> str | None:
        if value is not None:
            _offset(value)
        return value

    @property
    def offset(self) -> timedelta:
        return _offset(self.after) if self.after else timedelta(0)


def _default_ladder() -> list[EscalationLevel]:
    return [
        EscalationLevel(key="red", label_zh="红灯督办", label_en="Red notice",
                        notify=["leader", "office"]),
        EscalationLevel(key="key_supervision", label_zh="重点督办", label_en="Key supervision",
                        after="7 days", notify=["leader", "office"], flag="key_supervision"),
        EscalationLevel(key="accountability", label_zh="问责建议",
                        label_en="Accountability proposal", after="30 days", notify=["office"],
                        opens_proposal=True),
    ]


class Notices(_Strict):
    """Reminders before deadlines and the escalation ladder after them (催办 · 督办)."""

    reminders_before: list[str] = Field(default_factory=lambda: ["7 days", "3 days", "1 day"])
    remind: list[Recipient] = Field(default_factory=lambda: ["unit"])
    milestone_missed: list[Recipient] = Field(default_factory=lambda: ["unit", "leader"])
    digest_reminders: bool = False
    escalation: list[EscalationLevel] = Field(default_factory=_default_ladder)
    lookback: list[Recipient] = Field(default_factory=lambda: ["office"])

    @field_validator("reminders_before")
    @classmethod
    def _reminders_are_offsets(cls, values: list[str]) -> list[str]:
        for value in values:
            _offset(value)
        return values

    @field_validator("escalation")
    @classmethod
    def _ladder_climbs(cls, levels: list[EscalationLevel]) -> list[EscalationLevel]:
        offsets = [level.offset for level in levels]
        if offsets != sorted(set(offsets)):
            raise ValueError("escalation levels must be listed in order of strictly growing "
                             "'after' offsets")
        if len({level.key for level in levels}) != len(levels):
            raise ValueError("escalation level keys must be unique")
        return levels

    def reminder_offsets(self) -> list[timedelta]:
        """Offsets before a deadline, farthest first."""
        return sorted(self.reminder_offsets_by_text(), reverse=True)

    def reminder_offsets_by_text(self) -> list[timedelta]:
        """The offsets of ``reminders_before``, in the order they are written."""
        return [_offset(value) for value in self.reminders_before]


class ProcessDefinition(Labelled):
    """A validated process definition (one id at one version)."""

    id: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=1)
    initial: str
    roles: dict[str, Labelled] = Field(min_length=1)
    checklists: dict[str, Checklist] = Field(default_factory=dict)
    states: list[StateSpec] = Field(min_length=1)
    transitions: list[TransitionSpec] = Field(min_length=1)
    notices: Notices = Field(default_factory=Notices)

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def state(self, key: str) -> StateSpec:
        return next(state for state in self.states if state.key == key)


@dataclass(frozen=True)
class LoadedDefinition:
    """A definition together with where it came from and the exact text it was parsed from."""

    definition: ProcessDefinition
    path: str
    source: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()


def parse_text(source: str, path: str) -> LoadedDefinition:
    """Validate one definition's YAML text; raise ``DefinitionError`` with every fault.

    Schema faults (pydantic) and graph faults (states, roles, checklists, reachability) are
    collected together and reported in line order.
    """
    parsed = parse_yaml(source, path)
    raw = parsed.value
    if not isinstance(raw, dict):
        raise DefinitionError([DefinitionFault(path, 1, "", "expected a mapping at the top level "
                                               "(id, version, states, transitions, ...)")])
    faults = [DefinitionFault(path, line, format_key(key),
                              f"key repeated (first at line {first}); each key may appear "
                              "once in a mapping") for key, line, first in parsed.repeated]
    definition = None
    try:
        definition = ProcessDefinition.model_validate(raw)
    except ValidationError as exc:
        faults += [_fault_from_pydantic(error, path, parsed) for error in exc.errors()]
    faults += _graph_faults(_Graph.of(raw), path, parsed, schema_valid=definition is not None)
    if faults or definition is None:
        raise DefinitionError(sorted(set(faults), key=lambda fault: (fault.line, fault.key)))
    return LoadedDefinition(definition, path, source)


def _fault_from_pydantic(error: Any, path: str, lines: ParsedYaml) -> DefinitionFault:
    loc = tuple(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(field.alias or name for name, field in model.model_fields.items())\
            if model else "see docs/definitions.md"
        message = f"unknown key; allowed keys here: {allowed}"
    elif error["type"] == "missing":
        message = "required key is missing"
    return DefinitionFault(path, lines.line(loc), format_key(loc), message)


def _model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The schema model that validates the mapping at ``loc`` (to list its allowed keys)."""
    current: Any = ProcessDefinition
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = next((field.annotation for name, field in current.model_fields.items()
                            if (field.alias or name) == part), None)
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
        else:
            return None
        if get_origin(current) in (Union, UnionType):
            current = next(arg for arg in get_args(current) if arg is not type(None))
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


@dataclass
class _Graph:
    """The parts of a definition the graph checks need, read leniently from the raw YAML so
    they run even when the schema check fails (ill-typed parts are simply left out)."""

    states: list[tuple[int, str, bool]]  # (index, key, terminal)
    stages: dict[str, list[str]]  # state key -> its stage keys
    initial: Any
    roles: list[str] | None
    checklists: list[str]
    transitions: list[tuple[int, dict[str, Any]]]

    @classmethod
    def of(cls, raw: dict[str, Any]) -> _Graph:
        raw_states = raw.get("states") if isinstance(raw.get("states"), list) else []
        states = [(index, item["key"], item.get("terminal") is True)
                  for index, item in enumerate(raw_states)
                  if isinstance(item, dict) and isinstance(item.get("key"), str)]
        roles = raw.get("roles")
        checklists = raw.get("checklists")
        raw_transitions = raw.get("transitions")
        stages = {item["key"]: [stage["key"] for stage in item.get("stages") or []
                                if isinstance(stage, dict) and isinstance(stage.get("key"), str)]
                  for item in raw_states
                  if isinstance(item, dict) and isinstance(item.get("key"), str)
                  and isinstance(item.get("stages") or [], list)}
        return cls(
            states=states, stages=stages, initial=raw.get("initial"),
            roles=list(roles) if isinstance(roles, dict) else None,
            checklists=list(checklists) if isinstance(checklists, dict) else [],
            transitions=[(index, item) for index, item in enumerate(raw_transitions)
                         if isinstance(item, dict)] if isinstance(raw_transitions, list) else [],
        )


def _stage_faults(g: _Graph, spec: dict[str, Any], where: tuple[Any, ...], sources: list[str],
                  dest: Any, fault: Any) -> None:
    rule = spec.get("stage")
    if not isinstance(rule, dict):
        return
    steps = rule.get("from")
    listed = isinstance(steps, list)
    for position, step in enumerate(steps if listed else [steps]):
        for source in sources:
            known = g.stages.get(source)
            if isinstance(step, str) and known is not None and step not in known:
                key = (*where, "stage", "from", position) if listed else (*where, "stage", "from")
                fault(key, f"unknown stage '{step}' of state '{source}'; its stages: "
                           f"{', '.join(known) or 'none'}")
    target = rule.get("to")
    if isinstance(target, str):
        if dest not in sources:
            fault((*where, "stage", "to"), "only a transition that stays in its state "
                                           "(to = from) can move to another stage")
        elif target not in g.stages.get(dest, []):
            fault((*where, "stage", "to"), f"unknown stage '{target}' of state '{dest}'; its "
                                           f"stages: {', '.join(g.stages.get(dest, [])) or 'none'}")


def _graph_faults(g: _Graph, path: str, lines: ParsedYaml, *,
                  schema_valid: bool) -> list[DefinitionFault]:
    """Reference checks always; the flow checks (ways out, reachability) only on a definition
    that passed the schema, where a missing or ill-typed key cannot fake a dead end."""
    faults: list[DefinitionFault] = []

    def fault(loc: tuple[Any, ...], message: str) -> None:
        faults.append(DefinitionFault(path, lines.line(loc), format_key(loc), message))

    keys = [key for _, key, _ in g.states]
    known = set(keys)
    allowed_states = ", ".join(keys)
    seen: set[str] = set()
    for index, key, _ in g.states:
        if key in seen:
            fault(("states", index, "key"), f"state '{key}' is defined twice")
        seen.add(key)
    if known and isinstance(g.initial, str) and g.initial not in known:
        fault(("initial",), f"unknown state '{g.initial}'; defined states: {allowed_states}")

    outgoing: dict[str, list[str]] = {key: [] for key in keys}
    triggers_from: dict[tuple[str, str], int] = {}
    for index, spec in g.transitions:
        where = ("transitions", index)
        trigger, dest = spec.get("trigger"), spec.get("to")
        sources = spec.get("from")
        listed = isinstance(sources, list)
        sources = sources if listed else [sources]
        for position, source in enumerate(sources):
            if not isinstance(source, str) or not known:
                continue
            if source not in known:
                key = (*where, "from", position) if listed else (*where, "from")
                fault(key, f"unknown state '{source}'; defined states: {allowed_states}")
                continue
            if isinstance(dest, str):
                outgoing[source].append(dest)
            if isinstance(trigger, str):
                first = triggers_from.setdefault((source, trigger), index)
                if first != index:
                    fault((*where, "trigger"),
                          f"trigger '{trigger}' from state '{source}' is already defined by "
                          f"transitions[{first}]; a trigger must be unique per source state")
        if known and isinstance(dest, str) and dest not in known:
            fault((*where, "to"), f"unknown state '{dest}'; defined states: {allowed_states}")
        roles = spec.get("roles")
        if g.roles is not None and isinstance(roles, list):
            for position, role in enumerate(roles):
                if isinstance(role, str) and role not in g.roles:
                    fault((*where, "roles", position),
                          f"unknown role '{role}'; declared roles: {', '.join(g.roles)}")
        _stage_faults(g, spec, where, [src for src in sources if isinstance(src, str)], dest,
                      fault)
        requires = spec.get("requires")
        checklist = requires.get("checklist") if isinstance(requires, dict) else None
        if isinstance(checklist, str) and checklist not in g.checklists:
            names = ", ".join(g.checklists) or "none declared"
            fault((*where, "requires", "checklist"),
                  f"unknown checklist '{checklist}'; declared checklists: {names}")

    if not schema_valid:
        return faults
    for index, key, terminal in g.states:
        exits = outgoing.get(key, [])
        if terminal and exits:
            fault(("states", index, "terminal"), f"terminal state '{key}' has outgoing "
                                                 "transitions; remove them or set terminal: false")
        if not terminal and not exits:
            fault(("states", index, "key"), f"no way out of non-terminal state '{key}': add a "
                                            "transition from it or mark it terminal: true")

    if isinstance(g.initial, str) and g.initial in known:
        reached = {g.initial}
        queue = deque([g.initial])
        while queue:
            for dest in outgoing[queue.popleft()]:
                if dest in known and dest not in reached:
                    reached.add(dest)
                    queue.append(dest)
        for index, key, _ in g.states:
            if key not in reached:
                fault(("states", index, "key"),
                      f"state '{key}' is unreachable from the initial state '{g.initial}'")
    return faults


def load_file(path: Path) -> LoadedDefinition:
    """Read and validate one definition file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fault = DefinitionFault(str(path), 0, "", f"cannot read file: {exc}")
        raise DefinitionError([fault]) from None
    return parse_text(source, str(path))


def definition_files(path: Path) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files under ``path`` (or ``path`` itself when it is a file),
    except the working-day calendar override that lives beside them."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DefinitionError([DefinitionFault(str(path), 0, "", "no such file or directory")])
    return sorted(file for file in [*path.glob("*.yaml"), *path.glob("*.yml")]
                  if file.name != CALENDAR_FILE_NAME)


def load_all(path: Path) -> list[LoadedDefinition]:
    """Validate every definition under ``path``, including duplicate id+version across files.

    Raises:
        DefinitionError: with the faults of every file, not just the first failing one.
    """
    faults: list[DefinitionFault] = []
    loaded: list[LoadedDefinition] = []
    first_seen: dict[tuple[str, int], str] = {}
    for file in definition_files(path):
        try:
            item = load_file(file)
        except DefinitionError as exc:
            faults.extend(exc.faults)
            continue
        key = (item.definition.id, item.definition.version)
        if key in first_seen:
            faults.append(DefinitionFault(
                str(file), version_line(item), "version",
                f"duplicate id+version {item.definition.ref}: already defined in "
                f"{first_seen[key]}; give this file a new version number"))
            continue
        first_seen[key] = str(file)
        loaded.append(item)
    if faults:
        raise DefinitionError(faults)
    return loaded


def version_line(item: LoadedDefinition) -> int:
    """Line of the ``version`` key in a loaded definition's source."""
    return parse_yaml(item.source, item.path).line(("version",))
