"""The OpenAPI document tells the truth: schemathesis drives every documented operation of the
real ASGI app with generated requests (bounded, derandomized) under an admin token and under a
CRM card's `compose` token, and no answer is a server error or strays from the document (status
code, content type, body schema). No request leaves the machine: name resolution is refused for
anything but loopback while the module runs, so generated media URLs fail before any dial."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from connector import bootstrap
from connector.api.app import create_app
from tests.conftest import API_TOKEN, make_settings

COMPOSE_TOKEN = "crm-card-5d2b8e1f7a4c9e3b0d6f2a8c4e1b7d9f"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
BOUNDED = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# schemathesis collects the operations when the module is imported, so the app exists then;
# `_lifetime` removes it when the module's tests are done.
_FOLDER = Path(tempfile.mkdtemp(prefix="openapi-"))
_CONNECTOR = bootstrap.build(
    make_settings(
        _FOLDER,
        api_tokens=[f"ops:admin:{API_TOKEN}", f"crm-card:compose:{COMPOSE_TOKEN}"],
        allow_private_media_urls=False,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_CONNECTOR))
_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise socket.gaierror(socket.EAI_NONAME, "tests resolve no outside names")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def _lifetime() -> Iterator[None]:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only)
    yield
    monkeypatch.undo()
    _CONNECTOR.close()
    shutil.rmtree(_FOLDER, ignore_errors=True)


# One plain parametrized test per operation (not `schema.parametrize()`, whose tests share one
# node id each, which pytest-xdist cannot tell apart: it would run one operation and drop the
# rest).
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def _answers_as_documented(operation: Any, token: str) -> None:
    """Valid requests and invalid ones (wrong types, missing fields, bodies that do not parse):
    every answer is one the document lists."""
    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases)
    @BOUNDED
    def check(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    check()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_answers_as_documented_to_an_admin(operation: Any) -> None:
    _answers_as_documented(operation, API_TOKEN)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_every_operation_answers_as_documented_to_a_crm_card(operation: Any) -> None:
    _answers_as_documented(operation, COMPOSE_TOKEN)
