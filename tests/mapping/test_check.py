"""`mappings check` renders every template against sample inbound and outbound messages and
measures each value; `--online` compares the mapping with the live CRM's field descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from connector.core.errors import Transient
from connector.mapping import check_directory, check_mappings, check_online, load_mappings
from tests.mapping.factories import (
    LINES_YAML,
    MINIMAL_HUBSPOT,
    line_of,
    mapping_dir,
    shipped_text,
    where,
)


def hubspot_dir(tmp_path: Path, fields: str, *, head: str = "") -> Path:
    return mapping_dir(tmp_path, hubspot=head + MINIMAL_HUBSPOT + fields, shipped=False)


def test_a_template_that_fails_only_for_some_messages_is_found(tmp_path: Path) -> None:
    fields = "  first_media: '{{ message.attachments[0].name }}'\n"
    directory = hubspot_dir(tmp_path, fields)
    report = check_directory(directory)
    assert not report.ok
    [problem] = report.errors
    text = MINIMAL_HUBSPOT + fields
    assert str(problem).startswith(
        f"{where(directory, 'hubspot.yaml')}:{line_of(text, 'first_media')}: fields.first_media: "
        "template failed: undefined value: "
    )
    assert problem.message.endswith("(sample: inbound text)")


def test_a_value_longer_than_its_field_is_an_error_that_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    salesforce = shipped_text("salesforce.yaml").replace(
        "{% filter fit(32000) %}", "{% filter upper %}"
    )
    directory = mapping_dir(
        tmp_path,
        salesforce=salesforce.replace("granularity: message", "granularity: conversation_day"),
    )
    report = check_directory(directory)
    [problem] = report.errors
    assert problem.path == "fields.Description"
    assert problem.line == line_of(salesforce, "  Description:")
    assert "for sample 'busy day' but Task.Description holds 32,000; " in problem.message
    assert problem.message.endswith("end the template with `| fit(32000)`")


def test_custom_field_limits_are_checked_too(tmp_path: Path) -> None:
    directory = hubspot_dir(
        tmp_path, "  mms_note: '{{ message.text }}'\n", head="field_limits:\n  mms_note: 10\n"
    )
    [problem] = check_directory(directory).errors
    assert problem.path == "fields.mms_note"
    assert "holds 10; end the template with `| fit(10)`" in problem.message


def test_a_load_error_is_reported_not_raised(tmp_path: Path) -> None:
    directory = hubspot_dir(tmp_path, "  hs_timestamp: [1]\n")
    report = check_directory(directory)
    assert not report.ok
    assert report.mappings is None
    assert "expected a template string or literal, got a list" in report.lines()[0]


def test_a_line_without_an_owner_is_a_warning(tmp_path: Path) -> None:
    lines = LINES_YAML.replace('      hubspot: "111"\n', "")
    directory = mapping_dir(tmp_path, lines=lines)
    report = check_directory(directory)
    assert report.ok
    [warning] = report.warnings
    assert str(warning) == (
        f"{where(directory, 'lines.yaml')}:2: warning: lines[0]: +14155550100 has no hubspot "
        f"owner and {where(directory, 'hubspot.yaml')} sets no owner.default: its records are "
        "written without an owner"
    )


def test_the_report_ends_with_a_verdict(tmp_path: Path) -> None:
    report = check_directory(mapping_dir(tmp_path))
    assert report.ok
    assert report.lines()[-1] == "mappings OK"
    assert any(
        "hubspot.yaml: communications, message, 7 sample render(s)" in line
        for line in report.lines()
    )


# -- online -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"
    length: int | None = None
    writable: bool = True
    unique: bool = False
    external_id: bool = False


class FakeDescriber:
    """Describes objects from a dict, the way an adapter's `describe` answers."""

    def __init__(self, objects: Mapping[str, list[Field]], *, down: bool = False) -> None:
        self.objects = objects
        self.down = down
        self.asked: list[str] = []

    def describe(self, object_name: str) -> dict[str, Field]:
        self.asked.append(object_name)
        if self.down:
            raise Transient("HubSpot answered 503")
        return {f.name: f for f in self.objects.get(object_name, [])}


