"""A send from a Salesforce record, end to end: upload, `POST /v1/messages`, the Aircall send
(respx), the Task on the record it was sent from, Aircall's status webhook, the Task updated.

The real pipeline runs: FastAPI app, SQLite, worker, the loopback Salesforce fake through
simple-salesforce.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from tests.conftest import make_settings
from tests.fakes.salesforce import FakeSalesforce
from tests.media.factories import png
from tests.providers.factories import aircall_event, cloudtalk_body, cloudtalk_headers
from tests.sync.test_crm_sync import REPO_MAPPINGS, salesforce, salesforce_server, tasks
from tests.sync.test_outbound_kit import (
    AIRCALL_LINE,
    AIRCALL_SEND_URL,
    CLOUDTALK_LINE,
    CLOUDTALK_SEND_URL,
    LINES_YAML,
    US_MOBILE,
    aircall_receipt,
    cloudtalk_ok,
    send_settings,
)

__all__ = ["salesforce", "salesforce_server"]  # fixtures, shared with the inbound path's tests

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}
TEXT = "Here is the quote you asked for"


def crm_mappings(tmp_path: Path) -> Path:
    """The shipped CRM mappings with the send tests' lines."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    for name in ("hubspot.yaml", "salesforce.yaml"):
        (folder / name).write_text((REPO_MAPPINGS / name).read_text())
    (folder / "lines.yaml").write_text(LINES_YAML)
    return folder


@pytest.fixture
def connector(tmp_path: Path, salesforce: FakeSalesforce) -> Iterator[Connector]:
    values = send_settings(
        tmp_path,
        mappings_dir=crm_mappings(tmp_path),
        salesforce_instance_url=salesforce.instance_url,
        salesforce_session_id=salesforce.session_id,
    )
    built = bootstrap.build(make_settings(tmp_path, **values))
    yield built
    built.close()


def status_webhook(provider_message_id: str, status: str) -> dict[str, Any]:
    return aircall_event(
        "message.status_updated",
        timestamp=1_777_629_700,
        data={
            "id": provider_message_id,
            "status": status,
            "body": TEXT,
            "external_number": US_MOBILE,
            "raw_digits": "+1 202-555-0167",
            "media_details": [],
        },
    )


def test_a_send_from_a_contact_is_logged_on_it_and_shows_delivered_after_the_status_webhook(
    connector: Connector, salesforce: FakeSalesforce, respx_mock: respx.MockRouter
) -> None:
    contact_id = salesforce.add_record("Contact", {"LastName": "Rivera", "Phone": "(202) 555-0167"})
    sent = respx_mock.post(AIRCALL_SEND_URL).respond(200, json=aircall_receipt("ac-e2e"))

    with TestClient(create_app(connector)) as client:
        files = {"file": ("quote.png", png(), "image/png")}
        [upload] = client.post("/v1/uploads", files=files, headers=AUTH).json()["files"]
        response = client.post(
            "/v1/messages",
            json={
                "from": AIRCALL_LINE,
                "to": US_MOBILE,
                "text": TEXT,
                "media": [{"upload_id": upload["upload_id"]}],
                "crm": {"system": "salesforce", "object": "Contact", "record_id": contact_id},
            },
            headers=AUTH,
        )
        assert response.status_code == 202
        message_id = response.json()["message_id"]
        connector.worker().drain()

        [link] = json.loads(sent.calls.last.request.content)["mediaUrl"]
        assert client.get(link.removeprefix("https://connector.example.test")).content == png()
        [task] = tasks(salesforce)
        assert task["WhoId"] == contact_id
        assert TEXT in task["Description"]
        assert link in task["Description"]
        assert "Status: Sent" in task["Description"]

        webhook = client.post("/webhooks/aircall", json=status_webhook("ac-e2e", "delivered"))
        assert webhook.status_code == 202
        connector.worker().drain()

        shown = client.get(f"/v1/messages/{message_id}", headers=AUTH).json()

    [task] = tasks(salesforce)
    assert "Status: Delivered" in task["Description"]
    assert task["WhoId"] == contact_id
    assert sent.call_count == 1
    assert shown["status"] == "delivered"
    assert shown["provider_message_id"] == "ac-e2e"
    assert shown["crm_records"] == {"salesforce": next(iter(salesforce.records("Task")))}


def test_cloudtalks_message_sent_event_updates_the_same_task(
    connector: Connector, salesforce: FakeSalesforce, respx_mock: respx.MockRouter
) -> None:
    contact_id = salesforce.add_record("Contact", {"LastName": "Rivera", "Phone": "(202) 555-0167"})
    respx_mock.post(CLOUDTALK_SEND_URL).respond(200, json=cloudtalk_ok())

    with TestClient(create_app(connector)) as client:
        response = client.post(
            "/v1/messages",
            json={
                "from": CLOUDTALK_LINE,
                "to": US_MOBILE,
                "text": TEXT,
                "crm": {"system": "salesforce", "object": "Contact", "record_id": contact_id},
            },
            headers=AUTH,
        )
        assert response.status_code == 202
        connector.worker().drain()
        assert len(tasks(salesforce)) == 1

        sent_event = cloudtalk_body(
            "message.sent",
            message_id="884422",
            internal_number=CLOUDTALK_LINE,
            external_number=US_MOBILE,
            text=TEXT,
            media_urls=[],
            status="delivered",
        )
        webhook = client.post("/webhooks/cloudtalk", json=sent_event, headers=cloudtalk_headers())
        assert webhook.status_code == 202
        connector.worker().drain()

    [task] = tasks(salesforce)
    assert "Status: Delivered" in task["Description"]
