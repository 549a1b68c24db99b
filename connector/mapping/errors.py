"""Problems in the admin's mapping files, each pointing at the file, line and setting to fix.

An admin edits YAML by hand; an error that says where (`mappings/hubspot.yaml:12`), what
(`fields.hs_timestamp`) and what was expected is the difference between a fix and a support call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from connector.core.errors import Permanent

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or doubtful, for a warning) in one file."""

    file: str
    line: int | None
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        if self.path:
            return f"{where}: {prefix}{self.path}: {self.message}"
        return f"{where}: {prefix}{self.message}"


class MappingError(Exception):
    """Mapping files that cannot be used; `problems` lists every error found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid mapping")


class RenderError(Permanent):
    """A template failed on real data: retrying cannot help until the admin fixes the mapping."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem
