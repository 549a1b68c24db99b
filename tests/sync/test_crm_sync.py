"""The whole inbound path into a CRM: webhook, media capture, mapping, batched sync, CRM record.

These run the real pipeline (FastAPI app, SQLite, worker) against the loopback Salesforce fake
through simple-salesforce; provider media downloads are served by respx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store.tables import crm_records
from tests.conftest import make_settings
from tests.crm.salesforce_kit import prepare
from tests.fakes.salesforce import FakeSalesforce
from tests.media.factories import png
from tests.providers.factories import LINE, OTHER_PARTY, aircall_event, aircall_media

REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
MEDIA = "https://media.example.com/aircall/"


def mappings_dir(tmp_path: Path, *, granularity: str = "message") -> Path:
    """The shipped CRM mappings, with the test's line and the chosen granularity."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    for name in ("hubspot.yaml", "salesforce.yaml"):
        text = (REPO_MAPPINGS / name).read_text()
        (folder / name).write_text(
            text.replace("granularity: message", f"granularity: {granularity}")
        )
    (folder / "lines.yaml").write_text(
        f'lines:\n  - number: "{LINE}"\n    provider: aircall\n    label: Test line\n'
        "    mms_capable: true\n    provider_line_id: '1284757'\n"
    )
    return folder


@pytest.fixture(scope="module")
def salesforce_server() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


@pytest.fixture
def salesforce(
    salesforce_server: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> FakeSalesforce:
    salesforce_server.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce_server.ca_bundle_path)
    prepare(salesforce_server)
    return salesforce_server


def build(tmp_path: Path, salesforce: FakeSalesforce, **overrides: Any) -> Connector:
    granularity = overrides.pop("granularity", "message")
    settings = make_settings(
        tmp_path,
        mappings_dir=mappings_dir(tmp_path, granularity=granularity),
        salesforce_instance_url=salesforce.instance_url,
        salesforce_session_id=salesforce.session_id,
        **overrides,
    )
    return bootstrap.build(settings)


