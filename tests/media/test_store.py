"""The filesystem media store: content addressed, written whole or not at all."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.media.store import BlobMissing, FilesystemMediaStore, MediaStore
from tests.media.factories import chunked, png


@pytest.fixture
def store(tmp_path: Path) -> FilesystemMediaStore:
    return FilesystemMediaStore(tmp_path / "media")


def test_a_blob_is_named_by_its_sha256_under_two_levels_of_folders(
    store: FilesystemMediaStore,
) -> None:
    data = png(200_000)

    blob = store.put(chunked(data))

    digest = hashlib.sha256(data).hexdigest()
    assert blob.content_hash == digest
    assert blob.size == len(data)
    assert store.local_path(digest) == store.root / digest[:2] / digest[2:4] / digest
    with store.open(digest) as handle:
        assert handle.read() == data


def test_the_same_content_is_kept_once(store: FilesystemMediaStore) -> None:
    first = store.put([png()])
    second = store.put(chunked(png(), 1000))

    assert first == second
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 1


def test_a_write_that_fails_half_way_leaves_nothing(store: FilesystemMediaStore) -> None:
    def broken() -> Iterator[bytes]:
        yield png()
        raise OSError("the sender went away")

    with pytest.raises(OSError):
        store.put(broken())

    assert [p for p in store.root.rglob("*") if p.is_file()] == []


def test_a_deleted_blob_is_gone(store: FilesystemMediaStore) -> None:
    blob = store.put([png()])

    assert store.delete(blob.content_hash)

    assert not store.exists(blob.content_hash)
    assert not store.delete(blob.content_hash)
    with pytest.raises(BlobMissing):
        store.open(blob.content_hash)


def test_a_blob_written_again_since_the_cutoff_survives_a_conditional_delete(
    store: FilesystemMediaStore,
) -> None:
    blob = store.put([png()])
    path = store.local_path(blob.content_hash)
    assert path is not None
    long_ago = time.time() - 400 * 86400
    os.utime(path, (long_ago, long_ago))
    cutoff = datetime.now(UTC) - timedelta(days=183)

    store.put([png()])  # a capture of the same bytes, right now

    assert not store.delete(blob.content_hash, if_older_than=cutoff)
    assert store.exists(blob.content_hash)
    os.utime(path, (long_ago, long_ago))
    assert store.delete(blob.content_hash, if_older_than=cutoff)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "A" * 64, "abc", "0" * 63 + "/"])
def test_only_a_sha256_digest_names_a_blob(store: FilesystemMediaStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.exists(bad)


def test_leftovers_of_a_crashed_writer_are_swept(store: FilesystemMediaStore) -> None:
    tmp = store.root / ".tmp"
    tmp.mkdir(parents=True)
    old, fresh = tmp / "old", tmp / "fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * 86400,) * 2)

    assert store.sweep_temporary() == 1
    assert not old.exists() and fresh.exists()


def test_the_filesystem_store_implements_the_port(store: FilesystemMediaStore) -> None:
    assert isinstance(store, MediaStore)
