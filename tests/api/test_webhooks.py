"""The webhook endpoints as a provider sees them: authentic events kept once, bad ones refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store.tables import attachments, events, jobs, messages, threads
from tests.providers.factories import (
    MISSING,
    aircall_event,
    aircall_media,
    cloudtalk_body,
    cloudtalk_headers,
)


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def count(connector: Connector, table: Any) -> int:
    with connector.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def stored_nothing(connector: Connector) -> bool:
    return all(count(connector, t) == 0 for t in (events, threads, messages, attachments, jobs))


def test_received_mms_is_kept_with_its_thread_attachments_and_capture_job(
    client: TestClient, connector: Connector
) -> None:
    body = aircall_event(data={"media_details": [aircall_media(), aircall_media("b.png")]})

    response = client.post("/webhooks/aircall", json=body)

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    assert count(connector, events) == 1
    assert count(connector, threads) == 1
    assert count(connector, messages) == 1
    assert count(connector, attachments) == 2
    with connector.database.read() as conn:
        kinds = [row.kind for row in conn.execute(select(jobs.c.kind))]
    assert kinds == ["capture_media", "capture_media"]


def test_redelivered_event_is_acknowledged_without_a_second_row(
    client: TestClient, connector: Connector
) -> None:
    body = aircall_event()

    first = client.post("/webhooks/aircall", json=body)
    second = client.post("/webhooks/aircall", json=body)

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert count(connector, events) == 1
    assert count(connector, messages) == 1


def test_stored_payload_never_keeps_the_webhook_token(
    client: TestClient, connector: Connector
) -> None:
    client.post("/webhooks/aircall", json=aircall_event())

    with connector.database.read() as conn:
        payload = conn.execute(select(events.c.payload)).scalar_one()
    assert "token" not in payload


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(aircall_event(token="forged"), id="forged token"),
        pytest.param(aircall_event(token=MISSING), id="missing token"),
    ],
)
def test_unauthentic_aircall_event_is_refused_and_nothing_stored(
    client: TestClient, connector: Connector, body: dict[str, Any]
) -> None:
    response = client.post("/webhooks/aircall", json=body)

    assert response.status_code == 401
    assert stored_nothing(connector)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(aircall_event(data={"id": MISSING}), "data.id", id="missing message id"),
        pytest.param(aircall_event(timestamp="yesterday"), "timestamp", id="bad timestamp"),
        pytest.param(aircall_event(data=[1, 2]), "data", id="data not an object"),
    ],
)
def test_malformed_aircall_event_is_refused_with_the_field_named(
    client: TestClient, connector: Connector, body: dict[str, Any], field: str
) -> None:
    response = client.post("/webhooks/aircall", json=body)

    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert stored_nothing(connector)


def test_body_that_is_not_json_is_a_400(client: TestClient, connector: Connector) -> None:
    response = client.post(
        "/webhooks/aircall", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert stored_nothing(connector)


def test_other_channels_are_acknowledged_and_ignored(
    client: TestClient, connector: Connector
) -> None:
    response = client.post("/webhooks/aircall", json=aircall_event(data={"channel": "whatsapp"}))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert stored_nothing(connector)


def test_late_sent_after_delivered_leaves_the_message_delivered(
    client: TestClient, connector: Connector
) -> None:
    client.post("/webhooks/aircall", json=aircall_event("message.sent", data={"status": "sent"}))
    client.post(
        "/webhooks/aircall",
        json=aircall_event("message.status_updated", timestamp=1_777_629_700),
    )
    client.post(
        "/webhooks/aircall",
        json=aircall_event(
            "message.status_updated", timestamp=1_777_629_800, data={"status": "sent"}
        ),
    )

    with connector.database.read() as conn:
        assert conn.execute(select(messages.c.status)).scalar_one() == "delivered"


def test_cloudtalk_workflow_event_is_kept(client: TestClient, connector: Connector) -> None:
    response = client.post(
        "/webhooks/cloudtalk", json=cloudtalk_body(), headers=cloudtalk_headers()
    )

    assert response.status_code == 202
    assert count(connector, messages) == 1


def test_cloudtalk_event_without_the_secret_header_is_refused(
    client: TestClient, connector: Connector
) -> None:
    response = client.post(
        "/webhooks/cloudtalk", json=cloudtalk_body(), headers=cloudtalk_headers(secret="nope")
    )

    assert response.status_code == 401
    assert stored_nothing(connector)


def test_unconfigured_provider_refuses_its_webhooks(tmp_path: Any) -> None:
    from connector import bootstrap
    from tests.conftest import make_settings

    unconfigured = bootstrap.build(make_settings(tmp_path, aircall_webhook_token=None))
    with TestClient(create_app(unconfigured)) as test_client:
        response = test_client.post("/webhooks/aircall", json=aircall_event())
    unconfigured.close()

    assert response.status_code == 401
    assert "not configured" in response.json()["detail"]


def test_a_crm_is_synced_per_message_when_configured(tmp_path: Any) -> None:
    from connector import bootstrap
    from tests.conftest import make_settings

    built = bootstrap.build(make_settings(tmp_path, hubspot_access_token="pat-test"))
    with TestClient(create_app(built)) as test_client:
        test_client.post("/webhooks/aircall", json=aircall_event(data={"media_details": []}))
    with built.database.read() as conn:
        rows = conn.execute(select(jobs.c.kind, jobs.c.target)).all()
    built.close()

    assert [(r.kind, r.target) for r in rows] == [("sync_crm", "hubspot")]
