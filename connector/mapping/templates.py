"""The sandbox admins' templates run in, and the few filters a CRM field needs.

Templates are admin-written but render customer text into CRM records, so they run in Jinja's
immutable sandbox with strict undefined: no attribute of Python internals, no file, loader,
import or include, no mutation, no unbounded repetition, and a typo fails loudly instead of
writing an empty field. Problems carry the file line of the template line at fault.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from markupsafe import escape

from connector.mapping.errors import Problem, RenderError
from connector.mapping.sandbox import MappingEnvironment, TemplateLimitExceeded, guard, render
from connector.mapping.schema import FieldValue
from connector.mapping.source import PathPart, format_path

# The names a template may use: documented in docs and built by `context.build_context`.
CONTEXT_KEYS: frozenset[str] = frozenset(
    {
        "message",
        "messages",
        "thread",
        "line",
        "contact",
        "attachments",
        "preview",
        "more_count",
        "alert",
        "status",
        "status_label",
        "conversation_url",
        "granularity",
    }
)

TEMPLATE_MARKERS = ("{{", "{%", "{#")
ELLIPSIS = "…"

_FORBIDDEN_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Extends,
)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return _as_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise TypeError(f"expected a date and time, got {type(value).__name__}")


def iso(value: Any) -> str:
    """UTC ISO 8601 with milliseconds, `2024-05-01T12:00:00.000Z` (HubSpot `hs_timestamp`)."""
    moment = _as_datetime(value).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: Any) -> int:
    return int(_as_datetime(value).timestamp() * 1000)


def fit(value: Any, length: int, end: str = ELLIPSIS) -> str:
    """`value` cut to at most `length` characters, ending in `end` when it was cut."""
    text = "" if value is None else str(value)
    if len(text) <= length:
        return text
    if length <= len(end):
        return text[:length]
    return text[: length - len(end)] + end


def html(value: Any) -> str:
    """HTML-escaped text: message text and file names are customer content."""
    return str(escape("" if value is None else str(value)))


def html_text(value: Any) -> str:
    """Escaped text whose line breaks survive as `<br>` (HubSpot rich text ignores newlines)."""
    escaped = html(value).replace("\r\n", "\n")
    return escaped.replace("\n", "<br>")


def make_filters(zone: tzinfo) -> dict[str, Callable[..., Any]]:
    """Filters for one mapping; dates are read in the mapping's time zone."""

    def crm_date(value: Any) -> str:
        """`YYYY-MM-DD` in the mapping's time zone (Salesforce `ActivityDate`)."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        return _as_datetime(value).astimezone(zone).date().isoformat()

    def local_datetime(value: Any) -> str:
        """`2024-05-01 08:00 EDT`: how a person reads a time in a CRM record."""
        return _as_datetime(value).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z").strip()

    def local_time(value: Any) -> str:
        return _as_datetime(value).astimezone(zone).strftime("%H:%M")

    return {
        "iso": iso,
        "epoch_ms": epoch_ms,
        "crm_date": crm_date,
        "local_datetime": local_datetime,
        "local_time": local_time,
        "fit": fit,
        "html": html,
        "html_text": html_text,
    }


def make_environment(zone: tzinfo = UTC) -> MappingEnvironment:
    env = MappingEnvironment(
        loader=None,
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    env.filters.update(make_filters(zone))
    return env


def is_template(value: FieldValue) -> bool:
    return isinstance(value, str) and any(marker in value for marker in TEMPLATE_MARKERS)


@dataclass(frozen=True)
class FieldTemplate:
    """One target field: a literal, or a compiled template with its place in the file."""

    target: str
    file: str
    path: tuple[PathPart, ...]
    value_line: int
    literal: FieldValue = None
    template: Template | None = None

    def render(self, data: Mapping[str, Any]) -> FieldValue:
        if self.template is None:
            return self.literal
        try:
            return render(self.template, data)
        except Exception as exc:  # any failure of an admin's template is the mapping's fault
            raise RenderError(self._problem(exc)) from exc

    def _problem(self, exc: Exception) -> Problem:
        line = _template_line(exc)
        if isinstance(exc, UndefinedError):
            reason = f"undefined value: {exc.message}"
        elif isinstance(exc, TemplateLimitExceeded):
            reason = f"over a limit: {exc}"
        elif isinstance(exc, SecurityError):
            reason = f"not allowed in templates: {exc}"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        file_line = self.value_line + (line - 1 if line else 0)
        return Problem(self.file, file_line, format_path(self.path), f"template failed: {reason}")


def _template_line(exc: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def compile_field(
    env: MappingEnvironment,
    target: str,
    value: FieldValue,
    *,
    file: str,
    path: Sequence[PathPart],
    value_line: int,
) -> tuple[FieldTemplate, list[Problem]]:
    """The field's template (or literal) and what is wrong with it, each with its file line."""
    field = FieldTemplate(target, file, tuple(path), value_line, literal=value)
    if not isinstance(value, str) or not is_template(value):
        return field, []
    where = format_path(path)

    def problem(template_line: int | None, message: str) -> Problem:
        return Problem(file, value_line + (template_line or 1) - 1, where, message)

    try:
        ast = env.parse(value)
    except TemplateSyntaxError as exc:
        return field, [problem(exc.lineno, f"template syntax error: {exc.message}")]
    problems = [
        problem(node.lineno, "templates may not include, import or extend other templates")
        for node in ast.find_all(_FORBIDDEN_NODES)
    ]
    unknown = find_undeclared_variables(ast) - CONTEXT_KEYS - set(env.globals)
    for name in sorted(unknown):
        first = next(n for n in ast.find_all(nodes.Name) if n.name == name)
        known = ", ".join(sorted(CONTEXT_KEYS))
        problems.append(
            problem(first.lineno, f"unknown variable '{name}'; expected one of: {known}")
        )
    if problems:
        return field, problems
    compiled = env.from_string(guard(ast))
    return FieldTemplate(target, file, tuple(path), value_line, template=compiled), []
