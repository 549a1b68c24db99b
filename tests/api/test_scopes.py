"""Each API token does only what its scopes allow: a CRM card's `compose` token gets composer
links and the record read model, nothing else; 403 names the missing scope; `admin` implies
every scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.core.access import Scope
from tests.conftest import hermetic, make_settings

SECRETS = {
    "compose": "compose-4b9e2f7a1c8d3e6f0a5b9c2d7e1f4a8b",
    "send": "send-7c1e4a9f2b6d8e3a0f5c1b9d4e7a2f6c",
    "read": "read-2d8f5b1e9a4c7f3e0b6d2a8c5f1e9b4d",
    "admin": "admin-9e3a6c1f8b4d2e7a0c5f9b3d6e1a4f8c",
}

# One request per route that needs a scope: (method, path, json body, scope).
ROUTES = [
    (
        "POST",
        "/v1/compose-links",
        {
            "crm": {"system": "hubspot", "object": "contact", "record_id": "901"},
            "to": "+14155552671",
        },
        "compose",
    ),
    ("GET", "/v1/records/hubspot/contact/901/conversation", None, "compose"),
    ("POST", "/v1/messages", {"from": "+14155550100", "to": "+14155552671"}, "send"),
    ("POST", "/v1/messages/validate", {"from": "+14155550100", "to": "+14155552671"}, "send"),
    ("POST", "/v1/messages/1/retry", None, "send"),
    ("POST", "/v1/uploads", None, "send"),
    ("GET", "/v1/messages", None, "read"),
    ("GET", "/v1/messages/1", None, "read"),
    ("GET", "/v1/threads/1", None, "read"),
    ("GET", "/v1/lines", None, "read"),
    ("GET", "/v1/messages/1/media.zip", None, "read"),
    ("GET", "/v1/threads/1/media.zip", None, "read"),
    ("GET", "/v1/jobs", None, "admin"),
    ("POST", "/v1/jobs/1/retry", None, "admin"),
    ("POST", "/v1/jobs/retry-dead", None, "admin"),
    ("GET", "/v1/status", None, "admin"),
    ("GET", "/v1/doctor", None, "admin"),
    ("POST", "/v1/crms/hubspot/resume", None, "admin"),
    ("GET", "/v1/consent", None, "read"),
    ("GET", "/v1/consent/+14155552671", None, "read"),
    (
        "POST",
        "/v1/consent",
        {"number": "+14155552671", "opted_out": True, "reason": "asked by phone"},
        "admin",
    ),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module: a token is admitted or refused before any handler runs, so
    what an admitted request wrote never changes another test's answer."""
    tokens = [f"{name}-token:{name}:{secret}" for name, secret in SECRETS.items()]
    with pytest.MonkeyPatch.context() as monkeypatch:
        hermetic(monkeypatch)
        built = bootstrap.build(make_settings(tmp_path_factory.mktemp("scopes"), api_tokens=tokens))
        with TestClient(create_app(built)) as test_client:
            yield test_client
        built.close()


def call(client: TestClient, route: tuple, token: str | None) -> int:
    method, path, body, _scope = route
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers).status_code


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_admits_its_scope_and_admin_and_refuses_the_others(
    client: TestClient, route: tuple
) -> None:
    needed = route[3]
    for name, secret in SECRETS.items():
        code = call(client, route, secret)
        if name in (needed, "admin"):
            assert code not in (401, 403), f"{name} was refused"
        else:
            assert code == 403, f"{name} got {code}"


def test_403_names_the_token_and_the_missing_scope(client: TestClient) -> None:
    response = client.get(
        "/v1/messages/1", headers={"Authorization": f"Bearer {SECRETS['compose']}"}
    )

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "the token 'compose-token' lacks the 'read' scope this route needs"
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_token_or_a_wrong_one_is_401(client: TestClient, route: tuple) -> None:
    assert call(client, route, None) == 401
    assert call(client, route, SECRETS["admin"] + "x") == 401


def test_every_v1_route_names_a_scope(client: TestClient) -> None:
    """A new route without a scope would be open to any token, or to none: list it above."""
    schema = client.get("/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    listed = {(method, _template(path)) for method, path, _body, _scope in ROUTES}
    assert documented == {(m, p) for m, p in listed}
    assert {scope for *_, scope in ROUTES} == {s.value for s in Scope}


def _template(path: str) -> str:
    return (
        path.replace("/records/hubspot/contact/901/", "/records/{crm}/{object}/{record_id}/")
        .replace("/messages/1", "/messages/{message_id}")
        .replace("/threads/1", "/threads/{thread_id}")
        .replace("/jobs/1", "/jobs/{job_id}")
        .replace("/crms/hubspot", "/crms/{crm}")
        .replace("/consent/+14155552671", "/consent/{number}")
    )
