"""Process definitions: the YAML schema, its validation with file/line/key errors, and loading.

A definition is data (``definitions/*.yaml``): states, transitions, roles, checklists and
deadline rules. ``load_file`` parses one file and returns a validated ``ProcessDefinition`` or
raises ``DefinitionError`` carrying every fault found, each naming the file, line and key.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflow.errors import DefinitionError, DefinitionFault

DURATION_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s+(?P<unit>days?|working days?|hours?)\s*$")
KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
FROM_ISSUE = "issue"


@dataclass(frozen=True)
class Duration:
    """A parsed duration: ``count`` of ``unit`` (calendar days, working days 工作日, or hours)."""

    count: int
    unit: Literal["days", "working_days", "hours"]


def parse_duration(text: str) -> Duration:
    """Parse ``"7 days"``, ``"15 working days"`` or ``"48 hours"``.

    Raises:
        ValueError: the text is not one of those forms or the count is not positive.
    """
    match = DURATION_PATTERN.match(text) if isinstance(text, str) else None
    if not match or int(match["count"]) <= 0:
        raise ValueError(
            f"bad duration {text!r}: expected a positive whole number followed by "
            "'days', 'working days' or 'hours' (e.g. '7 days', '15 working days')"
        )
    unit = match["unit"].rstrip("s")
    kinds = {"day": "days", "working day": "working_days", "hour": "hours"}
    return Duration(int(match["count"]), kinds[unit])  # type: ignore[arg-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Labelled(_Strict):
    label_zh: str = Field(min_length=1)
    label_en: str = Field(min_length=1)


class ChecklistItem(Labelled):
    key: str = Field(pattern=KEY_PATTERN)


class Checklist(Labelled):
    items: list[ChecklistItem] = Field(min_length=1)


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


class Requirements(_Strict):
    """What a transition demands of the call; each is checked as a guard."""

    comment: bool = False
    evidence: int = Field(default=0, ge=0)
    checklist: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


class TransitionSpec(Labelled):
    trigger: str = Field(pattern=KEY_PATTERN)
    source: list[str] = Field(alias="from", min_length=1)
    dest: str = Field(alias="to")
    roles: list[str] = Field(min_length=1)
    requires: Requirements = Field(default_factory=Requirements)

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ProcessDefinition(Labelled):
    """A validated process definition (one id at one version)."""

    id: str = Field(pattern=KEY_PATTERN)
    version: int = Field(ge=1)
    initial: str
    roles: dict[str, Labelled] = Field(min_length=1)
    checklists: dict[str, Checklist] = Field(default_factory=dict)
    states: list[StateSpec] = Field(min_length=1)
    transitions: list[TransitionSpec] = Field(min_length=1)

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


class _LineMap:
    """Maps a key path such as ``('transitions', 2, 'to')`` to its 1-based line in the file."""

    def __init__(self, root: yaml.Node | None):
        self._lines: dict[tuple[Any, ...], int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                self._lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: Sequence[Any]) -> int:
        path = tuple(path)
        while path and path not in self._lines:
            path = path[:-1]
        return self._lines.get(path, 1)


def format_key(path: Sequence[Any]) -> str:
    """Render a key path the way users read it: ``transitions[2].to``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_text(source: str, path: str) -> LoadedDefinition:
    """Validate one definition's YAML text; raise ``DefinitionError`` with every fault."""
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise DefinitionError([DefinitionFault(path, line, "", f"not valid YAML: {exc}")]) from None
    lines = _LineMap(root)
    if not isinstance(raw, dict):
        raise DefinitionError([DefinitionFault(path, 1, "", "expected a mapping at the top level "
                                               "(id, version, states, transitions, ...)")])
    try:
        definition = ProcessDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError([_fault_from_pydantic(error, path, lines)
                               for error in exc.errors()]) from None
    faults = list(_graph_faults(definition, path, lines))
    if faults:
        raise DefinitionError(faults)
    return LoadedDefinition(definition, path, source)


