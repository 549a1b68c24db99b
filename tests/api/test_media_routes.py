"""The media routes as CRM users, providers and API clients meet them.

`GET /media/{token}` is the link in CRM records: the right type and name, ranges and ETags, and
the rule's exact text with 410 for anything it cannot serve. The zips and uploads need the
bearer token.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.core import catalogue
from connector.media import retention
from connector.media.links import LinkKind, sign
from connector.media.store import Blob, BlobMissing, MediaStore
from connector.media.uploads import MalformedUpload, UploadLimits, UploadRefused, read_files
from connector.store.conversations import AttachmentState
from connector.store.queue import utcnow
from connector.store.tables import uploads
from tests.aio import run_async
from tests.media.factories import (
    GONE,
    KB,
    MB,
    assert_gone,
    captured,
    file_bytes,
    jpeg,
    pdf,
    png,
    receive,
    settle,
    stored,
)

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


# -- GET /media/{token} ------------------------------------------------------------------------


def test_a_link_serves_the_medium_with_its_type_and_a_safe_name(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, '../IMG "0042".jpeg', jpeg(100 * KB), "image/jpeg")

    response = client.get(path)

    assert response.status_code == 200
    assert response.content == jpeg(100 * KB)
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["content-disposition"] == "inline; filename*=utf-8''IMG%20_0042_.jpeg"
    assert response.headers["etag"] == f'"{hashlib.sha256(jpeg(100 * KB)).hexdigest()}"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-length"] == str(100 * KB)


def test_a_link_needs_no_bearer_token(client: TestClient, connector: Connector) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")

    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 200


def test_a_link_serves_byte_ranges(client: TestClient, connector: Connector) -> None:
    data = pdf(300 * KB)
    _, path = captured(connector, "quote.pdf", data, "application/pdf")

    response = client.get(path, headers={"Range": "bytes=100-199"})

    assert response.status_code == 206
    assert response.content == data[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(data)}"


def test_a_client_holding_the_current_copy_gets_not_modified(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")
    etag = client.get(path).headers["etag"]

    response = client.get(path, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.content == b""


def test_head_answers_the_headers_only(client: TestClient, connector: Connector) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")

    response = client.head(path)

    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(png()))
    assert response.content == b""


def test_a_non_ascii_name_is_encoded_for_the_header(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, "photo été.png", png(), "image/png")

    response = client.get(path)

    assert (
        response.headers["content-disposition"]
        == "inline; filename*=utf-8''photo%20%C3%A9t%C3%A9.png"
    )


def test_a_tampered_link_answers_gone_with_the_rule_s_text(
    client: TestClient, connector: Connector
) -> None:
    attachment_id, path = captured(connector, "a.png", png(), "image/png")
    _, other = captured(connector, "b.png", png(2000), "image/png")
    signature = path.rsplit(".", 1)[1]

    assert_gone(client.get(f"/media/a{attachment_id + 1}.{signature}"))
    assert_gone(client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")))
    assert_gone(client.get("/media/not-a-token"))
    assert client.get(other).status_code == 200


def test_a_medium_never_captured_answers_gone(client: TestClient, connector: Connector) -> None:
    _, _, [pending, refused, missing] = receive(
        connector.database, [("a.png", None), ("b.exe", None), ("c.png", None)]
    )
    settle(connector.database, refused, AttachmentState.UNSUPPORTED)
    settle(connector.database, missing, AttachmentState.UNAVAILABLE)

    for attachment_id in (pending, refused, missing, 999_999):
        assert_gone(
            client.get(f"/media/{sign(connector.secret, LinkKind.ATTACHMENT, attachment_id)}")
        )


def test_an_expired_medium_answers_gone(client: TestClient, connector: Connector) -> None:
    attachment_id, path = captured(connector, "a.png", png(), "image/png")
    settle(connector.database, attachment_id, AttachmentState.EXPIRED)

    assert_gone(client.get(path))


def test_a_medium_deleted_from_the_store_answers_gone(
    client: TestClient, connector: Connector
) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")
    connector.media_store.delete(hashlib.sha256(png()).hexdigest())

    assert_gone(client.get(path))


def test_a_medium_past_the_retention_answers_gone(client: TestClient, connector: Connector) -> None:
    _, path = captured(connector, "a.png", png(), "image/png")

    retention.expire_media(
        connector.database,
        connector.media_store,
        timedelta(days=183),
        now=utcnow() + timedelta(days=200),
    )

    assert_gone(client.get(path))


class MemoryStore:
    """A remote-style store (no local path), as an S3 implementation would be."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, chunks: Iterable[bytes]) -> Blob:
        data = b"".join(chunks)
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return Blob(digest, len(data))

    def open(self, content_hash: str, start: int = 0, stop: int | None = None) -> BinaryIO:
        if content_hash not in self.blobs:
            raise BlobMissing(content_hash)
        return io.BytesIO(self.blobs[content_hash][start:stop])

    def stat(self, content_hash: str) -> Blob | None:
        data = self.blobs.get(content_hash)
        return None if data is None else Blob(content_hash, len(data))

    def presigned_url(
        self, content_hash: str, *, expires_in: int, content_type: str, content_disposition: str
    ) -> str | None:
        return None

    def check(self) -> None:
        return None

    def delete(self, content_hash: str, *, if_older_than: datetime | None = None) -> bool:
        return self.blobs.pop(content_hash, None) is not None

    def exists(self, content_hash: str) -> bool:
        return content_hash in self.blobs

    def local_path(self, content_hash: str) -> Path | None:
        return None


