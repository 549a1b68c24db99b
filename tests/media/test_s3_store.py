"""The S3 media store against a real S3 API (moto's server on loopback) through boto3: content
addressed objects, sent once, in parts when large, read in ranges, deleted with the retention's
guard, and any failure to reach the bucket an `OSError` that callers retry."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from connector.media import s3
from connector.media.s3 import S3MediaStore
from connector.media.store import BlobMissing, MediaStore, StoreUnavailable
from tests.fakes.s3 import closed_port_url, objects, s3_client
from tests.media.factories import MB, chunked, pdf, png


@pytest.fixture
def store(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> Iterator[S3MediaStore]:
    built = S3MediaStore(s3_bucket, "media", endpoint_url=s3_endpoint, spool_dir=tmp_path / "spool")
    yield built
    built.close()


def test_the_s3_store_implements_the_port(store: S3MediaStore) -> None:
    assert isinstance(store, MediaStore)


def test_a_blob_is_one_object_named_by_its_sha256_under_the_prefix(
    store: S3MediaStore, s3_endpoint: str, s3_bucket: str
) -> None:
    data = png(200_000)

    blob = store.put(chunked(data))

    digest = hashlib.sha256(data).hexdigest()
    assert (blob.content_hash, blob.size) == (digest, len(data))
    key = f"media/{digest[:2]}/{digest[2:4]}/{digest}"
    assert objects(s3_endpoint, s3_bucket) == {key: len(data)}
    with store.open(digest) as handle:
        assert handle.read() == data
    assert store.stat(digest) is not None and store.stat(digest).size == len(data)  # type: ignore[union-attr]


def test_the_same_content_is_sent_once(
    store: S3MediaStore, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    first = store.put([png()])
    spare = tmp_path / "same"
    spare.write_bytes(png())

    assert store.put_file(spare, first.content_hash, first.size) is False
    assert store.put(chunked(png(), 1000)) == first
    assert len(objects(s3_endpoint, s3_bucket)) == 1


def test_a_large_blob_goes_up_in_parts_and_comes_back_whole(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    # S3 parts are at least 5 MB (moto enforces it): 11 MB in 5 MB parts is three parts.
    store = S3MediaStore(
        s3_bucket,
        endpoint_url=s3_endpoint,
        spool_dir=tmp_path,
        multipart_threshold=5 * MB,
        multipart_chunk=5 * MB,
    )
    data = pdf(11 * MB)

    blob = store.put(chunked(data))

    head = s3_client(s3_endpoint).head_object(Bucket=s3_bucket, Key=store.key(blob.content_hash))
    assert head["ETag"].strip('"').endswith("-3"), "a multipart upload's ETag counts its parts"
    digest = hashlib.sha256()
    with store.open(blob.content_hash) as handle:
        while chunk := handle.read(64 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == blob.content_hash


def test_a_byte_range_reads_only_those_bytes(store: S3MediaStore) -> None:
    data = pdf(300_000)
    blob = store.put([data])

    with store.open(blob.content_hash, 100, 200) as handle:
        assert handle.read() == data[100:200]
    with store.open(blob.content_hash, 299_990) as handle:
        assert handle.read() == data[299_990:]
    with store.open(blob.content_hash, 5, 5) as handle:
        assert handle.read() == b""


def test_a_missing_blob_is_missing_everywhere(store: S3MediaStore) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()

    with pytest.raises(BlobMissing):
        store.open(digest)
    assert store.stat(digest) is None
    assert store.exists(digest) is False
    assert store.delete(digest) is False


def test_a_deleted_blob_is_gone(store: S3MediaStore, s3_endpoint: str, s3_bucket: str) -> None:
    blob = store.put([png()])

    assert store.delete(blob.content_hash) is True

    assert objects(s3_endpoint, s3_bucket) == {}
    with pytest.raises(BlobMissing):
        store.open(blob.content_hash)


def test_a_blob_written_since_the_cutoff_survives_a_conditional_delete(
    store: S3MediaStore,
) -> None:
    blob = store.put([png()])
    hour_ago = datetime.now(UTC) - timedelta(hours=1)

    assert store.delete(blob.content_hash, if_older_than=hour_ago) is False
    assert store.exists(blob.content_hash)
    assert store.delete(blob.content_hash, if_older_than=datetime.now(UTC) + timedelta(minutes=1))
    assert not store.exists(blob.content_hash)


def test_an_old_blob_written_again_is_restamped_so_the_retention_spares_it(
    store: S3MediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = store.put([png()])
    time.sleep(1.1)  # S3 stamps objects to the second
    between = datetime.now(UTC)
    time.sleep(1.1)
    monkeypatch.setattr(s3, "REFRESH_AFTER", timedelta(0))  # as if the first write were old

    store.put([png()])

    assert store.delete(blob.content_hash, if_older_than=between) is False
    assert store.exists(blob.content_hash)


def test_a_write_that_fails_half_way_leaves_nothing(
    store: S3MediaStore, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    def failing() -> Iterator[bytes]:
        yield png()
        raise ConnectionResetError("the sender went away")

    with pytest.raises(ConnectionResetError):
        store.put(failing())

    assert objects(s3_endpoint, s3_bucket) == {}
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_presigned_url_serves_the_blob_with_its_type_and_name(store: S3MediaStore) -> None:
    blob = store.put([png()])

    url = store.presigned_url(
        blob.content_hash,
        expires_in=60,
        content_type="image/png",
        content_disposition='inline; filename="photo.png"',
    )

    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == png()
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'inline; filename="photo.png"'
    assert "testing" not in url.split("?")[0]


def test_an_unreachable_bucket_is_an_os_error_for_every_call(aws_env: None) -> None:
    store = S3MediaStore("media", endpoint_url=closed_port_url(), attempts=1)
    digest = hashlib.sha256(png()).hexdigest()

    for call in (
        lambda: store.put([png()]),
        lambda: store.open(digest),
        lambda: store.stat(digest),
        lambda: store.delete(digest),
        store.check,
    ):
        with pytest.raises(StoreUnavailable, match="S3 bucket 'media': EndpointConnectionError"):
            call()
    assert issubclass(StoreUnavailable, OSError)


def test_a_bucket_that_does_not_exist_fails_the_check(s3_endpoint: str, aws_env: None) -> None:
    store = S3MediaStore("no-such-bucket", endpoint_url=s3_endpoint)

    with pytest.raises(StoreUnavailable, match="no-such-bucket"):
        store.check()
    with pytest.raises(StoreUnavailable):
        store.put([png()])


def test_the_check_passes_on_a_bucket_that_answers(store: S3MediaStore) -> None:
    store.check()


def test_the_spool_of_an_upload_killed_mid_way_is_swept_at_start(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    stale, fresh, other = spool / "s3-put-stale", spool / "s3-put-fresh", spool / "capture"
    for path in (stale, fresh, other):
        path.write_bytes(b"x")
    for path in (stale, other):
        os.utime(path, (time.time() - 2 * 86400,) * 2)

    S3MediaStore(s3_bucket, endpoint_url=s3_endpoint, spool_dir=spool).close()

    assert sorted(p.name for p in spool.iterdir()) == ["capture", "s3-put-fresh"]