def _fault_from_pydantic(error: Any, path: str, lines: _LineMap) -> DefinitionFault:
    loc = tuple(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key; check its spelling against docs/definitions.md"
    elif error["type"] == "missing":
        message = "required key is missing"
    return DefinitionFault(path, lines.line(loc), format_key(loc), message)


def _graph_faults(d: ProcessDefinition, path: str, lines: _LineMap) -> Iterable[DefinitionFault]:
    def fault(loc: tuple[Any, ...], message: str) -> DefinitionFault:
        return DefinitionFault(path, lines.line(loc), format_key(loc), message)

    keys = [state.key for state in d.states]
    known = set(keys)
    allowed_states = ", ".join(keys)
    seen: set[str] = set()
    for index, state in enumerate(d.states):
        if state.key in seen:
            yield fault(("states", index, "key"), f"state '{state.key}' is defined twice")
        seen.add(state.key)
    if d.initial not in known:
        yield fault(("initial",), f"unknown state '{d.initial}'; defined states: {allowed_states}")

    outgoing: dict[str, list[str]] = {key: [] for key in keys}
    triggers_from: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(d.transitions):
        where = ("transitions", index)
        for position, source in enumerate(spec.source):
            if source not in known:
                key = (*where, "from", position) if len(spec.source) > 1 else (*where, "from")
                yield fault(key, f"unknown state '{source}'; defined states: {allowed_states}")
                continue
            outgoing[source].append(spec.dest)
            first = triggers_from.setdefault((source, spec.trigger), index)
            if first != index:
                yield fault((*where, "trigger"),
                            f"trigger '{spec.trigger}' from state '{source}' is already defined "
                            f"by transitions[{first}]; a trigger must be unique per source state")
        if spec.dest not in known:
            yield fault((*where, "to"), f"unknown state '{spec.dest}'; defined states: "
                                        f"{allowed_states}")
        for position, role in enumerate(spec.roles):
            if role not in d.roles:
                yield fault((*where, "roles", position),
                            f"unknown role '{role}'; declared roles: {', '.join(d.roles)}")
        checklist = spec.requires.checklist
        if checklist is not None and checklist not in d.checklists:
            names = ", ".join(d.checklists) or "none declared"
            yield fault((*where, "requires", "checklist"),
                        f"unknown checklist '{checklist}'; declared checklists: {names}")

    for index, state in enumerate(d.states):
        exits = outgoing.get(state.key, [])
        if state.terminal and exits:
            yield fault(("states", index, "terminal"),
                        f"terminal state '{state.key}' has outgoing transitions; "
                        "remove them or set terminal: false")
        if not state.terminal and not exits:
            yield fault(("states", index, "key"),
                        f"no way out of non-terminal state '{state.key}': add a transition "
                        "from it or mark it terminal: true")

    if d.initial in known:
        reached = {d.initial}
        queue = deque([d.initial])
        while queue:
            for dest in outgoing[queue.popleft()]:
                if dest in known and dest not in reached:
                    reached.add(dest)
                    queue.append(dest)
        for index, state in enumerate(d.states):
            if state.key not in reached:
                yield fault(("states", index, "key"),
                            f"state '{state.key}' is unreachable from the initial state "
                            f"'{d.initial}'")


def load_file(path: Path) -> LoadedDefinition:
    """Read and validate one definition file."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fault = DefinitionFault(str(path), 0, "", f"cannot read file: {exc}")
        raise DefinitionError([fault]) from None
    return parse_text(source, str(path))


def definition_files(path: Path) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files under ``path`` (or ``path`` itself when it is a file)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DefinitionError([DefinitionFault(str(path), 0, "", "no such file or directory")])
    return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])


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
    return _LineMap(yaml.compose(item.source, Loader=yaml.SafeLoader)).line(("version",))
