"""A template renders one CRM field: bounded in time, in work and in the size of what it builds.

Each hostile template here would, without the limits, run for minutes or take gigabytes; each
is refused before the big value exists, with the field and the template line named.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.mapping import render_record
from connector.mapping.sandbox import MAX_OUTPUT_CHARS, MAX_VALUE_CHARS
from tests.mapping.factories import context, hubspot_with, message
from tests.mapping.test_templates import BODY, render_error

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"

HOSTILE = {
    "replace explodes a string": "{{ ('a'*100000)|replace('a','a'*100000) }}",
    "str.replace explodes a string": "{{ ('a'*100000).replace('a','a'*100000) }}",
    "join of one string repeated": "{{ (['a'*100000]*100000)|join }}",
    "str.join of one string repeated": "{{ ''.join(['a'*100000]*100000) }}",
    "printing a list of shared strings": "{{ ['a'*100000]*100000 }}",
    "tojson of shared strings": "{{ (['a'*100000]*100000)|tojson }}",
    "sum of shared lists": "{{ ([['a']*100000]*100000)|sum(start=[])|length }}",
    "center to a billion": "{{ 'a'|center(1000000000) }}",
    "str.ljust to a billion": "{{ 'a'.ljust(1000000000) }}",
    "str.format width": "{{ '{:1000000000}'.format('a') }}",
    "percent width": "{{ '%1000000000s' % 'a' }}",
    "format filter width": "{{ '%1000000000s'|format('a') }}",
    "doubling with ~": "{% set a = 'a'*100000 %}{% set b = a~a~a~a~a~a~a~a~a~a %}"
    "{% set c = b~b~b~b~b~b~b~b~b~b %}{{ c|length }}",
    "doubling with +": "{% set a = 'a'*100000 %}{% set b = a+a+a+a+a+a+a+a+a+a %}"
    "{% set c = b+b+b+b+b+b+b+b+b+b %}{{ c|length }}",
    "nested loops without output": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "macro calling itself twice, 40 deep": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}"
    "{% endif %}{% endmacro %}{{ f(40) }}",
    "output of a loop": "{% for i in range(100000) %}{{ 'a'*100000 }}{% endfor %}",
    "huge integer": "{{ ((10**64)**64)**64 }}",
    "int.to_bytes": "{{ (1).to_bytes(1000000000, 'big')|length }}",
}


def yaml_quoted(template: str) -> str:
    return "'" + template.replace("'", "''") + "'"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("template", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_template_that_would_take_minutes_or_gigabytes_is_stopped(
    tmp_path: Path, template: str
) -> None:
    error = render_error(tmp_path, yaml_quoted(template))

    assert f"fields.{BODY}: template failed: " in str(error)
    assert "over a limit" in str(error) or "not allowed in templates" in str(error)


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ('a'*1000)|replace('a', 'a'*2000) }}", id="replace, 2 million"),
        pytest.param("{{ ('a'*2000).replace('a', 'a'*1000) }}", id="str.replace, 2 million"),
        pytest.param("{{ (['a'*1000]*2000)|join }}", id="join, 2 million"),
        pytest.param("{{ 'a'|center(2000000) }}", id="center, 2 million"),
    ],
)
def test_values_just_past_the_cap_are_refused_too(tmp_path: Path, template: str) -> None:
    """Past the cap, yet small enough to show that nothing stopped them before."""
    assert MAX_VALUE_CHARS < 2_000_000
    error = render_error(tmp_path, yaml_quoted(template))
    assert "over a limit" in str(error)


def test_the_output_of_a_field_is_capped(tmp_path: Path) -> None:
    template = "{% for i in range(20) %}{{ 'a' * 100000 }}{% endfor %}"
    assert MAX_OUTPUT_CHARS < 20 * 100_000
    error = render_error(tmp_path, yaml_quoted(template))
    assert "the output is over" in str(error)


def test_ordinary_templates_render_as_before(tmp_path: Path) -> None:
    mapping = hubspot_with(
        tmp_path,
        **{
            BODY: yaml_quoted(
                "{% for m in messages %}{{ m.text|replace('a', 'b')|upper ~ '!' }}"
                "{{ ', '.join(['x', 'y']) }}{{ '%05d' % 42 }}{{ '{:>6}'.format('z') }}"
                "{{ m.sent_at|epoch_ms|string|length }}{% endfor %}{{ 'ab' * 3 }}"
            )
        },
    )

    record = render_record(mapping, context(message(text="banana")))

    assert record.fields[BODY] == "BBNBNB!x, y00042     z13ababab"


def test_mappings_check_names_the_field_that_broke_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO_MAPPINGS, tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    for name in ("CONNECTOR_HUBSPOT_ACCESS_TOKEN", "CONNECTOR_SALESFORCE_SESSION_ID"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "mappings" / "salesforce.yaml"
    text = path.read_text()
    opening = "  Subject: |-\n    {% filter fit(255) %}\n"
    assert opening in text
    hostile = "{{ ('a'*100000)|replace('a','a'*100000) }}"
    path.write_text(text.replace(opening, f"  Subject: |-\n    {hostile}{{% filter fit(255) %}}\n"))

    result = CliRunner().invoke(app, ["mappings", "check"])

    assert result.exit_code == 1
    assert "salesforce.yaml:" in result.output
    assert "fields.Subject: template failed: over a limit" in result.output
