"""YAML read with the line of every setting, so each problem can name the line to fix.

PyYAML's composed node graph keeps the position of each key and value; we walk it once next to
the constructed data and remember, per setting path, the line its key sits on and the line its
value's text starts on (a template's line 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from connector.mapping.errors import MappingError, Problem

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True)
class Spot:
    """Where one setting is written: its key's line and the first line of its value's text."""

    line: int
    value_line: int


@dataclass
class SourceMap:
    """Setting path → position in one file; unknown paths fall back to their nearest parent."""

    file: str
    spots: dict[tuple[str, ...], Spot] = field(default_factory=dict)

    def spot(self, path: Sequence[PathPart]) -> Spot:
        parts = tuple(str(part) for part in path)
        while parts:
            found = self.spots.get(parts)
            if found is not None:
                return found
            parts = parts[:-1]
        return Spot(line=1, value_line=1)

    def line(self, path: Sequence[PathPart]) -> int:
        return self.spot(path).line

    def problem(self, path: Sequence[PathPart], message: str, *, warning: bool = False) -> Problem:
        return Problem(
            file=self.file,
            line=self.line(path),
            path=format_path(path),
            message=message,
            severity="warning" if warning else "error",
        )


def format_path(path: Sequence[PathPart]) -> str:
    """`fields.hs_timestamp`, `lines[0].number`: the way an admin reads a setting's place."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def read_yaml(text: str, file: str) -> tuple[Any, SourceMap]:
    """The document's data and its source map; `MappingError` when it is not YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = exc.problem or exc.context or "cannot be read"
        raise MappingError([Problem(file, line, "", f"not valid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise MappingError([Problem(file, None, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    source = SourceMap(file)
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), source, problems, set())
    if problems:
        raise MappingError(problems)
    return data, source


def _value_line(node: Node) -> int:
    # A block scalar's (`|`, `>`) text starts on the line after its indicator.
    if isinstance(node, ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 2
    return node.start_mark.line + 1


def _walk(
    node: Node,
    path: tuple[str, ...],
    source: SourceMap,
    problems: list[Problem],
    active: set[int],
) -> None:
    if id(node) in active:  # a recursive alias: nothing more to learn below it
        return
    active.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            child = (*path, key)
            if key in seen:
                problems.append(
                    Problem(
                        source.file,
                        line,
                        format_path(child),
                        f"set twice (first on line {seen[key]}); keep one",
                    )
                )
                continue
            seen[key] = line
            source.spots[child] = Spot(line, _value_line(value_node))
            _walk(value_node, child, source, problems, active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            line = item.start_mark.line + 1
            source.spots[child] = Spot(line, _value_line(item))
            _walk(item, child, source, problems, active)
    active.discard(id(node))
