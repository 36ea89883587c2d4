"""YAML text read for fault reports: the parsed value, the line of every key path, and the
keys repeated within a mapping.

Process definitions and the working-day override file both name each fault by file, line and
key (``transitions[2].to``); this is the one walk over the YAML nodes that finds those lines.
A key path holds mapping keys as written in the file (text) and list indices as ints:
``('transitions', 2, 'to')``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, NamedTuple

import yaml

from workflow.errors import DefinitionError, DefinitionFault

KeyPath = tuple[Any, ...]


class RepeatedKey(NamedTuple):
    """A key written twice in one mapping: its path, the line of the repetition and the
    line where it first appears."""

    path: KeyPath
    line: int
    first_line: int


class ParsedYaml:
    """One YAML document's value with the 1-based line of every key path in it."""

    def __init__(self, value: Any, root: yaml.Node | None):
        """Walk the composed document ``root`` (None for an empty file) of ``value``."""
        self.value = value
        self.repeated: list[RepeatedKey] = []
        self._lines: dict[KeyPath, int] = {}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: KeyPath) -> None:
        self._lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                child = (*path, key_node.value)
                line = key_node.start_mark.line + 1
                if child in self._lines:
                    self.repeated.append(RepeatedKey(child, line, self._lines[child]))
                self._lines[child] = line
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    @cached_property
    def _text_lines(self) -> dict[tuple[str, ...], int]:
        return {tuple(str(part) for part in path): line for path, line in self._lines.items()}

    def line(self, path: Sequence[Any], *, by_text: bool = False) -> int:
        """The line of ``path``, or of its nearest ancestor in the file (1 when none is).

        Args:
            path: the key path, e.g. a pydantic error's ``loc``.
            by_text: compare the parts as text, so that the parsed key ``2027`` (an int)
                finds the key written ``2027`` (and an index ``'1'`` the second item).
        """
        if by_text:
            text_key = tuple(str(part) for part in path)
            while text_key and text_key not in self._text_lines:
                text_key = text_key[:-1]
            return self._text_lines.get(text_key, 1)
        key = tuple(path)
        while key and key not in self._lines:
            key = key[:-1]
        return self._lines.get(key, 1)


def parse_yaml(text: str, file: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader,
               ) -> ParsedYaml:
    """Parse one YAML document with ``loader`` and map its key paths to lines.

    Raises:
        DefinitionError: the text is not valid YAML; its one fault names ``file`` and the
            line of the problem.
    """
    try:
        root = yaml.compose(text, Loader=loader)
        value = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        fault = DefinitionFault(file, mark.line + 1 if mark else 0, "",
                                f"not valid YAML: {problem}")
        raise DefinitionError([fault]) from None
    return ParsedYaml(value, root)


def format_key(path: Sequence[Any]) -> str:
    """Render a key path the way users read it: ``transitions[2].to``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
