"""What operators see of each request: a request id, one access line, metrics by route."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store import queue
from tests.api.test_health import scraped
from tests.providers.factories import OTHER_PARTY, aircall_event


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def test_every_answer_carries_a_new_request_id(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]

    assert uuid.UUID(first) != uuid.UUID(second)


def test_a_callers_request_id_is_kept_and_anything_else_replaced(client: TestClient) -> None:
    mine = str(uuid.uuid4())

    assert client.get("/healthz", headers={"X-Request-ID": mine}).headers["X-Request-ID"] == mine
    forged = client.get("/healthz", headers={"X-Request-ID": "x\nlevel=error"})
    assert uuid.UUID(forged.headers["X-Request-ID"])


def test_one_access_line_per_request_names_the_route_never_its_tokens_or_query(
    client: TestClient,
) -> None:
    with capture_logs() as logs:
        webhook = client.post("/webhooks/aircall?token=query-secret", json=aircall_event())
        media = client.get("/media/signed-token-of-a-link")
        consent = client.get(f"/v1/consent/{OTHER_PARTY}")
        client.get("/healthz")

    access = [line for line in logs if line["event"] == "http.request"]
    assert [(a["method"], a["path"], a["status"], a["log_level"]) for a in access] == [
        ("POST", "/webhooks/aircall", 202, "info"),
        ("GET", "/media/{token}", media.status_code, "info"),
        ("GET", "/v1/consent/{number}", consent.status_code, "info"),
        ("GET", "/healthz", 200, "debug"),  # probes do not drown the rest
    ]
    assert access[0]["request_id"] == webhook.headers["X-Request-ID"]
    assert all(line["duration_ms"] >= 0 for line in access)
    logged = repr(logs)
    for private in ("query-secret", "signed-token-of-a-link", OTHER_PARTY):
        assert private not in logged


def test_http_metrics_count_by_route_template_method_and_status(client: TestClient) -> None:
    series = {"handler": "/media/{token}", "method": "GET", "status": "410"}
    before = scraped(client, "connector_http_requests_total", **series)

    assert client.get("/media/one-token").status_code == 410
    assert client.get("/media/another-token").status_code == 410

    assert scraped(client, "connector_http_requests_total", **series) == before + 2
    assert scraped(client, "connector_http_requests_total", handler="/media/one-token") == 0


def test_metrics_show_the_queue_by_state_and_kind_and_its_oldest_waiting_job(
    client: TestClient, connector: Connector
) -> None:
    with connector.database.begin() as conn:
        queue.enqueue(conn, "capture_media", target="media", subject=1)
        queue.enqueue(conn, "capture_media", target="media", subject=2)
        queue.enqueue(conn, "sync_crm", target="hubspot", subject=1)
        job = queue.claim(conn, "w", timedelta(seconds=30), kinds=["sync_crm"])
        assert job is not None
        queue.kill(conn, job, "w", "refused")

    assert scraped(client, "connector_queue_up") == 1
    assert scraped(client, "connector_queue_jobs", state="queued", kind="capture_media") == 2
    assert scraped(client, "connector_queue_jobs", state="dead", kind="sync_crm") == 1
    assert scraped(client, "connector_queue_oldest_job_age_seconds") > 0


def test_a_queue_that_cannot_be_read_does_not_fail_the_scrape(
    client: TestClient, connector: Connector
) -> None:
    with connector.database.begin() as conn:
        conn.exec_driver_sql("DROP TABLE jobs")

    assert scraped(client, "connector_queue_up") == 0
    assert scraped(client, "connector_webhook_events_total", provider="x", outcome="y") == 0
