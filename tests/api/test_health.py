"""What operators probe: liveness, readiness with what is off or paused, and metrics."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store import queue


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def test_healthz_answers_ok(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_which_crms_are_off(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["crms"]["hubspot"].startswith("off")
    assert body["providers"]["aircall"] == "ok"


def test_readyz_reports_a_paused_crm_but_stays_ready(
    client: TestClient, connector: Connector
) -> None:
    with connector.database.begin() as conn:
        queue.pause_target(conn, "hubspot", until=None, reason="HubSpot refused the access token")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


def test_metrics_are_exposed_for_prometheus(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert "connector_webhook_events_total" in response.text


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/webhooks/aircall" in client.get("/openapi.json").json()["paths"]
