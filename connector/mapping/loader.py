"""`mappings/*.yaml` → checked `MappingSet`, or every problem at once with its file and line.

An admin fixing a file wants the whole list in one go, each entry saying where
(`mappings/hubspot.yaml:12`), which setting (`fields.hs_timestamp`) and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from inspect import isclass
from pathlib import Path
from typing import Any, TypeVar, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from connector.mapping.errors import MappingError, Problem
from connector.mapping.model import CrmMapping, LineBook, MappingSet
from connector.mapping.sandbox import MappingEnvironment
from connector.mapping.schema import (
    MAPPING_FILE_MODELS,
    Crm,
    CrmMappingFile,
    LinesFile,
    NoMatchAction,
    describe_value,
)
from connector.mapping.source import PathPart, SourceMap, read_yaml
from connector.mapping.templates import FieldTemplate, compile_field, make_environment

LINES_FILE = "lines.yaml"
CRM_FILES: dict[Crm, str] = {Crm.HUBSPOT: "hubspot.yaml", Crm.SALESFORCE: "salesforce.yaml"}
PLACEHOLDER = re.compile(r"^(REPLACE|CHANGE)[-_ ]?ME", re.IGNORECASE)

# Names each CRM accepts for the connector's own fields (Salesforce setup creates `…__c`).
_FIELD_NAME = {
    Crm.HUBSPOT: (re.compile(r"^[a-z][a-z0-9_]*$"), "lower-case letters, digits and _"),
    Crm.SALESFORCE: (
        re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$"),
        "a custom field name: letters, digits and _, ending in __c",
    ),
}

M = TypeVar("M", bound=BaseModel)


def display_path(path: Path) -> str:
    """`mappings/hubspot.yaml` when under the working directory, else the full path."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def watched_files(directory: Path) -> list[Path]:
    return [directory / LINES_FILE, *(directory / name for name in CRM_FILES.values())]


