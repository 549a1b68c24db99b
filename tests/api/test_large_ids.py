"""Ids past the 64-bit range, in paths, queries and bodies, are answered 404 or 422, never 500,
on both databases (they name no row; the drivers cannot even bind them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.store import migrate
from tests.conftest import API_TOKEN, hermetic, make_settings, postgres_schema

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TOO_BIG = 2**63
LARGEST = 2**63 - 1


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app per database for the whole module: no request here names a row, so none
    writes, and each test meets the same empty database a new app would have."""
    with ExitStack() as stack:
        hermetic(stack.enter_context(pytest.MonkeyPatch.context()))
        overrides = {}
        if request.param == "postgres":
            overrides["database_url"] = stack.enter_context(postgres_schema())
        built = bootstrap.build(make_settings(tmp_path_factory.mktemp("large-ids"), **overrides))
        stack.callback(built.close)
        migrate.upgrade(built.database)
        yield stack.enter_context(TestClient(create_app(built), raise_server_exceptions=False))


@pytest.mark.parametrize("number", [TOO_BIG, LARGEST, -1, 10**30])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/messages/{n}"),
        ("POST", "/v1/messages/{n}/retry"),
        ("GET", "/v1/threads/{n}"),
        ("GET", "/v1/messages/{n}/media.zip"),
        ("GET", "/v1/threads/{n}/media.zip"),
        ("POST", "/v1/jobs/{n}/retry"),
        ("GET", "/v1/jobs?offset={n}"),
        ("GET", "/v1/jobs?limit={n}"),
        ("GET", "/v1/messages?limit={n}"),
    ],
)
def test_ids_in_paths_and_queries(client: TestClient, method: str, path: str, number: int) -> None:
    response = client.request(method, path.format(n=number), headers=AUTH)

    assert response.status_code in (200, 404, 422), response.text


@pytest.mark.parametrize("number", [TOO_BIG, 10**30])
@pytest.mark.parametrize("route", ["/v1/messages", "/v1/messages/validate"])
def test_upload_ids_in_bodies(client: TestClient, route: str, number: int) -> None:
    body = {"from": "+14155550100", "to": "+14155552671", "media": [{"upload_id": number}]}

    response = client.post(route, json=body, headers=AUTH)

    assert response.status_code == 422
    assert "upload_id" in str(response.json()["detail"][0]["loc"])


def test_the_largest_upload_id_is_a_refusal_not_an_error(client: TestClient) -> None:
    body = {"from": "+14155550100", "to": "+14155552671", "media": [{"upload_id": LARGEST}]}

    response = client.post("/v1/messages/validate", json=body, headers=AUTH)

    assert response.status_code in (200, 422), response.text
