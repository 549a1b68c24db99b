"""Templates run sandboxed with strict undefined; their mistakes are reported at the file line
of the template line at fault, and the filters do what a CRM field needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector.mapping import MappingError, RenderError, render_record
from connector.mapping.templates import epoch_ms, fit, html, html_text, iso, make_filters
from tests.mapping.factories import (
    MINIMAL_HUBSPOT,
    context,
    hubspot_with,
    line_of,
    mapping_dir,
    message,
    where,
)

BODY = "hs_communication_body"


def load_error(tmp_path: Path, fields: str) -> list[str]:
    with pytest.raises(MappingError) as raised:
        hubspot_with(tmp_path, **{BODY: fields})
    return [str(p) for p in raised.value.problems]


def render_error(tmp_path: Path, template: str) -> RenderError:
    mapping = hubspot_with(tmp_path, **{BODY: template})
    with pytest.raises(RenderError) as raised:
        render_record(mapping, context(message()))
    return raised.value


def hubspot_file(tmp_path: Path) -> str:
    return where(tmp_path / "mappings", "hubspot.yaml")


# -- mistakes, at their line ------------------------------------------------------------------


def test_a_template_syntax_error_names_the_line_inside_a_block(tmp_path: Path) -> None:
    block = "|\n    <p>{{ message.text }}</p>\n    <p>{{ message.text }</p>\n"
    text = MINIMAL_HUBSPOT + f"  {BODY}: {block}"
    [problem] = load_error(tmp_path, block)
    assert problem.startswith(
        f"{hubspot_file(tmp_path)}:{line_of(text, '{{ message.text }<')}: "
        f"fields.{BODY}: template syntax error: "
    )


def test_an_unknown_variable_is_refused_on_load_at_its_line(tmp_path: Path) -> None:
    block = "|\n    <p>{{ message.text }}</p>\n    <p>{{ mesage.text }}</p>\n"
    text = MINIMAL_HUBSPOT + f"  {BODY}: {block}"
    [problem] = load_error(tmp_path, block)
    assert problem.startswith(
        f"{hubspot_file(tmp_path)}:{line_of(text, 'mesage')}: fields.{BODY}: "
        "unknown variable 'mesage'; expected one of: alert, attachments, contact, "
    )


def test_an_undefined_attribute_fails_the_render_at_its_line(tmp_path: Path) -> None:
    block = "|\n    <p>{{ message.text }}</p>\n    <p>{{ message.subject }}</p>\n"
    text = MINIMAL_HUBSPOT + f"  {BODY}: {block}"
    error = render_error(tmp_path, block)
    assert str(error.problem) == (
        f"{hubspot_file(tmp_path)}:{line_of(text, 'message.subject')}: fields.{BODY}: "
        "template failed: undefined value: 'dict object' has no attribute 'subject'"
    )


def test_a_render_failure_is_permanent_for_the_sync() -> None:
    from connector.core.errors import Permanent

    assert issubclass(RenderError, Permanent)


def test_a_string_without_template_markers_is_a_literal(tmp_path: Path) -> None:
    mapping = hubspot_with(tmp_path, hs_communication_channel_type="SMS", mms_count="3")
    record = render_record(mapping, context(message()))
    assert record.fields == {"hs_communication_channel_type": "SMS", "mms_count": 3}


# -- the sandbox --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "'{{ message.__class__ }}'",
        "\"{{ ''.__class__.__mro__[1].__subclasses__() }}\"",
        "'{{ message.sent_at.__class__.__init__.__globals__ }}'",
        "\"{{ '{0.__class__}'.format(message) }}\"",
        "'{{ messages.append(1) }}'",
        "'{{ message.update(text=1) }}'",
        "'{{ range.__globals__ }}'",
        "\"{{ 'x' * 1000000 }}\"",
        "'{{ 9 ** 999999 }}'",
    ],
    ids=[
        "class of context data",
        "subclasses of object",
        "globals through a method",
        "str.format reaching attributes",
        "mutating a list",
        "mutating a dict",
        "builtin internals",
        "huge repetition",
        "huge power",
    ],
)
def test_templates_cannot_reach_internals_or_mutate(tmp_path: Path, template: str) -> None:
    error = render_error(tmp_path, template)
    assert "template failed: not allowed in templates: " in str(error)


@pytest.mark.parametrize(
    "template",
    [
        "\"{% include '/etc/passwd' %}\"",
        "\"{% import 'macros.j2' as m %}\"",
        "\"{% from 'macros.j2' import m %}\"",
        "\"{% extends 'base.j2' %}\"",
    ],
    ids=["include", "import", "from-import", "extends"],
)
def test_templates_cannot_load_other_files(tmp_path: Path, template: str) -> None:
    [problem] = load_error(tmp_path, template)
    assert problem.endswith(
        f"fields.{BODY}: templates may not include, import or extend other templates"
    )


@pytest.mark.parametrize("name", ["open", "__import__", "lipsum", "cycler", "joiner", "config"])
def test_no_python_builtins_or_helpers_are_in_scope(tmp_path: Path, name: str) -> None:
    [problem] = load_error(tmp_path, f"'{{{{ {name} }}}}'")
    assert f"unknown variable '{name}'" in problem


def test_the_environment_has_no_loader(tmp_path: Path) -> None:
    mapping = hubspot_with(tmp_path, **{BODY: "'{{ message.text }}'"})
    template = mapping.fields[0].template
    assert template is not None
    assert template.environment.loader is None


def test_text_is_not_escaped_unless_the_template_asks(tmp_path: Path) -> None:
    mapping = hubspot_with(
        tmp_path, raw="'{{ message.text }}'", escaped="'{{ message.text | html }}'"
    )
    record = render_record(mapping, context(message(text="<b>5 & 6</b>")))
    assert record.fields == {"raw": "<b>5 & 6</b>", "escaped": "&lt;b&gt;5 &amp; 6&lt;/b&gt;"}


# -- filters ------------------------------------------------------------------------------------


def test_iso_is_utc_with_milliseconds() -> None:
    eastern = timezone(timedelta(hours=-4))
    assert iso(datetime(2024, 5, 1, 8, 0, tzinfo=eastern)) == "2024-05-01T12:00:00.000Z"
    assert iso("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00.000Z"


def test_epoch_ms_counts_milliseconds() -> None:
    assert epoch_ms(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)) == 1000


def test_crm_date_is_the_date_in_the_mapping_time_zone() -> None:
    from zoneinfo import ZoneInfo

    late_utc = datetime(2024, 5, 2, 2, 0, tzinfo=UTC)
    assert make_filters(UTC)["crm_date"](late_utc) == "2024-05-02"
    new_york = make_filters(ZoneInfo("America/New_York"))
    assert new_york["crm_date"](late_utc) == "2024-05-01"
    assert new_york["local_datetime"](late_utc) == "2024-05-01 22:00 EDT"
    assert new_york["local_time"](late_utc) == "22:00"


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("a bit too long", 10, "a bit too…"),
        ("abc", 1, "a"),
        (None, 5, ""),
    ],
)
def test_fit_cuts_to_the_field_length_with_an_ellipsis(
    value: str | None, length: int, expected: str
) -> None:
    assert fit(value, length) == expected
    assert len(fit(value, length)) <= length


def test_html_escapes_and_html_text_keeps_line_breaks() -> None:
    assert html('<a href="x">&</a>') == "&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;"
    assert html_text("one <b>\r\ntwo\nthree") == "one &lt;b&gt;<br>two<br>three"


def test_filters_work_inside_mapping_files(tmp_path: Path) -> None:
    directory = mapping_dir(tmp_path, shipped=False)
    (directory / "hubspot.yaml").write_text(
        "timezone: America/New_York\n"
        + MINIMAL_HUBSPOT
        + "  day: '{{ message.sent_at | crm_date }}'\n"
        + "  at: '{{ message.sent_at | iso }}'\n"
        + "  ms: '{{ message.sent_at | epoch_ms }}'\n"
        + "  short: '{{ message.text | fit(5) }}'\n",
        encoding="utf-8",
    )
    from connector.mapping import load_mappings

    mapping = load_mappings(directory).get("hubspot")
    assert mapping is not None
    sent = datetime(2024, 5, 2, 2, 0, tzinfo=UTC)
    record = render_record(mapping, context(message(sent_at=sent, text="Hello there")))
    assert record.fields == {
        "day": "2024-05-01",
        "at": "2024-05-02T02:00:00.000Z",
        "ms": str(int(sent.timestamp() * 1000)),
        "short": "Hell…",
    }