def load_mappings(directory: Path | str) -> MappingSet:
    """Every file under `directory`; `MappingError` lists the problems of all of them."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MappingError([Problem(display_path(directory), None, "", "no such directory")])
    problems: list[Problem] = []
    warnings: list[Problem] = []
    lines: LineBook | None = None
    lines_path = directory / LINES_FILE
    if not lines_path.exists():
        problems.append(
            Problem(display_path(lines_path), None, "", "missing: list the company's lines here")
        )
    else:
        try:
            lines, found = load_lines(lines_path)
            warnings += found
        except MappingError as exc:
            problems += exc.problems
    crms: dict[Crm, CrmMapping] = {}
    for crm, name in CRM_FILES.items():
        path = directory / name
        if not path.exists():
            continue
        try:
            crms[crm] = load_crm_mapping(path, crm)
        except MappingError as exc:
            problems += exc.problems
    if problems or lines is None:
        raise MappingError(problems)
    return MappingSet(directory=directory, lines=lines, crms=crms, warnings=tuple(warnings))


def load_lines(path: Path) -> tuple[LineBook, list[Problem]]:
    """The lines file and its warnings (placeholder ids left in)."""
    return parse_lines(path.read_text(encoding="utf-8"), display_path(path))


def parse_lines(text: str, file: str) -> tuple[LineBook, list[Problem]]:
    """`load_lines` of a text not written yet (what `lines import` is about to write)."""
    data, source = read_yaml(text, file)
    spec = validate(LinesFile, data, source)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    first: dict[str, int] = {}
    for index, entry in enumerate(spec.lines):
        where: tuple[PathPart, ...] = ("lines", index, "number")
        if entry.number in first:
            problems.append(
                source.problem(
                    where,
                    f"{entry.number} is listed twice (first on line "
                    f"{source.line(('lines', first[entry.number]))}); keep one",
                )
            )
        first.setdefault(entry.number, index)
        ids: list[tuple[tuple[PathPart, ...], str, str]] = [
            (("lines", index, "owners", crm.value), owner, _owner_kind(crm))
            for crm, owner in entry.owners.items()
        ]
        if entry.provider_line_id:
            ids.append(
                (("lines", index, "provider_line_id"), entry.provider_line_id, "provider's id")
            )
        warnings += [
            source.problem(path, f"placeholder {value!r}: put the {kind} here", warning=True)
            for path, value, kind in ids
            if PLACEHOLDER.match(value)
        ]
    if problems:
        raise MappingError(problems)
    warnings.sort(key=lambda p: p.line or 0)
    return LineBook(file=file, entries=tuple(spec.lines), source=source), warnings


def _owner_kind(crm: Crm) -> str:
    return "HubSpot owner id" if crm is Crm.HUBSPOT else "Salesforce user id (005…)"


def load_crm_mapping(path: Path, crm: Crm) -> CrmMapping:
    file = display_path(path)
    data, source = read_yaml(path.read_text(encoding="utf-8"), file)
    spec = validate(MAPPING_FILE_MODELS[crm], data, source)
    problems = _rule_problems(spec, source)
    env = make_environment(ZoneInfo(spec.timezone))
    fields, found = _compile(env, spec.fields, ("fields",), source)
    problems += found
    new_contact, found = _compile(
        env, spec.contact.on_no_match.fields, ("contact", "on_no_match", "fields"), source
    )
    problems += found
    if problems:
        raise MappingError(problems)
    return CrmMapping(
        crm=crm,
        file=file,
        spec=spec,
        fields=fields,
        new_contact_fields=new_contact,
        source=source,
    )


def _compile(
    env: MappingEnvironment, values: dict[str, Any], at: tuple[PathPart, ...], source: SourceMap
) -> tuple[tuple[FieldTemplate, ...], list[Problem]]:
    compiled: list[FieldTemplate] = []
    problems: list[Problem] = []
    for target, value in values.items():
        path = (*at, target)
        field, found = compile_field(
            env,
            target,
            value,
            file=source.file,
            path=path,
            value_line=source.spot(path).value_line,
        )
        compiled.append(field)
        problems += found
    return tuple(compiled), problems


def _rule_problems(spec: CrmMappingFile, source: SourceMap) -> list[Problem]:
    """What the schema alone cannot say: names this CRM accepts, fields the connector owns."""
    problems: list[Problem] = []

    def one_of(path: tuple[PathPart, ...], value: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            expected = " or ".join(repr(a) for a in allowed)
            problems.append(source.problem(path, f"expected {expected}, got {value!r}"))

    for index, match in enumerate(spec.contact.match):
        one_of(("contact", "match", index, "object"), match.object, spec.match_objects)
    no_match = spec.contact.on_no_match
    if no_match.action is NoMatchAction.CREATE and no_match.object is not None:
        one_of(("contact", "on_no_match", "object"), no_match.object, spec.create_objects)
    pattern, described = _FIELD_NAME[spec.crm]
    idempotency = spec.idempotency
    for name, value in (
        ("key_field", idempotency.key_field),
        ("thread_field", idempotency.thread_field),
    ):
        if value is not None and not pattern.match(value):
            problems.append(
                source.problem(("idempotency", name), f"expected {described}, got {value!r}")
            )
    if spec.consent is not None:
        for name, value in (
            ("opted_out_field", spec.consent.opted_out_field),
            ("opted_out_at_field", spec.consent.opted_out_at_field),
        ):
            if value is not None and not pattern.match(value):
                problems.append(
                    source.problem(("consent", name), f"expected {described}, got {value!r}")
                )
    owned = {
        idempotency.key_field: "from idempotency.key_field",
        spec.owner_field: "from the owner rule (`owner:`)",
        **{name: "from the contact match and `associations`" for name in spec.link_fields},
    }
    if idempotency.thread_field:
        owned[idempotency.thread_field] = "from idempotency.thread_field"
    for target in spec.fields:
        if target in owned:
            problems.append(
                source.problem(
                    ("fields", target),
                    f"written by the connector {owned[target]}; remove it from `fields`",
                )
            )
    for index, name in enumerate(spec.create_only):
        if name not in spec.fields:
            problems.append(
                source.problem(("create_only", index), f"{name!r} is not one of `fields`")
            )
    return problems


def validate(model: type[M], data: Any, source: SourceMap) -> M:
    """`data` as `model`, or a `MappingError` naming line and path of each problem."""
    if not isinstance(data, dict):
        raise MappingError(
            [
                Problem(
                    source.file,
                    1,
                    "",
                    f"expected a mapping of settings, got "
                    f"{'an empty file' if data is None else describe_value(data)}",
                )
            ]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if part != "[key]")
            problems.append(source.problem(loc, explain(model, error)))
        raise MappingError(sorted(problems, key=lambda p: p.line or 0)) from None


def explain(model: type[BaseModel], error: ErrorDetails) -> str:
    """Pydantic's error in an admin's words: what was expected, and what was written."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    given = error.get("input")
    got = describe_value(given)
    loc = error["loc"]
    if kind == "missing":
        return "required but missing" + _described(model, loc)
    if kind == "extra_forbidden":
        inner = model_at(model, loc[:-1])
        allowed = ", ".join(inner.model_fields) if inner else ""
        return f"unknown setting; expected one of: {allowed}" if allowed else "unknown setting"
    if kind in ("literal_error", "enum"):
        return f"expected {ctx.get('expected')}, got {got}"
    simple = {
        "string_type": "text",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "list_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "string_too_short": "non-empty text",
    }
    if kind in simple:
        return f"expected {simple[kind]}, got {got}"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length', 1)} entry, got none"
    if kind == "greater_than":
        return f"expected a number above {ctx.get('gt')}, got {got}"
    return str(error["msg"])


def _described(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    inner = model_at(model, loc[:-1])
    name = loc[-1] if loc else None
    if inner is None or not isinstance(name, str) or name not in inner.model_fields:
        return ""
    description = inner.model_fields[name].description
    return f" (expected {description})" if description else ""


def model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that holds the setting at `loc` (through lists and mappings)."""
    annotation: Any = root
    for part in loc:
        model = _find_model(annotation)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
    return _find_model(annotation)


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None
