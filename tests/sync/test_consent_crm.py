"""A STOP received by webhook ends on the CRM contact through the shipped mappings: the STOP is
logged like any message, the contact (created for it when the mapping says so) gets the opt-out
fields, START clears them, and unticking the field in the CRM re-subscribes no one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.sync import outbound
from connector.sync.outbound import SendRequest
from tests.conftest import make_settings
from tests.crm.hubspot_kit import fresh as fresh_hubspot
from tests.crm.salesforce_kit import add_contact
from tests.crm.salesforce_kit import fresh as fresh_salesforce
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce
from tests.providers.factories import LINE, aircall_event
from tests.sync.test_crm_sync import mappings_dir

RECIPIENT = "+12025550167"


@pytest.fixture(scope="module")
def hubspot_server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture(scope="module")
def salesforce_server() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


def reply(connector: Connector, text: str, message_id: str) -> None:
    body = aircall_event(
        data={"id": message_id, "body": text, "external_number": RECIPIENT, "media_details": []}
    )
    with TestClient(create_app(connector)) as client:
        assert client.post("/webhooks/aircall", json=body).status_code == 202
    connector.worker().drain()


def sendable(connector: Connector) -> bool:
    request = SendRequest.model_validate({"from": LINE, "to": RECIPIENT, "text": "Hi"})
    return outbound.check(connector, request).sendable


@pytest.fixture
def hubspot(hubspot_server: FakeHubSpot, tmp_path: Path) -> Iterator[tuple[FakeHubSpot, Any]]:
    hs = fresh_hubspot(hubspot_server)
    settings = make_settings(
        tmp_path,
        mappings_dir=mappings_dir(tmp_path),
        hubspot_access_token=hs.token,
        hubspot_base_url=hs.url,
    )
    connector = bootstrap.build(settings)
    mapping = connector.registry.current().get("hubspot")
    assert mapping is not None and mapping.spec.consent is not None
    connector.adapter("hubspot").ensure_consent_fields(
        ["contacts"], mapping.spec.consent.opted_out_field, mapping.spec.consent.opted_out_at_field
    )
    yield hs, connector
    connector.close()


def test_hubspot_a_stop_from_an_unknown_number_creates_its_contact_and_opts_it_out(
    hubspot: tuple[FakeHubSpot, Connector],
) -> None:
    hs, connector = hubspot

    reply(connector, "STOP", "ac-stop-hs")

    [(contact_id, contact)] = hs.contacts.items()
    assert contact["mms_opted_out"] == "true"
    assert contact["mms_opted_out_at"] == "2026-05-01T09:59:58.000Z"
    [communication] = hs.communications.values()
    assert "STOP" in (communication["hs_communication_body"] or "")

    hs.contacts[contact_id]["mms_opted_out"] = "false"  # an admin unticks it in HubSpot
    connector.worker().drain()
    assert not sendable(connector)

    reply(connector, "START", "ac-start-hs")
    assert hs.contacts[contact_id]["mms_opted_out"] == "false"
    assert not hs.contacts[contact_id].get("mms_opted_out_at")
    assert sendable(connector)


@pytest.fixture
def salesforce(
    salesforce_server: FakeSalesforce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeSalesforce, Connector]]:
    sf = fresh_salesforce(salesforce_server, monkeypatch)
    settings = make_settings(
        tmp_path,
        mappings_dir=mappings_dir(tmp_path),
        salesforce_instance_url=sf.instance_url,
        salesforce_session_id=sf.session_id,
    )
    connector = bootstrap.build(settings)
    lines = connector.adapter("salesforce").ensure_consent_fields(
        ["Contact", "Lead"], "MMS_Opted_Out__c", "MMS_Opted_Out_At__c"
    )
    assert "created Contact.MMS_Opted_Out__c: Checkbox" in lines
    yield sf, connector
    connector.close()


def test_salesforce_a_stop_opts_the_matched_contact_out_and_start_back_in(
    salesforce: tuple[FakeSalesforce, Connector],
) -> None:
    sf, connector = salesforce
    contact_id = add_contact(sf, "(202) 555-0167")

    reply(connector, "Stop.", "ac-stop-sf")

    contact = sf.record("Contact", contact_id)
    assert contact is not None
    assert contact["MMS_Opted_Out__c"] is True
    assert contact["MMS_Opted_Out_At__c"] == "2026-05-01T09:59:58.000+0000"
    [task] = sf.records("Task").values()
    assert task["WhoId"] == contact_id and "Stop." in task["Description"]
    assert not sendable(connector)

    reply(connector, "unstop", "ac-start-sf")
    contact = sf.record("Contact", contact_id)
    assert contact is not None
    assert contact["MMS_Opted_Out__c"] is False and contact["MMS_Opted_Out_At__c"] is None
    assert sendable(connector)


def test_salesforce_a_stop_from_an_unknown_number_marks_the_lead_created_for_it(
    salesforce: tuple[FakeSalesforce, Connector],
) -> None:
    sf, connector = salesforce

    reply(connector, "STOP", "ac-stop-lead")

    [lead] = sf.records("Lead").values()
    assert lead["MMS_Opted_Out__c"] is True
