"""`mappings setup --crm hubspot` and `mappings check --online`: the key and thread properties
are created once (the key with unique values where HubSpot allows it), and described as HubSpot
describes them."""

from __future__ import annotations

import pytest

from connector.core.errors import CredentialsError
from connector.crm.hubspot import HubSpotAdapter
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.factories import NUMBER
from tests.crm.hubspot_kit import KEY_FIELD, THREAD_FIELD, record_by_key, sms
from tests.fakes.hubspot import FakeHubSpot

PROPERTIES = "/crm/v3/properties/communications"


@pytest.fixture
def hs(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    """A portal where setup never ran."""
    hubspot_server.reset()
    hubspot_server.unique_properties_on = None
    hubspot_server.add_contact({"phone": NUMBER})
    return hubspot_server


def test_setup_creates_a_unique_key_and_a_thread_property(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    lines = hubspot.ensure_fields("communications", KEY_FIELD, THREAD_FIELD)

    key = hs.property_definition("communications", KEY_FIELD)
    thread = hs.property_definition("communications", THREAD_FIELD)
    assert key is not None and thread is not None
    assert (key["type"], key["fieldType"], key["hasUniqueValue"]) == ("string", "text", True)
    assert (thread["type"], thread["hasUniqueValue"]) == ("string", False)
    assert key["groupName"] == "communication"  # the group HubSpot's own properties use
    assert lines[0].startswith(f"communications.{KEY_FIELD}: created as text with unique values")
    assert lines[1] == f"communications.{THREAD_FIELD}: created as text"


def test_setup_run_twice_changes_nothing(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    hubspot.ensure_fields("communications", KEY_FIELD, THREAD_FIELD)
    hs.reset_calls()

    lines = hubspot.ensure_fields("communications", KEY_FIELD, THREAD_FIELD)

    assert hs.count("POST", PROPERTIES) == 0
    assert lines == [
        f"communications.{KEY_FIELD}: exists with unique values, nothing to do",
        f"communications.{THREAD_FIELD}: exists, nothing to do",
    ]


def test_where_hubspot_refuses_unique_values_the_key_is_created_plain_and_it_says_so(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.unique_properties_on = {"contacts"}  # not on communications

    lines = hubspot.ensure_fields("communications", KEY_FIELD, None)
    [result] = hubspot.write([record := sms(thread_field=None)])

    key = hs.property_definition("communications", KEY_FIELD)
    assert key is not None and key["hasUniqueValue"] is False
    assert "WITHOUT unique values" in lines[0]
    assert "Unique value properties are not supported on communications" in lines[0]
    assert "looks records up by this key before creating them" in lines[0]
    assert len(lines) == 1
    assert result.error is None  # written through the look-up path
    assert len(record_by_key(hs, record.key)) == 1


def test_an_existing_plain_key_is_reported_not_recreated(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.define_property("communications", KEY_FIELD)

    [line] = hubspot.ensure_fields("communications", KEY_FIELD, None)

    assert "exists WITHOUT unique values" in line
    assert hs.count("POST", PROPERTIES) == 0


def test_records_written_before_setup_fail_and_after_it_succeed(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    [before] = hubspot.write([record := sms()])
    hubspot.ensure_fields("communications", KEY_FIELD, THREAD_FIELD)
    [after] = hubspot.write([record])

    assert before.error is not None
    assert after.error is None


def test_describe_says_what_hubspot_says_of_each_property(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hubspot.ensure_fields("communications", KEY_FIELD, THREAD_FIELD)

    fields = hubspot.describe("communications")

    assert fields["hs_timestamp"].type == "datetime"
    assert fields["hs_timestamp"].writable is True
    assert fields["hs_object_id"].writable is False
    assert fields[KEY_FIELD].unique is True
    assert fields[THREAD_FIELD].unique is False
    assert "hs_communication_body" in fields


def test_describe_with_refused_credentials_raises_credentials_error(
    hs: FakeHubSpot, sqlite_database: Database
) -> None:
    adapter = HubSpotAdapter("revoked", hs.url, SqlContactCache(sqlite_database))

    with pytest.raises(CredentialsError):
        adapter.describe("communications")
