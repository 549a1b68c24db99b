"""The media routes on both stores: the folder under DATA_DIR and an S3 bucket (moto's server on
loopback, through boto3). A CRM user or a provider cannot tell which one holds the bytes: the
same types, ranges, zips, 410 text; only `CONNECTOR_MEDIA_REDIRECT` differs (S3 answers 302 to
a presigned URL, the folder keeps streaming)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector import bootstrap
from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.media import retention
from connector.media.links import LinkKind, conversation_url, sign
from connector.media.s3 import S3MediaStore
from connector.media.store import FilesystemMediaStore
from connector.store.queue import utcnow
from connector.store.tables import uploads
from tests.conftest import API_TOKEN, make_settings
from tests.fakes.s3 import S3_SECRET_KEY, closed_port_url, objects
from tests.media.factories import GONE, KB, assert_gone, captured, jpeg, pdf, png, receive, stored

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def build(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, **overrides: object
) -> Connector:
    if kind == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = request.getfixturevalue("s3_bucket")
        overrides = {
            "media_store_url": f"s3://{bucket}/media",
            "secret_key": S3_SECRET_KEY,
            "s3_endpoint_url": endpoint,
            **overrides,
        }
    return bootstrap.build(make_settings(tmp_path, **overrides))


@pytest.fixture(params=["folder", "s3"])
def connector(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Connector]:  # overrides the suite's connector: one per store
    built = build(tmp_path, request.param, request)
    yield built
    built.close()


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def test_the_configured_store_is_the_one_in_use(connector: Connector) -> None:
    is_s3 = connector.settings.media.store_url is not None
    assert isinstance(connector.media_store, S3MediaStore) is is_s3


def test_a_link_serves_the_medium_whole_with_its_type_name_and_length(
    client: TestClient, connector: Connector
) -> None:
    data = jpeg(100 * KB)
    _, path = captured(connector, "IMG_0042.jpeg", data, "image/jpeg")

    response = client.get(path)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-disposition"] == 'inline; filename="IMG_0042.jpeg"'
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=100-199", 100, 200),
        ("bytes=307100-", 307100, 307200),
        ("bytes=-50", 307150, 307200),
        ("bytes=307000-999999", 307000, 307200),
    ],
)
def test_a_single_byte_range_is_answered_206_with_its_content_range(
    client: TestClient, connector: Connector, header: str, start: int, stop: int
) -> None:
    data = pdf(300 * KB)
    _, path = captured(connector, "quote.pdf", data, "application/pdf")

    response = client.get(path, headers={"Range": header})

    assert response.status_code == 206
    assert response.content == data[start:stop]
    assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(data)}"
    assert response.headers["content-length"] == str(stop - start)


def test_a_range_past_the_end_is_answered_416_with_the_size(
    client: TestClient, connector: Connector
) -> None:
    data = pdf(300 * KB)
    _, path = captured(connector, "quote.pdf", data, "application/pdf")

    response = client.get(path, headers={"Range": f"bytes={len(data)}-"})

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_head_answers_the_headers_only(client: TestClient, connector: Connector) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")

    response = client.head(path)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(png()))
    assert response.content == b""


def test_a_medium_missing_from_the_store_answers_gone(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")
    connector.media_store.delete(hashlib.sha256(png()).hexdigest())

    assert_gone(client.get(path))
    assert_gone(client.get(path, headers={"Range": "bytes=0-9"}))


def test_retention_deletes_from_the_store_and_the_link_goes_dead(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")
    digest = hashlib.sha256(png()).hexdigest()

    report = retention.expire_media(
        connector.database,
        connector.media_store,
        timedelta(days=183),
        now=utcnow() + timedelta(days=200),
    )

    assert report.blobs_deleted == 1
    assert connector.media_store.stat(digest) is None
    assert_gone(client.get(path))


def test_the_archives_stream_from_the_store(client: TestClient, connector: Connector) -> None:
    message_id, thread_id, [a, b] = receive(connector.database, [("a.png", None), ("b.pdf", None)])
    stored(connector.database, connector.media_store, a, png(), "image/png")
    stored(connector.database, connector.media_store, b, pdf(200 * KB), "application/pdf")

    response = client.get(f"/v1/messages/{message_id}/media.zip", headers=AUTH)

    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read("01-a.png") == png()
    assert archive.read("02-b.pdf") == pdf(200 * KB)
    page_zip = client.get(conversation_url("", connector.secret, thread_id) + "/media.zip")
    assert page_zip.status_code == 200
    assert page_zip.headers["content-length"] == str(len(page_zip.content))


def test_with_redirects_on_s3_answers_302_to_a_short_lived_url_the_folder_keeps_streaming(
    request: pytest.FixtureRequest, tmp_path: Path, connector: Connector
) -> None:
    kind = "s3" if connector.settings.media.store_url else "folder"
    redirecting = build(tmp_path / "redirect", kind, request, media_redirect=True)
    try:
        _, path = captured(redirecting, "photo.png", png(), "image/png")
        with TestClient(create_app(redirecting)) as client:
            response = client.get(path, follow_redirects=False)
        if kind == "folder":
            assert response.status_code == 200 and response.content == png()
            return
        assert response.status_code == 302
        assert response.headers["cache-control"] == "no-store"
        location = response.headers["location"]
        assert "X-Amz-Expires=300" in location
        bucket = httpx.get(location)
        assert bucket.status_code == 200
        assert bucket.content == png()
        assert bucket.headers["content-type"] == "image/png"
        assert bucket.headers["content-disposition"] == 'inline; filename="photo.png"'
    finally:
        redirecting.close()


def test_an_unreachable_bucket_answers_503_with_the_rule_s_text(
    tmp_path: Path, aws_env: None
) -> None:
    connector = bootstrap.build(
        make_settings(
            tmp_path,
            media_store_url="s3://media/x",
            s3_endpoint_url=closed_port_url(),
            secret_key=S3_SECRET_KEY,
        )
    )
    try:
        _, _, [attachment_id] = receive(connector.database, [("a.png", None)])
        # Captured while the bucket answered; it has gone away since.
        stored(
            connector.database,
            FilesystemMediaStore(tmp_path / "x"),
            attachment_id,
            png(),
            "image/png",
        )
        link = f"/media/{sign(connector.secret, LinkKind.ATTACHMENT, attachment_id)}"
        with TestClient(create_app(connector)) as client:
            response = client.get(link)
            ready = client.get("/readyz")
        assert response.status_code == 503
        assert response.text == GONE
        assert response.headers["retry-after"]
        assert ready.status_code == 200, "webhooks keep flowing while the bucket is down"
        assert ready.json()["status"] == "degraded"
        assert ready.json()["media_store"]["ok"] is False
        assert "unreachable" in ready.json()["media_store"]["error"]
    finally:
        connector.close()


def test_readyz_says_the_store_answers(client: TestClient) -> None:
    report = client.get("/readyz").json()

    assert report["media_store"]["ok"] is True


def test_a_medium_is_one_object_in_the_bucket(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    connector = build(tmp_path, "s3", request)
    try:
        captured(connector, "a.png", png(), "image/png")
        captured(connector, "again.png", png(), "image/png")
    finally:
        connector.close()

    digest = hashlib.sha256(png()).hexdigest()
    assert objects(s3_endpoint, s3_bucket) == {
        f"media/{digest[:2]}/{digest[2:4]}/{digest}": len(png())
    }


def test_an_upload_while_the_bucket_is_unreachable_is_503_and_keeps_nothing(
    tmp_path: Path, aws_env: None
) -> None:
    connector = bootstrap.build(
        make_settings(
            tmp_path,
            media_store_url="s3://media",
            s3_endpoint_url=closed_port_url(),
            secret_key=S3_SECRET_KEY,
        )
    )
    try:
        with TestClient(create_app(connector)) as client:
            response = client.post(
                "/v1/uploads", headers=AUTH, files={"file": ("a.png", png(), "image/png")}
            )
        assert response.status_code == 503
        assert response.json()["detail"] == "the media store is unavailable; try again shortly"
        assert response.headers["retry-after"] == "30"
        with connector.database.read() as conn:
            assert conn.execute(select(func.count()).select_from(uploads)).scalar_one() == 0
    finally:
        connector.close()
