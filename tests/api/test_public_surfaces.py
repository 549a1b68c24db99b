"""What anyone can reach without a token: the API docs load nothing from elsewhere (or are off),
the OpenAPI document lists only the integration API, and `/readyz` calls a provider that can
send but never hear back `misconfigured`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from tests.conftest import make_settings


def client_for(tmp_path: Path, **overrides: object) -> Iterator[TestClient]:
    built = bootstrap.build(make_settings(tmp_path, **overrides))
    with TestClient(create_app(built)) as test_client:
        yield test_client
    built.close()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from client_for(tmp_path)


def test_the_docs_page_loads_its_assets_from_this_origin(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources, "the page names no assets"
    for source in sources:
        assert source.startswith("/"), f"{source} is not served by the connector"
        assert client.get(source).status_code == 200, source
    assert "cdn" not in page.text.lower()
    assert client.get("/redoc").status_code == 404  # ReDoc would load Google fonts


def test_docs_and_schema_can_be_turned_off(tmp_path: Path) -> None:
    for off in client_for(tmp_path, api_docs=False):
        assert off.get("/docs").status_code == 404
        assert off.get("/openapi.json").status_code == 404


def test_the_schema_lists_only_the_integration_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])

    assert not [p for p in paths if p.startswith(("/compose", "/admin", "/conversations"))]
    assert "/v1/compose-links" in paths
    responses = schema["paths"]["/v1/messages/{message_id}/retry"]["post"]["responses"]
    assert {"401", "403", "404", "409"} <= set(responses)
    webhook = schema["paths"]["/webhooks/cloudtalk"]["post"]
    assert {"401", "413", "422"} <= set(webhook["responses"])
    assert "example" in webhook["requestBody"]["content"]["application/json"]


def test_the_two_422_shapes_of_the_send_are_both_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    answer = schema["paths"]["/v1/messages"]["post"]["responses"]["422"]
    refs = str(answer["content"]["application/json"]["schema"])

    assert "RefusalsOut" in refs and "ValidationErrorsOut" in refs


def test_a_bad_compose_link_recipient_is_a_validation_error(client: TestClient) -> None:
    from tests.conftest import API_TOKEN

    response = client.post(
        "/v1/compose-links",
        json={"crm": {"system": "hubspot", "object": "contact", "record_id": "1"}, "to": "abc"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )

    assert response.status_code == 422
    (issue,) = response.json()["detail"]
    assert issue["loc"] == ["body", "to"] and "not a phone number" in issue["msg"]


def test_readyz_calls_sending_without_webhooks_misconfigured(tmp_path: Path) -> None:
    for ready in client_for(
        tmp_path,
        aircall_webhook_token=None,
        aircall_api_id="aircall-api-id",
        aircall_api_token="aircall-api-token",
    ):
        report = ready.get("/readyz").json()

    assert report["providers"]["aircall"].startswith("misconfigured:")
    assert "CONNECTOR_AIRCALL_WEBHOOK_TOKEN" in report["providers"]["aircall"]
    assert report["status"] == "degraded"
    assert report["providers"]["cloudtalk"] == "ok"


def test_readyz_accepts_a_receive_only_provider(client: TestClient) -> None:
    report = client.get("/readyz").json()

    assert report["providers"] == {"aircall": "ok", "cloudtalk": "ok"}
