"""The opt-out fields on the CRMs' contacts: `mappings setup` creates them (twice changes
nothing), a consent write sets and clears them on the matched contact and never creates one;
HubSpot and Salesforce through their real SDKs against the loopback fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.crm.base import ConsentWrite, ContactRule
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.salesforce import SalesforceAdapter
from tests.crm.factories import NUMBER, contact_rule
from tests.crm.salesforce_kit import add_contact, add_lead
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce

AT = datetime(2026, 5, 1, 17, 30, 5, tzinfo=UTC)
HS_FLAG, HS_AT = "mms_opted_out", "mms_opted_out_at"
SF_FLAG, SF_AT = "MMS_Opted_Out__c", "MMS_Opted_Out_At__c"


def write(rule: ContactRule, flag: str, at_field: str, opted_out: bool = True) -> ConsentWrite:
    return ConsentWrite(
        phone=NUMBER,
        contact_rule=rule,
        opted_out=opted_out,
        opted_out_at=AT if opted_out else None,
        opted_out_field=flag,
        opted_out_at_field=at_field,
    )


# -- HubSpot --------------------------------------------------------------------------------------

HS_RULE = contact_rule(("contacts",), {"contacts": ("phone", "mobilephone")})


@pytest.fixture
def hs(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    """The module's HubSpot, wiped, without the record properties: these tests set up only
    the consent fields."""
    hubspot_server.reset()
    return hubspot_server


def test_hubspot_setup_creates_a_checkbox_and_a_datetime_on_contacts_once(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    first = hubspot.ensure_consent_fields(["contacts"], HS_FLAG, HS_AT)
    second = hubspot.ensure_consent_fields(["contacts"], HS_FLAG, HS_AT)

    assert first == [
        "contacts.mms_opted_out: created (checkbox)",
        "contacts.mms_opted_out_at: created (date and time)",
    ]
    assert second == [
        "contacts.mms_opted_out: exists, nothing to do",
        "contacts.mms_opted_out_at: exists, nothing to do",
    ]
    flag = hs.property_definition("contacts", HS_FLAG)
    at = hs.property_definition("contacts", HS_AT)
    assert flag is not None and (flag["type"], flag["fieldType"]) == ("bool", "booleancheckbox")
    assert [o["value"] for o in flag["options"]] == ["true", "false"]
    assert at is not None and (at["type"], at["fieldType"]) == ("datetime", "date")


def test_hubspot_setup_names_a_property_of_the_wrong_type(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.define_property("contacts", HS_FLAG)  # text, made by hand

    lines = hubspot.ensure_consent_fields(["contacts"], HS_FLAG, None)

    assert lines[0].startswith("contacts.mms_opted_out: exists but is of type 'string'")


def test_hubspot_opt_out_and_back_in_are_written_on_the_matched_contact(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hubspot.ensure_consent_fields(["contacts"], HS_FLAG, HS_AT)
    contact_id = hs.add_contact({"phone": "(415) 555-0100", "firstname": "Ann"})

    out = hubspot.write_consent(write(HS_RULE, HS_FLAG, HS_AT))
    after_out = dict(hs.contacts[contact_id])
    back = hubspot.write_consent(write(HS_RULE, HS_FLAG, HS_AT, opted_out=False))
    after_in = hs.contacts[contact_id]

    assert [c.crm_id for c in out.contacts] == [contact_id]
    assert after_out[HS_FLAG] == "true"
    assert after_out[HS_AT] == "2026-05-01T17:30:05.000Z"
    assert back.skipped is None
    assert after_in[HS_FLAG] == "false"
    assert not after_in.get(HS_AT)  # cleared
    assert after_in["firstname"] == "Ann"


def test_hubspot_consent_never_creates_a_contact(hs: FakeHubSpot, hubspot: HubSpotAdapter) -> None:
    hubspot.ensure_consent_fields(["contacts"], HS_FLAG, HS_AT)

    result = hubspot.write_consent(write(HS_RULE, HS_FLAG, HS_AT))

    assert result.contacts == () and result.skipped
    assert hs.contacts == {}


# -- Salesforce -----------------------------------------------------------------------------------

SF_RULE = contact_rule(
    ("Contact", "Lead"), {"Contact": ("Phone", "MobilePhone"), "Lead": ("Phone", "MobilePhone")}
)


def test_salesforce_setup_creates_both_fields_on_contact_and_lead_once(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    first = salesforce.ensure_consent_fields(["Contact", "Lead"], SF_FLAG, SF_AT)
    second = salesforce.ensure_consent_fields(["Contact", "Lead"], SF_FLAG, SF_AT)

    for sobject in ("Contact", "Lead"):
        assert f"created {sobject}.{SF_FLAG}: Checkbox" in first
        assert f"created {sobject}.{SF_AT}: DateTime" in first
        readable = f"{sobject}.{SF_FLAG} is readable and writable by the integration user"
        assert any(line.startswith(readable) for line in first)
        assert fake.custom_metadata[f"{sobject}.{SF_FLAG}"]["defaultValue"] == "false"
        assert f"{sobject}.{SF_FLAG} already exists (Checkbox): nothing to do" in second
    assert not any(line.startswith("created") for line in second)
    described = salesforce.describe("Lead")
    assert (described[SF_FLAG].type, described[SF_AT].type) == ("boolean", "datetime")


def test_salesforce_setup_without_metadata_access_says_what_to_create(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.deny_metadata = True

    lines = salesforce.ensure_consent_fields(["Contact"], SF_FLAG, SF_AT)

    assert "INSUFFICIENT_ACCESS" in lines[0]
    assert any("Contact.MMS_Opted_Out__c: Setup → Object Manager → Contact" in x for x in lines)
    assert any("Date/Time" in line for line in lines)


def test_salesforce_opt_out_and_back_in_are_written_on_the_matched_contact(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    salesforce.ensure_consent_fields(["Contact", "Lead"], SF_FLAG, SF_AT)
    contact_id = add_contact(fake, "(415) 555-0100")

    out = salesforce.write_consent(write(SF_RULE, SF_FLAG, SF_AT))
    after_out = dict(fake.record("Contact", contact_id))
    salesforce.write_consent(write(SF_RULE, SF_FLAG, SF_AT, opted_out=False))
    after_in = fake.record("Contact", contact_id)

    assert [c.crm_id for c in out.contacts] == [contact_id]
    assert after_out[SF_FLAG] is True
    assert after_out[SF_AT] == "2026-05-01T17:30:05.000+0000"
    assert after_in[SF_FLAG] is False
    assert after_in[SF_AT] is None


def test_salesforce_writes_a_lead_when_no_contact_has_the_number(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    salesforce.ensure_consent_fields(["Contact", "Lead"], SF_FLAG, SF_AT)
    lead_id = add_lead(fake, "+1 415 555 0100")

    salesforce.write_consent(write(SF_RULE, SF_FLAG, SF_AT))

    assert fake.record("Lead", lead_id)[SF_FLAG] is True


def test_salesforce_consent_never_creates_a_lead(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    salesforce.ensure_consent_fields(["Contact", "Lead"], SF_FLAG, SF_AT)
    create_rule = contact_rule(
        ("Contact", "Lead"),
        {"Contact": ("Phone",), "Lead": ("Phone",)},
        on_no_match="create",
        create_object="Lead",
        create_fields={"Company": "x"},
    )

    result = salesforce.write_consent(write(create_rule, SF_FLAG, SF_AT))

    assert result.skipped and fake.records("Lead") == {}
