"""Every error the validator reports names the file, the line and the setting, and says what
was expected; a broken file never loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.mapping import Crm, MappingError, load_mappings
from tests.mapping.factories import (
    LINES_YAML,
    MINIMAL_HUBSPOT,
    MINIMAL_SALESFORCE,
    line_of,
    mapping_dir,
    where,
)

HUBSPOT_OK = MINIMAL_HUBSPOT + "  hs_communication_channel_type: SMS\n"


def problems(tmp_path: Path, name: str, text: str) -> list[str]:
    files = {"hubspot.yaml": "hubspot", "salesforce.yaml": "salesforce", "lines.yaml": "lines"}
    directory = mapping_dir(tmp_path, shipped=False, **{files[name]: text})
    with pytest.raises(MappingError) as raised:
        load_mappings(directory)
    return [str(p) for p in raised.value.problems]


# (case, file, file text, text on the reported line, "path: message")
CASES = [
    (
        "a field given a list",
        "hubspot.yaml",
        MINIMAL_HUBSPOT + "  hs_timestamp: [1, 2]\n",
        "hs_timestamp",
        "fields.hs_timestamp: expected a template string or literal, got a list",
    ),
    (
        "a field given a mapping",
        "hubspot.yaml",
        MINIMAL_HUBSPOT + "  hs_communication_body: {text: hi}\n",
        "hs_communication_body",
        "fields.hs_communication_body: expected a template string or literal, got a mapping",
    ),
    (
        "a field given an unquoted date",
        "hubspot.yaml",
        MINIMAL_HUBSPOT + "  hs_timestamp: 2024-05-01\n",
        "hs_timestamp",
        "fields.hs_timestamp: expected a template string or literal, "
        "got a date (quote it to keep it as text)",
    ),
    (
        "an unknown granularity",
        "hubspot.yaml",
        "granularity: hourly\n" + HUBSPOT_OK,
        "granularity",
        "granularity: expected 'message' or 'conversation_day', got 'hourly'",
    ),
    (
        "a missing section",
        "hubspot.yaml",
        HUBSPOT_OK.replace(
            "idempotency:\n  key_field: mms_message_key\n  thread_field: mms_thread_key\n", ""
        ),
        "object: communications",
        "idempotency: required but missing",
    ),
    (
        "a missing setting with its meaning",
        "hubspot.yaml",
        HUBSPOT_OK.replace("  key_field: mms_message_key\n", ""),
        "idempotency:",
        "idempotency.key_field: required but missing (expected unique field holding the "
        "record key)",
    ),
    (
        "an unknown time zone",
        "hubspot.yaml",
        "timezone: Mars/Base\n" + HUBSPOT_OK,
        "timezone",
        "timezone: expected an IANA time zone such as 'UTC' or 'America/New_York', got 'Mars/Base'",
    ),
    (
        "an unknown no-match action",
        "hubspot.yaml",
        HUBSPOT_OK.replace("action: unassociated", "action: ignore"),
        "action: ignore",
        "contact.on_no_match.action: expected 'create', 'skip' or 'unassociated', got 'ignore'",
    ),
    (
        "create without the fields to set",
        "hubspot.yaml",
        HUBSPOT_OK.replace("action: unassociated", "action: create\n    object: contacts"),
        "on_no_match:",
        "contact.on_no_match: `create` needs `object` (what to create) and `fields` (what to set)",
    ),
    (
        "skip with an object to create",
        "hubspot.yaml",
        HUBSPOT_OK.replace("action: unassociated", "action: skip\n    object: contacts"),
        "on_no_match:",
        "contact.on_no_match: `object` and `fields` apply only to `action: create`, not `skip`",
    ),
    (
        "a fixed owner without an id",
        "hubspot.yaml",
        HUBSPOT_OK.replace("fields:\n", "owner:\n  source: fixed\nfields:\n"),
        "owner:",
        "owner: `source: fixed` needs `default`",
    ),
    (
        "an unknown owner source",
        "hubspot.yaml",
        HUBSPOT_OK.replace("fields:\n", "owner:\n  source: team\nfields:\n"),
        "source: team",
        "owner.source: expected 'line', 'fixed' or 'none', got 'team'",
    ),
    (
        "a contact object HubSpot cannot match",
        "hubspot.yaml",
        HUBSPOT_OK.replace("object: contacts", "object: deals"),
        "object: deals",
        "contact.match[0].object: expected 'contacts' or 'companies', got 'deals'",
    ),
    (
        "no phone field to match on",
        "hubspot.yaml",
        HUBSPOT_OK.replace("phone_fields: [phone]", "phone_fields: []"),
        "phone_fields",
        "contact.match[0].phone_fields: expected at least 1 entry, got none",
    ),
    (
        "a field limit of zero",
        "hubspot.yaml",
        "field_limits:\n  mms_note: 0\n" + HUBSPOT_OK,
        "mms_note",
        "field_limits.mms_note: expected a number above 0, got 0",
    ),
    (
        "a create-only field that is not mapped",
        "hubspot.yaml",
        "create_only: [hs_nope]\n" + HUBSPOT_OK,
        "create_only",
        "create_only[0]: 'hs_nope' is not one of `fields`",
    ),
    (
        "the key field mapped by hand",
        "hubspot.yaml",
        HUBSPOT_OK + "  mms_message_key: x\n",
        "  mms_message_key: x",
        "fields.mms_message_key: written by the connector from idempotency.key_field; "
        "remove it from `fields`",
    ),
    (
        "the owner field mapped by hand",
        "hubspot.yaml",
        HUBSPOT_OK + "  hubspot_owner_id: '1'\n",
        "hubspot_owner_id",
        "fields.hubspot_owner_id: written by the connector from the owner rule (`owner:`); "
        "remove it from `fields`",
    ),
    (
        "a HubSpot property name HubSpot would refuse",
        "hubspot.yaml",
        HUBSPOT_OK.replace("key_field: mms_message_key", "key_field: MMS Key"),
        "MMS Key",
        "idempotency.key_field: expected lower-case letters, digits and _, got 'MMS Key'",
    ),
    (
        "an unknown HubSpot object",
        "hubspot.yaml",
        HUBSPOT_OK.replace("object: communications", "object: tasks"),
        "object: tasks",
        "object: expected 'communications' or 'notes', got 'tasks'",
    ),
    (
        "an association that is not true or false",
        "hubspot.yaml",
        "associations:\n  company: maybe\n" + HUBSPOT_OK,
        "company: maybe",
        "associations.company: expected true or false, got 'maybe'",
    ),
    (
        "a Salesforce key field that is not a custom field",
        "salesforce.yaml",
        MINIMAL_SALESFORCE.replace("MMS_Message_Key__c", "MessageKey"),
        "MessageKey",
        "idempotency.key_field: expected a custom field name: letters, digits and _, "
        "ending in __c, got 'MessageKey'",
    ),
    (
        "WhoId mapped by hand",
        "salesforce.yaml",
        MINIMAL_SALESFORCE + "  WhoId: 003000000000001\n",
        "WhoId",
        "fields.WhoId: written by the connector from the contact match and `associations`; "
        "remove it from `fields`",
    ),
    (
        "an unknown WhatId rule",
        "salesforce.yaml",
        "associations:\n  what_id: opportunity\n" + MINIMAL_SALESFORCE,
        "what_id",
        "associations.what_id: expected 'none', 'account' or a 15/18-character record id, "
        "got 'opportunity'",
    ),
    (
        "creating a record Salesforce cannot link as WhoId",
        "salesforce.yaml",
        MINIMAL_SALESFORCE.replace(
            "action: skip", "action: create\n    object: Account\n    fields:\n      Name: x"
        ),
        "object: Account",
        "contact.on_no_match.object: expected 'Contact' or 'Lead', got 'Account'",
    ),
    (
        "a line number that is not E.164",
        "lines.yaml",
        LINES_YAML.replace('"+14155550100"', '"555-0100"'),
        "555-0100",
        "lines[0].number: expected a phone number in E.164 form such as +14155550100, "
        "got '555-0100'",
    ),
    (
        "an unknown provider",
        "lines.yaml",
        LINES_YAML.replace("provider: aircall", "provider: twilio"),
        "twilio",
        "lines[0].provider: expected 'aircall' or 'cloudtalk', got 'twilio'",
    ),
    (
        "an owner for an unknown CRM",
        "lines.yaml",
        LINES_YAML.replace('hubspot: "111"', "pipedrive: '7'"),
        "pipedrive",
        "lines[0].owners.pipedrive: expected 'hubspot' or 'salesforce', got 'pipedrive'",
    ),
    (
        "a capability that is not true or false",
        "lines.yaml",
        LINES_YAML.replace("mms_capable: true", "mms_capable: maybe"),
        "mms_capable",
        "lines[0].mms_capable: expected true or false, got 'maybe'",
    ),
    (
        "a label that is not text",
        "lines.yaml",
        LINES_YAML.replace("label: US Sales", "label: [US, Sales]"),
        "label",
        "lines[0].label: expected text, got a list",
    ),
    (
        "a HubSpot opt-out property name HubSpot would refuse",
        "hubspot.yaml",
        "consent:\n  opted_out_field: MMS_Opted_Out\n" + HUBSPOT_OK,
        "opted_out_field",
        "consent.opted_out_field: expected lower-case letters, digits and _, got 'MMS_Opted_Out'",
    ),
    (
        "a Salesforce opt-out field that is not a custom field",
        "salesforce.yaml",
        "consent:\n  opted_out_field: MMS_Opted_Out__c\n  opted_out_at_field: OptOutDate\n"
        + MINIMAL_SALESFORCE,
        "opted_out_at_field",
        "consent.opted_out_at_field: expected a custom field name: letters, digits and _, "
        "ending in __c, got 'OptOutDate'",
    ),
    (
        "a consent section without its checkbox",
        "hubspot.yaml",
        "consent:\n  opted_out_at_field: mms_opted_out_at\n" + HUBSPOT_OK,
        "consent",
        "consent.opted_out_field: required but missing "
        "(expected boolean field: the number opted out)",
    ),
    (
        "no lines at all",
        "lines.yaml",
        "lines: []\n",
        "lines",
        "lines: expected at least 1 entry, got none",
    ),
]


@pytest.mark.parametrize(
    ("file", "text", "needle", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_each_problem_names_file_line_setting_and_expectation(
    tmp_path: Path, file: str, text: str, needle: str, expected: str
) -> None:
    found = problems(tmp_path, file, text)
    directory = tmp_path / "mappings"
    assert f"{where(directory, file)}:{line_of(text, needle)}: {expected}" in found


def test_an_unknown_setting_lists_the_settings_that_exist(tmp_path: Path) -> None:
    text = "granularty: message\n" + HUBSPOT_OK
    [problem] = problems(tmp_path, "hubspot.yaml", text)
    prefix = f"{where(tmp_path / 'mappings', 'hubspot.yaml')}:1: granularty: unknown setting; "
    assert problem.startswith(prefix + "expected one of: ")
    for setting in ("granularity", "idempotency", "contact", "fields", "associations"):
        assert setting in problem


def test_a_setting_written_twice_is_refused_at_its_second_line(tmp_path: Path) -> None:
    text = MINIMAL_HUBSPOT + "  hs_timestamp: a\n  hs_timestamp: b\n"
    first = line_of(text, "hs_timestamp: a")
    assert problems(tmp_path, "hubspot.yaml", text) == [
        f"{where(tmp_path / 'mappings', 'hubspot.yaml')}:{first + 1}: fields.hs_timestamp: "
        f"set twice (first on line {first}); keep one"
    ]


def test_a_line_listed_twice_is_refused_at_the_second(tmp_path: Path) -> None:
    entry = LINES_YAML.removeprefix("lines:\n")
    text = LINES_YAML + entry
    second = len(LINES_YAML.splitlines()) + 1
    assert problems(tmp_path, "lines.yaml", text) == [
        f"{where(tmp_path / 'mappings', 'lines.yaml')}:{second}: lines[1].number: "
        "+14155550100 is listed twice (first on line 2); keep one"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "expected a mapping of settings, got an empty file"),
        ("- a\n- b\n", "expected a mapping of settings, got a list"),
    ],
    ids=["empty file", "a list instead of settings"],
)
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, "hubspot.yaml", text) == [
        f"{where(tmp_path / 'mappings', 'hubspot.yaml')}:1: {expected}"
    ]


def test_yaml_that_does_not_parse_is_refused_at_its_line(tmp_path: Path) -> None:
    text = HUBSPOT_OK + "  hs_timestamp: [unclosed\n  other: x\n"
    [problem] = problems(tmp_path, "hubspot.yaml", text)
    assert problem.startswith(f"{where(tmp_path / 'mappings', 'hubspot.yaml')}:")
    assert "not valid YAML: " in problem
    reported = int(problem.split(":")[1])
    assert reported >= line_of(text, "[unclosed")


def test_a_missing_lines_file_is_reported(tmp_path: Path) -> None:
    directory = mapping_dir(tmp_path, lines=None)
    with pytest.raises(MappingError) as raised:
        load_mappings(directory)
    assert [str(p) for p in raised.value.problems] == [
        f"{where(directory, 'lines.yaml')}: missing: list the company's lines here"
    ]


def test_problems_of_every_file_are_reported_together(tmp_path: Path) -> None:
    directory = mapping_dir(
        tmp_path,
        hubspot=HUBSPOT_OK.replace("action: unassociated", "action: ignore"),
        salesforce=MINIMAL_SALESFORCE.replace("object: Contact", "object: Account"),
        lines=LINES_YAML.replace("provider: aircall", "provider: twilio"),
    )
    with pytest.raises(MappingError) as raised:
        load_mappings(directory)
    files = [p.file for p in raised.value.problems]
    assert files == [
        where(directory, "lines.yaml"),
        where(directory, "hubspot.yaml"),
        where(directory, "salesforce.yaml"),
    ]
    assert str(raised.value).count("\n") == 2


def test_ids_written_as_numbers_are_read_as_text(tmp_path: Path) -> None:
    text = LINES_YAML.replace('hubspot: "111"', "hubspot: 111") + "    provider_line_id: 1284757\n"
    directory = mapping_dir(tmp_path, lines=text)
    [line] = load_mappings(directory).lines
    assert line.owners[Crm.HUBSPOT] == "111"
    assert line.provider_line_id == "1284757"


def test_line_numbers_are_kept_in_e164(tmp_path: Path) -> None:
    directory = mapping_dir(tmp_path, lines=LINES_YAML.replace("+14155550100", "+1 415-555-0100"))
    mappings = load_mappings(directory)
    assert [entry.number for entry in mappings.lines] == ["+14155550100"]
    assert mappings.lines.get("(415) 555-0100") is None  # national forms need a region
    assert mappings.lines.get("+1 (415) 555-0100") is not None
