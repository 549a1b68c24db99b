"""Caps on what one sender can make the connector do: media per message, bytes per zip.

From outside: a webhook listing 10,000 media, and 1,000 copies of one image fetched as a zip
through the conversation link, which needs no bearer token.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.core.events import over_media_limit
from connector.media.archive import MANIFEST_NAME, over_zip_limit
from connector.media.links import LinkKind, sign
from connector.store.conversations import AttachmentState
from connector.store.tables import attachments, jobs
from tests.conftest import API_TOKEN, make_settings
from tests.media.factories import KB, png, receive, stored
from tests.providers.factories import aircall_event, cloudtalk_body, cloudtalk_headers

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def running(tmp_path: Path, **settings: Any) -> Iterator[tuple[Connector, TestClient]]:
    connector = bootstrap.build(make_settings(tmp_path, **settings))
    try:
        with TestClient(create_app(connector)) as client:
            yield connector, client
    finally:
        connector.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Connector, TestClient]]:
    yield from running(tmp_path)


def attachment_states(connector: Connector) -> list[tuple[str, str | None]]:
    with connector.database.read() as conn:
        rows = conn.execute(
            select(attachments.c.state, attachments.c.error).order_by(attachments.c.position)
        )
        return [(row.state, row.error) for row in rows]


def capture_jobs(connector: Connector) -> int:
    with connector.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(jobs)).scalar_one())


# -- media per message -------------------------------------------------------------------------


def test_a_webhook_with_10000_media_makes_50_capture_jobs_and_lists_the_rest_unavailable(
    service: tuple[Connector, TestClient],
) -> None:
    connector, client = service
    urls = [f"https://m.example.com/{index}.png" for index in range(10_000)]

    response = client.post(
        "/webhooks/aircall", json=aircall_event(data={"media_details": None, "media_url": urls})
    )

    assert response.status_code == 202
    assert capture_jobs(connector) == 50
    states = attachment_states(connector)
    assert len(states) == 10_000  # every medium is listed...
    assert states[:50] == [(AttachmentState.PENDING.value, None)] * 50
    assert states[50:] == [(AttachmentState.UNAVAILABLE.value, over_media_limit(50))] * 9_950
    assert "CONNECTOR_MAX_MEDIA_PER_MESSAGE" in over_media_limit(50)  # ...saying why


def test_the_media_cap_is_the_operator_s_to_choose(tmp_path: Path) -> None:
    for connector, client in running(tmp_path, max_media_per_message=3):
        body = cloudtalk_body(
            media_urls=",".join(f"https://m.example.com/{i}.png" for i in range(5))
        )

        response = client.post("/webhooks/cloudtalk", json=body, headers=cloudtalk_headers())

        assert response.status_code == 202
        assert capture_jobs(connector) == 3
        assert [state for state, _ in attachment_states(connector)] == ["pending"] * 3 + [
            "unavailable"
        ] * 2


# -- bytes per zip -----------------------------------------------------------------------------


def copies_of_one_image(connector: Connector, copies: int) -> tuple[int, int]:
    """A received message with `copies` attachments, all the same captured image."""
    message_id, thread_id, ids = receive(
        connector.database, [(f"copy-{i}.png", None) for i in range(copies)]
    )
    for attachment_id in ids:
        stored(connector.database, connector.media_store, attachment_id, png(100 * KB), "image/png")
    return message_id, thread_id


def read_zip(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


def test_the_unauthenticated_conversation_zip_stops_at_the_cap_and_lists_what_it_left_out(
    tmp_path: Path,
) -> None:
    cap = 1024 * KB  # ten of the 100 KB copies
    for connector, client in running(tmp_path, max_zip_bytes=cap):
        _, thread_id = copies_of_one_image(connector, 1_000)
        token = sign(connector.secret, LinkKind.THREAD, thread_id)

        response = client.get(f"/conversations/{token}/media.zip")

        assert response.status_code == 200
        # Not 100 MB: the media stop at the cap, and the (stored) manifest names the rest.
        assert len(response.content) < cap + 64 * KB + 990 * 200
        assert int(response.headers["content-length"]) == len(response.content)
        archive = read_zip(response.content)
        media = [name for name in archive.namelist() if name != MANIFEST_NAME]
        assert len(media) == 10
        manifest = archive.read(MANIFEST_NAME).decode().splitlines()
        assert len(manifest) == 990
        assert all(line.endswith(over_zip_limit(cap)) for line in manifest)
        assert "1 MB" in over_zip_limit(cap)


def test_the_api_zips_obey_the_same_cap(tmp_path: Path) -> None:
    cap = 512 * KB
    for connector, client in running(tmp_path, max_zip_bytes=cap):
        message_id, thread_id = copies_of_one_image(connector, 20)

        for path in (f"/v1/messages/{message_id}/media.zip", f"/v1/threads/{thread_id}/media.zip"):
            response = client.get(path, headers=AUTH)

            assert response.status_code == 200
            archive = read_zip(response.content)
            assert len(archive.namelist()) == 5 + 1  # five copies and the manifest
            assert len(archive.read(MANIFEST_NAME).decode().splitlines()) == 15
