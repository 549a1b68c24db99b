"""`mappings check --online`: the mapping against the live CRM's own description of its fields.

Each CRM adapter describes an object's fields (HubSpot properties API, Salesforce describe)
through the small `FieldDescriber` port; this module needs nothing else from it. It checks that
each target field exists, is writable and takes what the samples render, and that the fields
idempotency depends on exist with the uniqueness upserts need.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from connector.core.errors import ConnectorError
from connector.mapping.check import CheckReport, check_directory, render_samples, value_length
from connector.mapping.errors import Problem
from connector.mapping.model import CrmMapping, MappingSet
from connector.mapping.samples import SAMPLE_PUBLIC_URL
from connector.mapping.schema import Crm, FieldValue
from connector.mapping.source import PathPart


class DescribedField(Protocol):
    """One field as a CRM describes it (`connector.crm.base.FieldInfo` fits)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def length(self) -> int | None: ...

    @property
    def writable(self) -> bool: ...

    @property
    def unique(self) -> bool: ...

    @property
    def external_id(self) -> bool: ...


class FieldDescriber(Protocol):
    """The port a CRM adapter offers: `describe("Task")` → field name → field."""

    def describe(self, object_name: str) -> Mapping[str, DescribedField]: ...


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_TYPE_WORDS = {
    "date": "date",
    "datetime": "datetime",
    "number": "number",
    "double": "number",
    "int": "number",
    "integer": "number",
    "currency": "number",
    "percent": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "booleancheckbox": "boolean",
}


def check_online(
    mappings: MappingSet,
    describers: Mapping[Crm | str, FieldDescriber],
    *,
    public_url: str = SAMPLE_PUBLIC_URL,
) -> CheckReport:
    """Check each mapped CRM that has a describer; a CRM without one is reported as skipped."""
    problems: list[Problem] = []
    checked: list[str] = []
    by_crm = {Crm(name): describer for name, describer in describers.items()}
    for crm, mapping in mappings.crms.items():
        describer = by_crm.get(crm)
        if describer is None:
            checked.append(f"{mapping.file}: online check skipped ({crm.value} is not configured)")
            continue
        found = _OnlineCheck(mapping, describer, mappings, public_url).run()
        problems += found
        checked.append(f"{mapping.file}: checked against the live {crm.value} fields")
    return CheckReport(problems=tuple(problems), mappings=mappings, checked=tuple(checked))