def hubspot_fields(**changes: Field | None) -> dict[str, list[Field]]:
    communications = {
        "hs_communication_channel_type": Field("hs_communication_channel_type", "enumeration"),
        "hs_communication_logged_from": Field("hs_communication_logged_from", "enumeration"),
        "hs_communication_body": Field("hs_communication_body", "string", 65536),
        "hs_timestamp": Field("hs_timestamp", "datetime"),
        "hubspot_owner_id": Field("hubspot_owner_id", "enumeration"),
        "mms_message_key": Field("mms_message_key", unique=True),
        "mms_thread_key": Field("mms_thread_key"),
    }
    for name, field in changes.items():
        if field is None:
            communications.pop(name)
        else:
            communications[name] = field
    contacts = [Field(n) for n in ("firstname", "lastname", "phone", "mobilephone")]
    return {"communications": list(communications.values()), "contacts": contacts}


def salesforce_fields(**changes: Field) -> dict[str, list[Field]]:
    task = {
        name: Field(name, kind, length)
        for name, kind, length in [
            ("Subject", "string", 255),
            ("Description", "textarea", 32000),
            ("ActivityDate", "date", None),
            ("Status", "picklist", None),
            ("Priority", "picklist", None),
            ("TaskSubtype", "picklist", None),
            ("OwnerId", "reference", 18),
        ]
    }
    task["MMS_Message_Key__c"] = Field("MMS_Message_Key__c", unique=True, external_id=True)
    task["MMS_Thread_Key__c"] = Field("MMS_Thread_Key__c", external_id=True)
    task.update(changes)
    phones = ["Phone", "MobilePhone", "HomePhone", "OtherPhone"]
    return {
        "Task": list(task.values()),
        "Contact": [Field(n, "phone", 40) for n in phones],
        "Lead": [
            Field("Phone", "phone", 40),
            Field("MobilePhone", "phone", 40),
            Field("LastName", "string", 80),
            Field("Company", "string", 255),
        ],
    }


def online(tmp_path: Path, **describers: FakeDescriber) -> list[str]:
    mappings = load_mappings(mapping_dir(tmp_path))
    report = check_online(mappings, describers)
    return [f"{p.path}: {p.message}" for p in report.problems]


def test_a_crm_that_matches_the_mapping_passes(tmp_path: Path) -> None:
    assert (
        online(
            tmp_path,
            hubspot=FakeDescriber(hubspot_fields()),
            salesforce=FakeDescriber(salesforce_fields()),
        )
        == []
    )


def test_a_missing_target_field_is_an_error(tmp_path: Path) -> None:
    problems = online(tmp_path, hubspot=FakeDescriber(hubspot_fields(hs_timestamp=None)))
    assert problems == [
        "fields.hs_timestamp: communications.hs_timestamp does not exist in hubspot"
    ]


def test_a_read_only_target_field_is_an_error(tmp_path: Path) -> None:
    read_only = Field("hs_timestamp", "datetime", writable=False)
    problems = online(tmp_path, hubspot=FakeDescriber(hubspot_fields(hs_timestamp=read_only)))
    assert problems == ["fields.hs_timestamp: communications.hs_timestamp is read-only in hubspot"]


def test_a_value_that_does_not_fit_the_field_type_is_an_error(tmp_path: Path) -> None:
    as_number = Field("hs_timestamp", "number")
    [problem] = online(tmp_path, hubspot=FakeDescriber(hubspot_fields(hs_timestamp=as_number)))
    assert problem.startswith(
        "fields.hs_timestamp: renders '2024-05-01T14:30:00.000Z', not a number"
    )


def test_a_date_field_needs_a_date(tmp_path: Path) -> None:
    as_datetime = Field("Subject", "date")
    [problem] = online(tmp_path, salesforce=FakeDescriber(salesforce_fields(Subject=as_datetime)))
    assert problem.startswith("fields.Subject: renders 'Inbound MMS from +14155550123: Hi, is")
    assert "not a date (YYYY-MM-DD): use `| crm_date`" in problem


