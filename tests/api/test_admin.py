"""The admin page and its bearer-protected routes: `GET /v1/status`, `POST /v1/jobs/retry-dead`,
`POST /v1/crms/{crm}/resume`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store import queue
from connector.store.queue import JobState
from tests.api.test_jobs import dead_job

TOKEN = "test-api-token-9f86d081884c7d659a2feaa0c55ad015"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/status"), ("POST", "/v1/jobs/retry-dead"), ("POST", "/v1/crms/hubspot/resume")],
)
def test_admin_routes_need_a_bearer_token(client: TestClient, method: str, path: str) -> None:
    assert client.request(method, path).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert client.request(method, path, headers=wrong).status_code == 401


def test_the_page_carries_no_token_and_cannot_be_framed(client: TestClient) -> None:
    response = client.get("/admin")

    assert response.status_code == 200
    html = response.text
    assert TOKEN not in html
    assert '<input type="password" id="token"' in html
    assert "<script>" not in html and "style=" not in html
    assert "/static/admin.js?v=" in html and "/static/admin.css?v=" in html
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "hubspot" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/static/admin.js").status_code == 200
    assert client.get("/static/admin.css").status_code == 200


def test_status_is_the_readiness_report(client: TestClient, connector: Connector) -> None:
    dead_job(connector)
    with connector.database.begin() as conn:
        queue.enqueue(conn, "sync_crm", target="hubspot", subject=8)
        queue.pause_target(conn, "aircall", until=None, reason="Aircall refused the credentials")

    response = client.get("/v1/status", headers=AUTH)

    assert response.status_code == 200
    report = response.json()
    assert report["ready"] is True
    assert report["status"] == "degraded"
    assert report["database"] == "ok"
    assert report["jobs"] == {"dead": 1, "queued": 1}
    assert report["crms"]["hubspot"] == "off (no credentials configured)"
    assert report["providers"]["aircall"] == "paused: Aircall refused the credentials"
    assert report["providers"]["cloudtalk"] == "ok"
    assert report["mappings"]["ok"] is True and report["mappings"]["error"] is None


def test_retry_dead_replays_every_dead_job_and_only_those(
    client: TestClient, connector: Connector
) -> None:
    first = dead_job(connector)
    second = dead_job(connector, "Salesforce refused the record")
    with connector.database.begin() as conn:
        waiting = queue.enqueue(conn, "sync_crm", target="hubspot", subject=9)

    response = client.post("/v1/jobs/retry-dead", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {"replayed": 2}
    with connector.database.read() as conn:
        for job_id in (first, second, waiting):
            job = queue.get(conn, job_id)
            assert job is not None and job.state is JobState.QUEUED and job.attempts == 0
    assert client.get("/v1/jobs?state=dead", headers=AUTH).json() == []
    assert client.post("/v1/jobs/retry-dead", headers=AUTH).json() == {"replayed": 0}


def test_resume_lifts_a_crms_pause_at_once(client: TestClient, connector: Connector) -> None:
    with connector.database.begin() as conn:
        queue.pause_target(conn, "hubspot", until=None, reason="HubSpot refused the access token")
        queue.pause_target(conn, "aircall", until=None, reason="Aircall refused the credentials")

    response = client.post("/v1/crms/hubspot/resume", headers=AUTH)

    assert response.status_code == 200
    assert response.json() == {"crm": "hubspot", "resumed": True}
    with connector.database.read() as conn:
        assert queue.paused_targets(conn) == {"aircall": "Aircall refused the credentials"}
    again = client.post("/v1/crms/hubspot/resume", headers=AUTH)
    assert again.json() == {"crm": "hubspot", "resumed": False}


def test_resume_of_an_unknown_crm_is_404(client: TestClient) -> None:
    response = client.post("/v1/crms/aircall/resume", headers=AUTH)

    assert response.status_code == 404
    assert "hubspot" in response.json()["detail"]