class _OnlineCheck:
    def __init__(
        self, mapping: CrmMapping, describer: FieldDescriber, mappings: MappingSet, url: str
    ) -> None:
        self.mapping = mapping
        self.describer = describer
        self.mappings = mappings
        self.url = url
        self.problems: list[Problem] = []
        self._described: dict[str, dict[str, DescribedField] | None] = {}

    def run(self) -> list[Problem]:
        mapping = self.mapping
        spec = mapping.spec
        renders = render_samples(mapping, self.mappings.lines, public_url=self.url).renders
        record_values = [(r.sample, r.rendered.fields) for r in renders]
        create_values = [(r.sample, r.rendered.create_fields) for r in renders]
        for name in spec.fields:
            self._target(("fields", name), mapping.object_name, name, record_values)
        no_match = spec.contact.on_no_match
        if no_match.object is not None:
            for name in no_match.fields:
                path: tuple[PathPart, ...] = ("contact", "on_no_match", "fields", name)
                self._target(path, no_match.object, name, create_values)
        for index, match in enumerate(spec.contact.match):
            for position, name in enumerate(match.phone_fields):
                path = ("contact", "match", index, "phone_fields", position)
                self._field(path, match.object, name)
        self._idempotency()
        if spec.owner.source != "none":
            self._field(("owner",), mapping.object_name, mapping.owner_field, writable=True)
        return self.problems

    def _fields(self, object_name: str) -> dict[str, DescribedField] | None:
        if object_name not in self._described:
            try:
                described = self.describer.describe(object_name)
            except ConnectorError as exc:
                self._problem((), f"could not describe {object_name}: {exc.reason}")
                self._described[object_name] = None
            else:
                self._described[object_name] = {k.casefold(): v for k, v in described.items()}
        return self._described[object_name]

    def _field(
        self, path: tuple[PathPart, ...], object_name: str, name: str, *, writable: bool = False
    ) -> DescribedField | None:
        fields = self._fields(object_name)
        if fields is None:
            return None
        info = fields.get(name.casefold())
        crm = self.mapping.crm.value
        if info is None:
            self._problem(path, f"{object_name}.{name} does not exist in {crm}")
        elif writable and not info.writable:
            self._problem(path, f"{object_name}.{name} is read-only in {crm}")
        return info

    def _target(
        self,
        path: tuple[PathPart, ...],
        object_name: str,
        name: str,
        samples: list[tuple[str, dict[str, FieldValue]]],
    ) -> None:
        info = self._field(path, object_name, name, writable=True)
        if info is None or not info.writable:
            return
        for sample, values in samples:
            if name not in values:
                continue
            reason = misfit(values[name], info)
            if reason:
                self._problem(path, f"{reason} (sample: {sample})")
                return

    def _idempotency(self) -> None:
        mapping = self.mapping
        setup = f"run `mms-connector mappings setup --crm {mapping.crm.value}`"
        for attribute, name in (
            ("key_field", mapping.key_field),
            ("thread_field", mapping.thread_field),
        ):
            if name is None:
                continue
            path: tuple[PathPart, ...] = ("idempotency", attribute)
            fields = self._fields(mapping.object_name)
            if fields is None:
                return
            info = fields.get(name.casefold())
            if info is None:
                self._problem(path, f"{mapping.object_name}.{name} does not exist: {setup}")
                continue
            if not info.writable:
                self._problem(path, f"{mapping.object_name}.{name} is read-only")
            if attribute != "key_field":
                continue
            if mapping.crm is Crm.SALESFORCE and not (info.external_id and info.unique):
                self._problem(path, f"{name} must be an External ID marked Unique: {setup}")
            elif mapping.crm is Crm.HUBSPOT and not info.unique:
                self._problem(
                    path,
                    f"{name} has no unique values: retries rely on the connector's own record "
                    "of HubSpot ids",
                    warning=True,
                )

    def _problem(self, path: tuple[PathPart, ...], message: str, *, warning: bool = False) -> None:
        self.problems.append(self.mapping.source.problem(path, message, warning=warning))


def misfit(value: FieldValue, info: DescribedField) -> str | None:
    """Why `value` does not fit the described field, or None."""
    if value is None:
        return None
    kind = _TYPE_WORDS.get(info.type.casefold(), "text")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "date" and not _DATE.match(text):
        return f"renders {text!r}, not a date (YYYY-MM-DD): use `| crm_date`"
    if kind == "datetime" and not (_DATETIME.match(text) or text.isdigit()):
        return f"renders {text!r}, not a date and time: use `| iso`"
    if kind == "number" and not _NUMBER.match(text):
        return f"renders {text!r}, not a number"
    if kind == "boolean" and text not in ("true", "false"):
        return f"renders {text!r}, not true or false"
    if kind == "text" and info.length and value_length(value) > info.length:
        return (
            f"renders {value_length(value):,} characters but {info.name} holds "
            f"{info.length:,}: end the template with `| fit({info.length})`"
        )
    return None


def check_mappings(
    directory: Path | str,
    *,
    public_url: str = SAMPLE_PUBLIC_URL,
    describers: Mapping[Crm | str, FieldDescriber] | None = None,
) -> CheckReport:
    """`mappings check` (offline), and with `describers` also `--online`: one report."""
    report = check_directory(directory, public_url=public_url)
    if describers is None or report.mappings is None:
        return report
    return report.merged(check_online(report.mappings, describers, public_url=public_url))
