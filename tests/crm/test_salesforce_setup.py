"""`mappings setup --crm salesforce` (the adapter's `ensure_fields`) and `describe`: the External
ID fields are created through the Metadata API and made visible, a second run changes nothing,
and a user without the permission gets exactly what an admin must create."""

from __future__ import annotations

import pytest

from connector.core.errors import Permanent
from connector.crm.salesforce import SalesforceAdapter
from connector.crm.salesforce.client import METADATA_TIMEOUT_SECONDS
from tests.crm.salesforce_kit import KEY, THREAD, fresh, rule, task
from tests.fakes.salesforce import FakeSalesforce

METADATA = r"/services/Soap/m/"


@pytest.fixture
def fake(salesforce_server: FakeSalesforce, monkeypatch: pytest.MonkeyPatch) -> FakeSalesforce:
    return fresh(salesforce_server, monkeypatch, prepared=False)


def test_setup_creates_the_key_and_thread_fields_on_activity(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    lines = salesforce.ensure_fields("Task", KEY, THREAD)

    assert f"created Activity.{KEY}: Text(255), External ID, Unique (case-sensitive)" in lines
    assert f"created Activity.{THREAD}: Text(255), External ID" in lines
    key = fake.custom_metadata[f"Activity.{KEY}"]
    assert (key["type"], key["length"], key["externalId"], key["unique"]) == (
        "Text",
        "255",
        "true",
        "true",
    )
    assert key["caseSensitive"] == "true"
    assert fake.custom_metadata[f"Activity.{THREAD}"]["unique"] == "false"
    described = salesforce.describe("Task")
    assert described[KEY].external_id and described[KEY].unique
    (written,) = salesforce.write([task(contact_rule=rule(on_no_match="unassociated"))])
    assert written.crm_id


def test_running_setup_twice_changes_nothing(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    salesforce.ensure_fields("Task", KEY, THREAD)
    metadata_calls = fake.count("POST", METADATA)

    lines = salesforce.ensure_fields("Task", KEY, THREAD)

    assert lines == [
        f"Activity.{KEY} already exists (Text(255), External ID, Unique (case-sensitive)): "
        "nothing to do",
        f"Activity.{THREAD} already exists (Text(255), External ID): nothing to do",
    ]
    assert fake.count("POST", METADATA) == metadata_calls


def test_new_fields_are_made_visible_to_the_integration_user_by_a_permission_set(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.require_fls_grant = True  # as in Salesforce: a new field is visible to no one
    lines = salesforce.ensure_fields("Task", KEY, None)
    assert any("readable and writable" in line and "MMS Connector" in line for line in lines)
    assert KEY in salesforce.describe("Task")


def test_without_metadata_permission_setup_says_exactly_what_an_admin_must_create(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.deny_metadata = True
    lines = salesforce.ensure_fields("Task", KEY, THREAD)
    text = "\n".join(lines)
    assert "INSUFFICIENT_ACCESS" in lines[0]
    key_line = next(line for line in lines if f"Activity.{KEY}:" in line)
    for words in (
        "Setup → Object Manager → Activity → Fields & Relationships → New → Text",
        "Length 255",
        'Field Name "MMS_Message_Key"',
        '"Unique"',
        "case sensitive",
        '"External ID"',
        "Visible",
    ):
        assert words in key_line
    assert 'tick "External ID" (not Unique)' in text
    assert fake.custom_metadata == {}


def test_an_existing_key_field_that_is_not_unique_is_reported_not_changed(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.add_field("Activity", KEY)
    (line,) = salesforce.ensure_fields("Task", KEY, None)
    assert "is not an External ID marked Unique" in line
    assert fake.count("POST", METADATA) == 0


def test_a_field_name_that_salesforce_cannot_hold_is_refused(salesforce: SalesforceAdapter) -> None:
    with pytest.raises(Permanent, match="__c"):
        salesforce.ensure_fields("Task", "MMS Key", None)


def test_metadata_calls_share_the_adapters_session_and_have_a_timeout(
    salesforce: SalesforceAdapter,
) -> None:
    salesforce.ensure_fields("Task", KEY, None)
    mdapi = salesforce.client.call("inspect", salesforce.client.metadata)
    transport = mdapi._client.transport
    assert transport.session is salesforce.client.session
    assert transport.operation_timeout == METADATA_TIMEOUT_SECONDS


def test_describe_reports_what_the_mapping_check_needs(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.add_field("Activity", KEY, external_id=True, unique=True)
    fields = salesforce.describe("Task")
    assert (fields["Subject"].type, fields["Subject"].length, fields["Subject"].writable) == (
        "combobox",
        255,
        True,
    )
    assert fields["Id"].writable is False
    assert fields["Description"].length == 32_000
    assert (fields[KEY].external_id, fields[KEY].unique) == (True, True)