def test_a_store_without_local_files_is_streamed(connector: Connector) -> None:
    memory = MemoryStore()
    assert isinstance(memory, MediaStore)
    connector.media_store = memory
    _, path = captured(connector, "photo.gif", file_bytes("gif", 5000), "image/gif")

    with TestClient(create_app(connector)) as client:
        response = client.get(path)
        assert response.status_code == 200
        assert response.content == file_bytes("gif", 5000)
        assert response.headers["content-type"] == "image/gif"
        assert response.headers["content-disposition"] == 'inline; filename="photo.gif"'
        memory.blobs.clear()
        assert_gone(client.get(path))


# -- the archives --------------------------------------------------------------------------------


def test_the_archives_need_a_bearer_token(client: TestClient) -> None:
    assert client.get("/v1/messages/1/media.zip").status_code == 401
    assert client.get("/v1/threads/1/media.zip").status_code == 401


def test_a_message_archive_is_downloaded_in_one_go(
    client: TestClient, connector: Connector
) -> None:
    message_id, thread_id, [a, b] = receive(connector.database, [("a.png", None), ("b.png", None)])
    stored(connector.database, connector.media_store, a, png(), "image/png")
    settle(connector.database, b, AttachmentState.UNAVAILABLE)

    response = client.get(f"/v1/messages/{message_id}/media.zip", headers=AUTH)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert (
        response.headers["content-disposition"]
        == f'attachment; filename="message-{message_id}-media.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.read("01-a.png") == png()
    assert archive.read("MANIFEST.txt").decode() == f"02-b.png: {GONE}\n"

    thread = client.get(f"/v1/threads/{thread_id}/media.zip", headers=AUTH)
    assert thread.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(thread.content)).namelist()) == 2


def test_an_unknown_message_or_thread_has_no_archive(client: TestClient) -> None:
    assert client.get("/v1/messages/424242/media.zip", headers=AUTH).status_code == 404
    assert client.get("/v1/threads/424242/media.zip", headers=AUTH).status_code == 404


# -- POST /v1/uploads ------------------------------------------------------------------------------


def test_uploads_need_a_bearer_token(client: TestClient) -> None:
    response = client.post("/v1/uploads", files={"file": ("a.png", png(), "image/png")})

    assert response.status_code == 401


def test_an_upload_is_kept_with_its_sniffed_type_size_and_verdicts(
    client: TestClient, connector: Connector
) -> None:
    response = client.post(
        "/v1/uploads", files={"file": ("scan.jpg", png(50 * KB), "image/jpeg")}, headers=AUTH
    )

    assert response.status_code == 201
    [upload] = response.json()["files"]
    assert upload["name"] == "scan.jpg"
    assert upload["sniffed_type"] == "image/png"
    assert upload["size"] == 50 * KB
    assert upload["kept"] is True
    assert upload["verdicts"] == {
        "aircall": {"ok": True, "errors": []},
        "cloudtalk": {"ok": True, "errors": []},
    }
    assert upload["url"].startswith("https://connector.example.test/media/u")
    served = client.get(upload["url"].removeprefix("https://connector.example.test"))
    assert served.status_code == 200
    assert served.content == png(50 * KB)


def test_each_uploaded_file_gets_its_own_verdict(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads",
        files=[
            ("file", ("quote.pdf", pdf(100 * KB), "application/pdf")),
            ("file", ("holiday.png", file_bytes("elf", 4 * KB), "image/png")),
            ("file", ("big.pdf", pdf(700 * KB), "application/pdf")),
        ],
        headers=AUTH,
    )

    assert response.status_code == 201
    quote, executable, big = response.json()["files"]
    assert quote["kept"] is True
    assert quote["verdicts"]["aircall"]["ok"] is True
    assert quote["verdicts"]["cloudtalk"]["errors"] == [
        {
            "code": "unsupported_format",
            "message": "Only jpg, jpeg, png, or gif files are allowed for MMS",
            "index": 0,
        }
    ]
    assert executable["kept"] is False and executable["upload_id"] is None
    assert executable["verdicts"]["aircall"]["errors"][0] == {
        "code": "unsupported_format",
        "message": "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS",
        "index": 1,
    }
    assert big["kept"] is False
    assert big["verdicts"]["aircall"]["errors"][0]["message"] == (
        "Your file size exceeds the limit of 600 KB. Please reduce the file size and try again"
    )