def test_a_value_longer_than_the_described_length_is_an_error(tmp_path: Path) -> None:
    short = Field("Subject", "string", 20)
    [problem] = online(tmp_path, salesforce=FakeDescriber(salesforce_fields(Subject=short)))
    assert problem.startswith("fields.Subject: renders ")
    assert "but Subject holds 20: end the template with `| fit(20)`" in problem


def test_missing_idempotency_fields_point_at_setup(tmp_path: Path) -> None:
    problems = online(
        tmp_path,
        hubspot=FakeDescriber(hubspot_fields(mms_message_key=None, mms_thread_key=None)),
    )
    setup = "run `mms-connector mappings setup --crm hubspot`"
    assert problems == [
        f"idempotency.key_field: communications.mms_message_key does not exist: {setup}",
        f"idempotency.thread_field: communications.mms_thread_key does not exist: {setup}",
    ]


def test_a_salesforce_key_field_must_be_a_unique_external_id(tmp_path: Path) -> None:
    plain = Field("MMS_Message_Key__c")
    problems = online(
        tmp_path, salesforce=FakeDescriber(salesforce_fields(MMS_Message_Key__c=plain))
    )
    assert problems == [
        "idempotency.key_field: MMS_Message_Key__c must be an External ID marked Unique: "
        "run `mms-connector mappings setup --crm salesforce`"
    ]


def test_a_hubspot_key_property_without_unique_values_is_a_warning(tmp_path: Path) -> None:
    mappings = load_mappings(mapping_dir(tmp_path))
    not_unique = Field("mms_message_key")
    report = check_online(
        mappings, {"hubspot": FakeDescriber(hubspot_fields(mms_message_key=not_unique))}
    )
    assert report.ok
    [warning] = report.warnings
    assert "has no unique values" in warning.message


def test_missing_phone_fields_are_errors(tmp_path: Path) -> None:
    objects = salesforce_fields()
    objects["Contact"] = [Field("Phone")]
    problems = online(tmp_path, salesforce=FakeDescriber(objects))
    assert problems == [
        "contact.match[0].phone_fields[1]: Contact.MobilePhone does not exist in salesforce",
        "contact.match[0].phone_fields[2]: Contact.HomePhone does not exist in salesforce",
        "contact.match[0].phone_fields[3]: Contact.OtherPhone does not exist in salesforce",
    ]


def test_fields_of_the_created_contact_are_checked(tmp_path: Path) -> None:
    objects = salesforce_fields()
    objects["Lead"] = [f for f in objects["Lead"] if f.name != "Company"]
    problems = online(tmp_path, salesforce=FakeDescriber(objects))
    assert problems == [
        "contact.on_no_match.fields.Company: Lead.Company does not exist in salesforce"
    ]


def test_a_crm_that_cannot_be_described_is_reported_once(tmp_path: Path) -> None:
    describer = FakeDescriber({}, down=True)
    problems = online(tmp_path, hubspot=describer)
    assert problems == [
        ": could not describe communications: HubSpot answered 503",
        ": could not describe contacts: HubSpot answered 503",
    ]
    assert describer.asked == ["communications", "contacts"]


def test_each_object_is_described_once(tmp_path: Path) -> None:
    describer = FakeDescriber(hubspot_fields())
    online(tmp_path, hubspot=describer)
    assert sorted(describer.asked) == ["communications", "contacts"]


def test_check_mappings_runs_offline_and_online_in_one_report(tmp_path: Path) -> None:
    directory = mapping_dir(tmp_path)
    report = check_mappings(
        directory, describers={"hubspot": FakeDescriber(hubspot_fields(hs_timestamp=None))}
    )
    assert not report.ok
    assert any(
        "online check skipped (salesforce is not configured)" in line for line in report.lines()
    )
    assert [p.path for p in report.errors] == ["fields.hs_timestamp"]
