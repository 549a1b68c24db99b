"""What operators probe: liveness, readiness with what is off or paused, and metrics."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store import queue
from tests.conftest import make_settings
from tests.providers.factories import aircall_event


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


def scraped(client: TestClient, name: str, **labels: str) -> float:
    """One sample of `/metrics` as Prometheus reads it (0 when the series does not exist yet)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_metrics_count_each_webhook_by_provider_and_outcome(client: TestClient) -> None:
    accepted = {"provider": "aircall", "outcome": "accepted"}
    rejected = {"provider": "aircall", "outcome": "rejected"}
    before = scraped(client, "connector_webhook_events_total", **accepted)
    refused_before = scraped(client, "connector_webhook_events_total", **rejected)

    assert client.post("/webhooks/aircall", json=aircall_event()).status_code == 202
    assert client.post("/webhooks/aircall", json=aircall_event(token="forged")).status_code == 401

    assert scraped(client, "connector_webhook_events_total", **accepted) == before + 1
    assert scraped(client, "connector_webhook_events_total", **rejected) == refused_before + 1


def test_readyz_is_503_when_the_schema_is_old(client: TestClient, connector: Connector) -> None:
    with connector.database.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["database"] == "schema is not current: run `mms-connector db upgrade`"


def test_readyz_is_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = make_settings(tmp_path, database_url=f"postgresql://nobody@127.0.0.1:{port}/none")
    connector = bootstrap.build(settings)
    try:
        with TestClient(create_app(connector, embedded_worker=False)) as unreachable:
            response = unreachable.get("/readyz")
    finally:
        connector.close()

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable: OperationalError"}


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/webhooks/aircall" in client.get("/openapi.json").json()["paths"]
