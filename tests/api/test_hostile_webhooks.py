"""Hostile webhook bodies, sent over real sockets: each gets a clear 4xx early, never a 500.

Oversized bodies are refused while they stream (413) and CloudTalk's header secret is checked
before any of the body is read; a lone UTF-16 surrogate or JSON nested a thousand deep is a 4xx
even without a valid token; on PostgreSQL a NUL byte or an over-long id is refused naming the
field (NUL in message text is stripped instead) and nothing of the message reaches the log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.store.tables import messages
from tests.api.live import MB, Service, filler, raw_post, serving, wait_until
from tests.conftest import API_TOKEN, make_database, make_settings, postgres_schema
from tests.providers.factories import (
    AIRCALL_TOKEN,
    CLOUDTALK_SECRET,
    OTHER_PARTY,
    aircall_event,
    cloudtalk_body,
    cloudtalk_headers,
)

WRONG_SECRET = {"X-Connector-Secret": "not-the-secret"}


@pytest.fixture
def live(connector: Connector) -> Iterator[str]:
    with serving(create_app(connector)) as url:
        yield url


def encoded(body: Any) -> bytes:
    return json.dumps(body).encode()


# -- size -----------------------------------------------------------------------------------


def test_cloudtalk_secret_is_checked_before_the_body_is_read(live: str) -> None:
    answer = raw_post(live, "/webhooks/cloudtalk", headers=WRONG_SECRET, content_length=64 * MB)

    assert answer.status == 401
    assert "X-Connector-Secret" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/webhooks/aircall", "/webhooks/cloudtalk"])
def test_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    live: str, path: str
) -> None:
    headers = cloudtalk_headers() if path.endswith("cloudtalk") else {}

    answer = raw_post(live, path, headers=headers, content_length=MB + 1)

    assert answer.status == 413
    assert "CONNECTOR_MAX_WEBHOOK_BYTES" in answer.json()["detail"]


@pytest.mark.parametrize("path", ["/webhooks/aircall", "/webhooks/cloudtalk"])
def test_streamed_body_is_cut_off_at_the_limit(live: str, path: str) -> None:
    headers = cloudtalk_headers() if path.endswith("cloudtalk") else {}

    answer = raw_post(live, path, headers=headers, chunks=filler(64 * MB, chunk=64 * 1024))

    assert answer.status == 413
    assert answer.sent < 32 * MB  # the server answered long before the body ended


def test_the_limit_is_configurable_and_a_body_within_it_is_kept(tmp_path: Path) -> None:
    body = encoded(aircall_event()).ljust(2048)  # JSON allows trailing whitespace
    built = bootstrap.build(make_settings(tmp_path, max_webhook_bytes=2048))
    try:
        with serving(create_app(built)) as url:
            kept = raw_post(url, "/webhooks/aircall", body=body)
            too_big = raw_post(url, "/webhooks/aircall", body=body + b" ")
    finally:
        built.close()

    assert kept.status == 202
    assert too_big.status == 413


def test_parallel_huge_bodies_do_not_grow_the_process(tmp_path: Path) -> None:
    service = Service(
        tmp_path,
        {
            "CONNECTOR_DATA_DIR": str(tmp_path / "var"),
            "CONNECTOR_API_TOKENS": f"ops:admin:{API_TOKEN}",
            "CONNECTOR_AIRCALL_WEBHOOK_TOKEN": AIRCALL_TOKEN,
            "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET": CLOUDTALK_SECRET,
        },
    ).start()
    try:
        before = service.peak_rss()
        sends = [("/webhooks/aircall", {}), ("/webhooks/cloudtalk", cloudtalk_headers())] * 2
        with ThreadPoolExecutor(len(sends)) as pool:
            answers = list(
                pool.map(
                    lambda send: raw_post(
                        service.url, send[0], headers=send[1], chunks=filler(64 * MB)
                    ),
                    sends,
                )
            )
        grown = service.peak_rss() - before
    finally:
        service.stop()

    assert grown < 48 * MB, f"peak RSS grew by {grown / MB:.0f} MB"
    assert [a.status for a in answers] == [413] * len(sends)


# -- text and structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"token": "\\ud800"}',
        b'{"\\udfff": 1}',
        b'{"event": "message.received", "token": "x", "data": {"body": "a\\ud800b"}}',
    ],
)
@pytest.mark.parametrize("path", ["/webhooks/aircall", "/webhooks/cloudtalk"])
def test_a_lone_surrogate_anywhere_is_refused_before_the_body_token_is_read(
    live: str, path: str, raw: bytes
) -> None:
    # CloudTalk's secret is a header, checked first; Aircall's token is in the body.
    headers = cloudtalk_headers() if path.endswith("cloudtalk") else {}

    answer = raw_post(live, path, headers=headers, body=raw)

    assert answer.status in (400, 422)
    assert "surrogate" in answer.json()["detail"]


def test_a_lone_surrogate_in_an_authentic_body_names_the_field(live: str) -> None:
    body = encoded(aircall_event(data={"body": "caf\udce9"}))

    answer = raw_post(live, "/webhooks/aircall", body=body)

    assert answer.status == 422
    assert answer.json()["detail"].startswith("data.body:")


@pytest.mark.parametrize("path", ["/webhooks/aircall", "/webhooks/cloudtalk"])
@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_json_nested_a_thousand_deep_is_a_400(live: str, path: str, opening: bytes) -> None:
    closing = b"]" if opening == b"[" else b"}"
    headers = cloudtalk_headers() if path.endswith("cloudtalk") else {}

    answer = raw_post(live, path, headers=headers, body=opening * 1000 + b"1" + closing * 1000)

    assert answer.status == 400
    assert "nested" in answer.json()["detail"]


# -- PostgreSQL: NUL bytes, long values, and what the log keeps -------------------------------


@pytest.fixture(scope="module")
def postgres_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service on one PostgreSQL schema for the module's tests: each sends its own event."""
    with postgres_schema() as url:
        yield from _service(tmp_path_factory.mktemp("postgres-service"), url)