def test_an_upload_can_be_judged_for_one_provider(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads",
        params={"provider": "cloudtalk"},
        files={"file": ("quote.pdf", pdf(), "application/pdf")},
        headers=AUTH,
    )

    [upload] = response.json()["files"]
    assert list(upload["verdicts"]) == ["cloudtalk"]
    assert upload["kept"] is False


def test_a_file_over_the_cap_is_refused_with_the_rule_s_text(
    client: TestClient, connector: Connector
) -> None:
    response = client.post(
        "/v1/uploads", files={"file": ("huge.png", png(6 * MB), "image/png")}, headers=AUTH
    )

    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "code": "file_too_large",
                "message": catalogue.file_too_large(5 * MB).message,
                "index": 0,
            }
        ]
    }
    with connector.database.read() as conn:
        assert conn.execute(select(func.count()).select_from(uploads)).scalar_one() == 0


def test_a_file_just_over_a_limit_is_judged_by_the_rules(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads", files={"file": ("a.png", png(5 * MB + 10), "image/png")}, headers=AUTH
    )

    assert response.status_code == 201
    [upload] = response.json()["files"]
    assert upload["kept"] is False
    assert upload["verdicts"]["aircall"]["errors"][0]["code"] == "file_too_large"


def test_more_files_than_a_message_carries_are_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads",
        files=[("file", (f"{n}.png", png(1000 + n), "image/png")) for n in range(11)],
        headers=AUTH,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "You can only upload up to 10 files. Please remove some files and try again"
    )


def test_a_body_that_is_not_multipart_is_a_bad_request(client: TestClient) -> None:
    response = client.post("/v1/uploads", json={"file": "x"}, headers=AUTH)

    assert response.status_code == 400


def test_a_multipart_body_without_a_file_is_a_bad_request(client: TestClient) -> None:
    response = client.post("/v1/uploads", data={"note": "hello"}, files={}, headers=AUTH)

    assert response.status_code == 400


def test_an_announced_body_over_the_cap_is_refused_before_reading(client: TestClient) -> None:
    response = client.post(
        "/v1/uploads",
        content=b"--x\r\n",
        headers={
            **AUTH,
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(500 * MB),
        },
    )

    assert response.status_code == 413


def multipart_stream(sent: list[int], total: int) -> AsyncIterator[bytes]:
    async def body() -> AsyncIterator[bytes]:
        yield (
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        chunk = png(64 * KB)
        for _ in range(total // len(chunk)):
            sent.append(len(chunk))
            yield chunk
        yield b"\r\n--B--\r\n"

    return body()


def test_an_upload_stream_is_cut_off_at_the_cap(tmp_path: Path) -> None:
    limits = UploadLimits(file_cap=5 * MB + 64 * KB, largest_file=5 * MB, max_files=10)
    sent: list[int] = []

    with pytest.raises(UploadRefused) as caught:
        run_async(
            read_files(
                multipart_stream(sent, 200 * MB),
                "multipart/form-data; boundary=B",
                None,
                spool_dir=tmp_path,
                limits=limits,
            )
        )

    assert caught.value.status == 413
    assert sum(sent) <= limits.file_cap + 64 * KB
    assert list(tmp_path.iterdir()) == []  # anonymous spools: nothing left on disk


def test_an_upload_stream_is_read_into_a_spool(tmp_path: Path) -> None:
    limits = UploadLimits(file_cap=5 * MB + 64 * KB, largest_file=5 * MB, max_files=10)
    sent: list[int] = []

    [received] = run_async(
        read_files(
            multipart_stream(sent, 2 * MB),
            "multipart/form-data; boundary=B",
            None,
            spool_dir=tmp_path,
            limits=limits,
        )
    )

    assert received.name == "a.png" and received.declared_type == "image/png"
    assert received.spool.size == 2 * MB
    assert b"".join(received.spool.chunks()) == png(64 * KB) * 32
    received.spool.close()


def test_a_part_without_content_disposition_is_malformed(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"--B\r\nContent-Type: image/png\r\n\r\nxxx\r\n--B--\r\n"

    limits = UploadLimits(file_cap=MB, largest_file=MB, max_files=10)
    with pytest.raises(MalformedUpload):
        run_async(
            read_files(
                body(), "multipart/form-data; boundary=B", None, spool_dir=tmp_path, limits=limits
            )
        )


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%20", "%00"])
def test_a_link_with_anything_after_its_signature_is_gone(
    client: TestClient, connector: Connector, suffix: str
) -> None:
    _, path = captured(connector, "IMG_0042.png", png(), "image/png")
    assert client.get(path).status_code == 200

    assert_gone(client.get(path + suffix))
