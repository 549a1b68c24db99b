"""Admins watch the sync and replay what died, through the bearer-protected `/v1/jobs`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store import queue
from connector.store.queue import JobState

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def dead_job(connector: Connector, reason: str = "HubSpot refused the record") -> int:
    with connector.database.begin() as conn:
        job_id = queue.enqueue(conn, "sync_crm", target="hubspot", subject=7)
        job = queue.claim(conn, "test-worker", queue.timedelta(seconds=30))
        assert job is not None
        queue.kill(conn, job, "test-worker", reason)
    return job_id


def test_jobs_need_a_bearer_token(client: TestClient) -> None:
    assert client.get("/v1/jobs").status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_dead_jobs_are_listed_with_their_reason(client: TestClient, connector: Connector) -> None:
    job_id = dead_job(connector)
    with connector.database.begin() as conn:
        queue.enqueue(conn, "sync_crm", target="hubspot", subject=8)

    response = client.get("/v1/jobs", params={"state": "dead"}, headers=AUTH)

    assert response.status_code == 200
    [job] = response.json()
    assert job["id"] == job_id
    assert job["state"] == "dead"
    assert job["last_error"] == "HubSpot refused the record"


def test_a_dead_job_is_replayed_from_scratch(client: TestClient, connector: Connector) -> None:
    job_id = dead_job(connector)

    response = client.post(f"/v1/jobs/{job_id}/retry", headers=AUTH)

    assert response.status_code == 200
    assert response.json()["state"] == JobState.QUEUED
    assert response.json()["attempts"] == 0


def test_only_dead_jobs_can_be_replayed(client: TestClient, connector: Connector) -> None:
    with connector.database.begin() as conn:
        job_id = queue.enqueue(conn, "sync_crm", target="hubspot", subject=9)

    assert client.post(f"/v1/jobs/{job_id}/retry", headers=AUTH).status_code == 409
    assert client.post("/v1/jobs/999999/retry", headers=AUTH).status_code == 404


def test_api_refuses_everything_when_no_token_is_configured(tmp_path: object) -> None:
    from connector import bootstrap
    from tests.conftest import make_settings

    built = bootstrap.build(make_settings(tmp_path, api_tokens=[]))  # type: ignore[arg-type]
    with TestClient(create_app(built)) as test_client:
        response = test_client.get("/v1/jobs", headers=AUTH)
    built.close()

    assert response.status_code == 403
    assert "CONNECTOR_API_TOKENS" in response.json()["detail"]
