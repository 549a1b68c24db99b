"""`mms-connector lines import`: the provider's numbers merged into the admin's `lines.yaml`.

The file is the admin's: comments, order, quoting, owners and MMS flags are theirs, so it is read
and written with ruamel.yaml's round-trip mode, which keeps all of that, and only the values the
provider is the authority on change: a line's `provider_line_id` (its id at the provider) and an
empty `label`. A number the provider lists and the file lacks is appended (not MMS-capable until
the admin says so; no owners). A line of this provider the provider no longer lists is reported
and kept: the admin removes it, since its conversations in the CRM still name it. A number listed
under another provider in the file is reported and left alone.

The result is checked exactly as the connector will read it before it replaces the file, so an
import never leaves a file the service refuses.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from connector.core import phone
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.mapping.errors import MappingError, Problem
from connector.mapping.loader import PLACEHOLDER, parse_lines
from connector.mapping.schema import LineEntry

ChangeKind = Literal["added", "updated", "missing", "conflict"]


@dataclass(frozen=True)
class LineChange:
    """One difference between the file and the provider, as `lines import` prints it."""

    kind: ChangeKind
    number: str
    detail: str

    def __str__(self) -> str:
        sign = {"added": "+", "updated": "~", "missing": "!", "conflict": "!"}[self.kind]
        return f"{sign} {self.number} {self.detail}"


@dataclass(frozen=True)
class LinesMerge:
    """The file's new text and what changed; `text == original` when nothing did."""

    original: str
    text: str
    changes: tuple[LineChange, ...]

    @property
    def changed(self) -> bool:
        return self.text != self.original


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the admin's long values or comments
    yaml.indent(mapping=2, sequence=4, offset=2)  # the shipped file's layout
    return yaml


def merge_numbers(
    text: str, file: str, provider: Provider, numbers: Sequence[ProviderNumber]
) -> LinesMerge:
    """`text` (the lines file) with `numbers` (all of `provider`'s numbers) merged in."""
    book, _warnings = parse_lines(text, file)  # an invalid file is the admin's to fix first
    yaml = _yaml()
    document = yaml.load(text)
    lines: CommentedSeq = document["lines"]
    entries = book.entries
    by_number = {entry.number: index for index, entry in enumerate(entries)}
    listed = {number.number for number in numbers}
    changes: list[LineChange] = []
    spaced = re.search(r"\n[ \t]*\n[ \t]*- ", text) is not None  # entries apart by a blank line

    for number in sorted(numbers, key=lambda n: n.number):
        index = by_number.get(number.number)
        if index is None:
            lines.append(_new_entry(number))
            if spaced:
                lines.yaml_set_comment_before_after_key(len(lines) - 1, before="\n")
            by_number[number.number] = len(lines) - 1
            changes.append(
                LineChange(
                    "added",
                    number.number,
                    f"{number.label or '(no label)'} (id {number.line_id}); set mms_capable: "
                    "true and its owners if it sends MMS",
                )
            )
            continue
        entry = entries[index]
        if entry.provider is not provider:
            changes.append(
                LineChange(
                    "conflict",
                    number.number,
                    f"is listed under {entry.provider.value} in {file} but {provider.value} "
                    "has it: left as it is",
                )
            )
            continue
        updates = _updates(entry, number)
        for key, value in updates.items():
            lines[index][key] = value
        if updates:
            changes.append(
                LineChange(
                    "updated",
                    number.number,
                    ", ".join(
                        f"{key}: {_shown(getattr(entry, key))} → {value}"
                        for key, value in updates.items()
                    ),
                )
            )

    for entry in entries:
        if entry.provider is provider and entry.number not in listed:
            changes.append(
                LineChange(
                    "missing",
                    entry.number,
                    f"{entry.label or '(no label)'} is not at {provider.value} any more: kept; "
                    f"remove it from {file} if the line is gone",
                )
            )

    new_text = text
    if any(change.kind in ("added", "updated") for change in changes):
        out = io.StringIO()
        yaml.dump(document, out)
        new_text = out.getvalue()
        parse_lines(new_text, file)  # what the service will read; raises if it would not
    return LinesMerge(text, new_text, tuple(changes))


def missing_at_provider(
    entries: Sequence[LineEntry], provider: Provider, numbers: Sequence[ProviderNumber]
) -> list[str]:
    """Why each of `provider`'s lines in the file does not match what the provider lists (the
    doctor's check); empty when every line exists there with the same id."""
    at_provider = {number.number: number for number in numbers}
    problems = []
    for entry in entries:
        if entry.provider is not provider:
            continue
        found = at_provider.get(entry.number)
        if found is None:
            label = entry.label or "no label"
            problems.append(f"{entry.number} ({label}) is not at {provider.value}")
        elif entry.provider_line_id and entry.provider_line_id != found.line_id:
            problems.append(
                f"{entry.number} has provider_line_id {_shown(entry.provider_line_id)}, "
                f"{provider.value} says {found.line_id}"
            )
    return problems


def _updates(entry: LineEntry, number: ProviderNumber) -> dict[str, Any]:
    updates: dict[str, Any] = {}
    if entry.provider_line_id != number.line_id:
        updates["provider_line_id"] = number.line_id
    if not entry.label and number.label:
        updates["label"] = number.label
    return updates


def _new_entry(number: ProviderNumber) -> CommentedMap:
    entry = CommentedMap()
    entry["number"] = DoubleQuotedScalarString(phone.normalize(number.number))
    entry["provider"] = number.provider.value
    entry["label"] = number.label or number.number
    entry["mms_capable"] = False
    entry["provider_line_id"] = number.line_id
    return entry


def _shown(value: str | None) -> str:
    if value is None:
        return "(none)"
    return "(placeholder)" if PLACEHOLDER.match(value) else value


__all__ = [
    "LineChange",
    "LinesMerge",
    "MappingError",
    "Problem",
    "merge_numbers",
    "missing_at_provider",
]