@pytest.fixture
def post(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def _post(connector: Connector, body: dict[str, Any]) -> int:
        client = TestClient(create_app(connector))
        clients.append(client)
        return client.post("/webhooks/aircall", json=body).status_code

    yield _post
    for client in clients:
        client.close()


def tasks(fake: FakeSalesforce) -> list[dict[str, Any]]:
    return list(fake.records("Task").values())


def test_received_mms_becomes_a_task_on_the_contact_with_the_connectors_link(
    tmp_path: Path, salesforce: FakeSalesforce, respx_mock: respx.MockRouter, post: Any
) -> None:
    contact_id = salesforce.add_record("Contact", {"LastName": "Rivera", "Phone": "(555) 123-4567"})
    respx_mock.get(f"{MEDIA}photo.png").respond(200, content=png())
    connector = build(tmp_path, salesforce)
    body = aircall_event(
        data={
            "body": "Photo of the damage",
            "media_details": [aircall_media("photo.png", "image/png", f"{MEDIA}photo.png")],
        }
    )

    assert post(connector, body) == 202
    connector.worker().drain()

    [task] = tasks(salesforce)
    assert task["WhoId"] == contact_id
    assert task["Status"] == "Completed"
    assert "Photo of the damage" in task["Description"]
    assert "https://connector.example.test/media/a1." in task["Description"]
    assert task["MMS_Message_Key__c"].startswith("aircall:")
    with connector.database.read() as conn:
        kept = conn.execute(select(crm_records.c.crm_id)).scalar_one()
    assert kept == next(iter(salesforce.records("Task")))
    connector.close()


def test_unsupported_medium_is_left_out_with_the_alert(
    tmp_path: Path, salesforce: FakeSalesforce, respx_mock: respx.MockRouter, post: Any
) -> None:
    respx_mock.get(f"{MEDIA}virus.png").respond(200, content=b"\x7fELF" + b"\x00" * 4000)
    connector = build(tmp_path, salesforce)
    body = aircall_event(
        data={"media_details": [aircall_media("virus.png", "image/png", f"{MEDIA}virus.png")]}
    )

    post(connector, body)
    connector.worker().drain()

    [task] = tasks(salesforce)
    assert "Some media cannot be received due to unsupported format." in task["Description"]
    assert "/media/" not in task["Description"]
    connector.close()


def test_unknown_number_creates_a_lead_once_for_several_messages(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    connector = build(tmp_path, salesforce)
    for index in range(3):
        post(connector, aircall_event(data={"id": f"m{index}", "media_details": []}))

    connector.worker().drain()

    assert len(salesforce.records("Lead")) == 1
    assert len(tasks(salesforce)) == 3
    connector.close()


def test_status_update_rewrites_the_same_task(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    connector = build(tmp_path, salesforce)
    post(connector, aircall_event("message.sent", data={"status": "sent", "media_details": []}))
    connector.worker().drain()
    post(
        connector,
        aircall_event(
            "message.status_updated", timestamp=1_777_629_700, data={"media_details": []}
        ),
    )
    connector.worker().drain()

    [task] = tasks(salesforce)
    assert "Status: Delivered" in task["Description"]
    connector.close()


def test_conversation_day_keeps_one_task_per_thread_per_day(
    tmp_path: Path, salesforce: FakeSalesforce, post: Any
) -> None:
    connector = build(tmp_path, salesforce, granularity="conversation_day")
    post(connector, aircall_event(data={"id": "first", "body": "Hello", "media_details": []}))
    connector.worker().drain()
    post(connector, aircall_event(data={"id": "second", "body": "Again", "media_details": []}))
    connector.worker().drain()

    [task] = tasks(salesforce)
    assert "Hello" in task["Description"] and "Again" in task["Description"]
    assert task["MMS_Message_Key__c"].endswith(":2026-05-01")
    assert OTHER_PARTY in task["MMS_Thread_Key__c"]
    connector.close()


# --- HubSpot ---------------------------------------------------------------------------------


@pytest.fixture
def hubspot() -> Iterator[Any]:
    from tests.fakes.hubspot import FakeHubSpot

    with FakeHubSpot(token="pat-e2e") as fake:
        fake.define_property("communications", "mms_message_key", has_unique_value=True)
        fake.define_property("communications", "mms_thread_key")
        yield fake


def build_hubspot(tmp_path: Path, hubspot: Any, **overrides: Any) -> Connector:
    granularity = overrides.pop("granularity", "message")
    settings = make_settings(
        tmp_path,
        mappings_dir=mappings_dir(tmp_path, granularity=granularity),
        hubspot_access_token="pat-e2e",
        hubspot_base_url=hubspot.url,
        **overrides,
    )
    return bootstrap.build(settings)


def test_received_mms_becomes_a_communication_on_the_contacts_timeline(
    tmp_path: Path, hubspot: Any, respx_mock: respx.MockRouter, post: Any
) -> None:
    contact_id = hubspot.add_contact({"firstname": "Ana", "phone": "+1 (555) 123-4567"})
    respx_mock.get(f"{MEDIA}photo.png").respond(200, content=png())
    connector = build_hubspot(tmp_path, hubspot)
    body = aircall_event(
        data={
            "body": "Photo <b>of</b> the damage",
            "media_details": [aircall_media("photo.png", "image/png", f"{MEDIA}photo.png")],
        }
    )

    post(connector, body)
    connector.worker().drain()

    [(record_id, record)] = hubspot.communications.items()
    assert record["hs_communication_channel_type"] == "SMS"
    assert record["hs_communication_logged_from"] == "CRM"
    assert "Photo &lt;b&gt;of&lt;/b&gt; the damage" in record["hs_communication_body"]
    assert "https://connector.example.test/media/a1." in record["hs_communication_body"]
    assert hubspot.associated_ids("communications", record_id, "contacts") == [contact_id]
    connector.close()


def test_many_messages_reach_hubspot_in_one_batch(tmp_path: Path, hubspot: Any, post: Any) -> None:
    connector = build_hubspot(tmp_path, hubspot)
    for index in range(30):
        other = f"+1415555{index:04d}"
        hubspot.add_contact({"phone": f"(415) 555-{index:04d}"})
        post(
            connector,
            aircall_event(data={"id": f"m{index}", "external_number": other, "media_details": []}),
        )
    hubspot.reset_calls()

    connector.worker().drain()

    assert len(hubspot.communications) == 30
    assert len(hubspot.contacts) == 30
    assert hubspot.count("POST", "/crm/v3/objects/communications/batch/create") == 1
    assert hubspot.count("POST", "/crm/v3/objects/contacts/search") <= 2
    assert hubspot.count("POST", "/crm/v3/objects/communications") == 1
    connector.close()