def _service(folder: Path, postgres_url: str) -> Iterator[Service]:
    make_database(postgres_url).dispose()
    service = Service(
        folder,
        {
            "CONNECTOR_DATA_DIR": str(folder / "var"),
            "CONNECTOR_DATABASE_URL": postgres_url,
            "CONNECTOR_API_TOKENS": f"ops:admin:{API_TOKEN}",
            "CONNECTOR_AIRCALL_WEBHOOK_TOKEN": AIRCALL_TOKEN,
            "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET": CLOUDTALK_SECRET,
        },
    ).start()
    yield service
    service.stop()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"id": "msg\x00id"}, "data.id"),
        ({"id": "m" * 300}, "data.id"),
        ({"status": "s" * 300}, "data.status"),
        (
            {"media_details": [{"file_name": "n" * 300, "presigned_url": "https://m.example/a"}]},
            "data.media_details[0].file_name",
        ),
        (
            {
                "media_details": [
                    {"file_type": "image/\x00", "presigned_url": "https://m.example/a"}
                ]
            },
            "data.media_details[0].file_type",
        ),
    ],
)
def test_nul_bytes_and_long_values_are_refused_naming_the_field(
    postgres_service: Service, data: dict[str, Any], field: str
) -> None:
    response = httpx.post(
        f"{postgres_service.url}/webhooks/aircall",
        json=aircall_event("message.sent", data={"body": "secret words", **data}),
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}:")
    request_id = response.headers["X-Request-ID"]
    wait_until(lambda: request_id in postgres_service.logs(), "the request was never logged")
    logs = postgres_service.logs()
    assert "secret words" not in logs
    assert OTHER_PARTY not in logs


@pytest.mark.postgres
def test_an_over_long_event_name_is_refused(postgres_service: Service) -> None:
    response = httpx.post(
        f"{postgres_service.url}/webhooks/aircall", json=aircall_event(event="e" * 300)
    )

    assert response.status_code == 422
    assert response.json()["detail"].startswith("event:")


@pytest.mark.postgres
def test_nul_bytes_in_message_text_are_stripped_and_the_message_kept(
    postgres_service: Service,
) -> None:
    response = httpx.post(
        f"{postgres_service.url}/webhooks/cloudtalk",
        json=cloudtalk_body(text="see\x00 attached"),
        headers=cloudtalk_headers(),
    )

    assert response.status_code == 202, response.text
    database = make_database(postgres_service.env["CONNECTOR_DATABASE_URL"])
    try:
        with database.read() as conn:
            assert conn.execute(select(messages.c.text)).scalar_one() == "see attached"
    finally:
        database.dispose()
