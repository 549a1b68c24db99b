"""`mappings check`: everything that can be known about the mapping files without a CRM.

The schema and templates are checked on load; here every CRM template is also rendered against
the sample messages for each line (a template that only fails on outbound or on media fails
here, not in production), and each value is measured against the field's known length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from connector.mapping.context import RenderContext, build_context
from connector.mapping.errors import MappingError, Problem, RenderError
from connector.mapping.loader import load_mappings
from connector.mapping.model import CrmMapping, LineBook, MappingSet
from connector.mapping.render import RenderedFields, render_fields
from connector.mapping.samples import SAMPLE_PUBLIC_URL, Sample, conversation_url, sample_messages
from connector.mapping.schema import FieldValue, Granularity, LineEntry


@dataclass(frozen=True)
class CheckReport:
    """What `check` found; `ok` when nothing is an error (warnings do not fail it)."""

    problems: tuple[Problem, ...] = ()
    mappings: MappingSet | None = None
    checked: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def merged(self, other: CheckReport) -> CheckReport:
        return CheckReport(
            problems=_unique((*self.problems, *other.problems)),
            mappings=self.mappings or other.mappings,
            checked=(*self.checked, *other.checked),
        )

    def lines(self) -> list[str]:
        """The report as the CLI prints it: problems first, then what was checked."""
        verdict = "mappings OK" if self.ok else f"{len(self.errors)} error(s)"
        if self.warnings:
            verdict += f", {len(self.warnings)} warning(s)"
        return [*(str(p) for p in self.problems), *self.checked, verdict]


@dataclass(frozen=True)
class SampleRender:
    """One sample's rendering under one CRM mapping, for length and type checks."""

    sample: str
    rendered: RenderedFields


@dataclass
class SampleRenders:
    """What rendering the samples gave: the renders, and the templates that failed."""

    problems: list[Problem] = field(default_factory=list)
    renders: list[SampleRender] = field(default_factory=list)


def check_directory(directory: Path | str, *, public_url: str = SAMPLE_PUBLIC_URL) -> CheckReport:
    """Load and check every file under `directory` (what `mappings check` runs)."""
    try:
        mappings = load_mappings(directory)
    except MappingError as exc:
        return CheckReport(problems=exc.problems)
    return check_offline(mappings, public_url=public_url)


def check_offline(mappings: MappingSet, *, public_url: str = SAMPLE_PUBLIC_URL) -> CheckReport:
    problems: list[Problem] = [*mappings.warnings]
    checked: list[str] = [f"{mappings.lines.file}: {len(mappings.lines)} line(s)"]
    for mapping in mappings.crms.values():
        collected = render_samples(mapping, mappings.lines, public_url=public_url)
        problems += collected.problems
        problems += _length_problems(mapping, collected.renders)
        problems += _owner_problems(mapping, mappings.lines)
        checked.append(
            f"{mapping.file}: {mapping.object_name}, {mapping.granularity.value}, "
            f"{len(collected.renders)} sample render(s)"
        )
    if not mappings.crms:
        checked.append("no CRM mapping file (hubspot.yaml, salesforce.yaml): nothing is synced")
    return CheckReport(problems=_unique(problems), mappings=mappings, checked=tuple(checked))


def render_samples(
    mapping: CrmMapping, lines: LineBook, *, public_url: str = SAMPLE_PUBLIC_URL
) -> SampleRenders:
    """Render `mapping` for every sample on every line; failures become problems."""
    collected = SampleRenders()
    failed: set[tuple[int | None, str, str]] = set()
    for line in lines:
        for sample in sample_messages(line, public_url=public_url):
            if sample.day and mapping.granularity is not Granularity.CONVERSATION_DAY:
                continue
            try:
                rendered = render_fields(mapping, _context(sample, line, public_url))
            except RenderError as exc:
                found = exc.problem
                if (found.line, found.path, found.message) not in failed:
                    failed.add((found.line, found.path, found.message))
                    collected.problems.append(_for_sample(found, sample.name))
                continue
            collected.renders.append(SampleRender(sample.name, rendered))
    return collected


def _context(sample: Sample, line: LineEntry, public_url: str) -> RenderContext:
    captured = sample.captured
    return build_context(
        captured.message,
        line=line,
        attachment_links=captured.attachment_links,
        alert=captured.alert,
        conversation_url=conversation_url(public_url),
        messages=sample.day or (captured,),
    )


def _for_sample(problem: Problem, sample: str) -> Problem:
    return Problem(
        problem.file, problem.line, problem.path, f"{problem.message} (sample: {sample})"
    )


def value_length(value: FieldValue) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _length_problems(mapping: CrmMapping, renders: Iterable[SampleRender]) -> list[Problem]:
    problems: dict[tuple[str, ...], Problem] = {}
    no_match_object = mapping.spec.contact.on_no_match.object
    for render in renders:
        for at, values, object_name in (
            (("fields",), render.rendered.fields, mapping.object_name),
            (("contact", "on_no_match", "fields"), render.rendered.create_fields, no_match_object),
        ):
            for name, value in values.items():
                limit = mapping.limit_for(name, object_name)
                if limit is not None and value_length(value) > limit:
                    problems.setdefault(
                        (*at, name),
                        mapping.source.problem(
                            (*at, name),
                            f"renders {value_length(value):,} characters for sample "
                            f"'{render.sample}' but {object_name}.{name} holds {limit:,}; "
                            f"end the template with `| fit({limit})`",
                        ),
                    )
    return list(problems.values())


def _owner_problems(mapping: CrmMapping, lines: LineBook) -> list[Problem]:
    rule = mapping.spec.owner
    if rule.source != "line" or rule.default is not None:
        return []
    return [
        lines.problem(
            ("lines", index),
            f"{entry.number} has no {mapping.crm.value} owner and {mapping.file} sets no "
            "owner.default: its records are written without an owner",
            warning=True,
        )
        for index, entry in enumerate(lines)
        if entry.owner(mapping.crm) is None
    ]


def _unique(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    seen: dict[str, Problem] = {}
    for problem in problems:
        seen.setdefault(str(problem), problem)
    return tuple(seen.values())
