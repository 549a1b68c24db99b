"""Every medium of a message or a thread in one zip, streamed in bounded memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from connector.core import catalogue
from connector.media.archive import (
    MANIFEST_NAME,
    message_archive,
    sized_zip,
    stream_zip,
    thread_archive,
)
from connector.media.store import FilesystemMediaStore
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from tests.media.factories import MB, jpeg, pdf, png, receive, settle, stored


@pytest.fixture
def store(tmp_path: Path) -> FilesystemMediaStore:
    return FilesystemMediaStore(tmp_path / "media")


def unzip(chunks: Iterable[bytes]) -> zipfile.ZipFile:
    data = b"".join(chunks)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


def test_a_message_archive_holds_its_media_and_a_manifest_of_the_missing_ones(
    database: Database, store: FilesystemMediaStore
) -> None:
    message_id, _, [a, b, c, d] = receive(
        database, [("IMG_1.png", None), ("quote.pdf", None), ("virus.exe", None), ("x.jpg", None)]
    )
    stored(database, store, a, png(300_000), "image/png")
    stored(database, store, b, pdf(), "application/pdf")
    settle(database, c, AttachmentState.UNSUPPORTED)
    settle(database, d, AttachmentState.UNAVAILABLE)

    found = message_archive(database, message_id)
    assert found is not None
    archive = unzip(stream_zip(store, found.entries))

    assert found.filename == f"message-{message_id}-media.zip"
    assert archive.namelist() == ["01-IMG_1.png", "02-quote.pdf", MANIFEST_NAME]
    assert archive.read("01-IMG_1.png") == png(300_000)
    assert archive.read("02-quote.pdf") == pdf()
    assert archive.read(MANIFEST_NAME).decode().splitlines() == [
        f"03-virus.exe: {catalogue.INBOUND_UNSUPPORTED_TEXT}",
        "04-x.jpg: Some media is unavailable due to an error",
    ]


def test_an_archive_without_missing_media_has_no_manifest(
    database: Database, store: FilesystemMediaStore
) -> None:
    message_id, _, [a] = receive(database, [("a.png", None)])
    stored(database, store, a, png(), "image/png")

    found = message_archive(database, message_id)
    assert found is not None

    assert unzip(stream_zip(store, found.entries)).namelist() == ["01-a.png"]


def test_a_blob_deleted_since_the_listing_becomes_a_manifest_line(
    database: Database, store: FilesystemMediaStore
) -> None:
    message_id, _, [a] = receive(database, [("a.png", None)])
    content_hash = stored(database, store, a, png(), "image/png")
    found = message_archive(database, message_id)
    assert found is not None
    store.delete(content_hash)

    archive = unzip(stream_zip(store, found.entries))

    assert archive.read(MANIFEST_NAME).decode() == f"01-a.png: {catalogue.MEDIA_UNAVAILABLE_TEXT}\n"


def test_a_thread_archive_has_one_folder_per_message(
    database: Database, store: FilesystemMediaStore
) -> None:
    first, thread_id, [a] = receive(database, [("a.png", None)])
    second, same_thread, [b, c] = receive(database, [("b.jpg", None), ("c.png", None)])
    assert same_thread == thread_id
    stored(database, store, a, png(), "image/png")
    stored(database, store, b, jpeg(), "image/jpeg")
    settle(database, c, AttachmentState.EXPIRED)

    found = thread_archive(database, thread_id)
    assert found is not None
    archive = unzip(stream_zip(store, found.entries))

    names = archive.namelist()
    assert len(names) == 3 and names[-1] == MANIFEST_NAME
    assert names[0].endswith(f"-message-{first}/01-a.png")
    assert names[1].endswith(f"-message-{second}/01-b.jpg")
    assert archive.read(names[1]) == jpeg()
    assert (
        f"-message-{second}/02-c.png: {catalogue.MEDIA_UNAVAILABLE_TEXT}"
        in archive.read(MANIFEST_NAME).decode()
    )


def test_unknown_messages_and_threads_have_no_archive(database: Database) -> None:
    assert message_archive(database, 999_999) is None
    assert thread_archive(database, 999_999) is None


def test_a_large_archive_streams_in_small_chunks_and_bounded_memory(
    database: Database, store: FilesystemMediaStore
) -> None:
    message_id, _, ids = receive(database, [(f"{n}.png", None) for n in range(8)])
    for n, attachment_id in enumerate(ids):
        stored(database, store, attachment_id, png(5 * MB - n), "image/png")
    found = message_archive(database, message_id)
    assert found is not None

    tracemalloc.start()
    try:
        total = largest = 0
        for chunk in stream_zip(store, found.entries):
            total += len(chunk)
            largest = max(largest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total > 8 * 5 * MB - 100
    assert largest <= 64 * 1024 + 1024
    assert peak < 2 * MB


class _Unreachable(FilesystemMediaStore):
    """A store that cannot say a blob's size now (a remote store not answering a HEAD)."""

    def stat(self, content_hash: str) -> None:
        raise ConnectionError("the store did not answer")


def test_a_sized_zip_knows_its_exact_length_before_its_first_byte(
    database: Database, store: FilesystemMediaStore
) -> None:
    message_id, _, [a, b, c] = receive(database, [("a.png", None), ("b.jpg", None), ("c", None)])
    stored(database, store, a, png(300_000), "image/png")
    stored(database, store, b, jpeg(), "image/jpeg")
    settle(database, c, AttachmentState.EXPIRED)
    found = message_archive(database, message_id)
    assert found is not None

    chunks, length = sized_zip(store, found.entries)
    data = b"".join(chunks)

    assert length == len(data)
    archive = unzip([data])
    assert archive.namelist() == ["01-a.png", "02-b.jpg", MANIFEST_NAME]
    assert archive.read("01-a.png") == png(300_000)


def test_a_store_that_cannot_size_its_blobs_still_streams_the_zip_without_a_length(
    database: Database, tmp_path: Path
) -> None:
    store = _Unreachable(tmp_path / "media")
    message_id, _, [a] = receive(database, [("a.png", None)])
    stored(database, store, a, png(), "image/png")
    found = message_archive(database, message_id)
    assert found is not None

    chunks, length = sized_zip(store, found.entries)

    assert length is None
    assert unzip(chunks).read("01-a.png") == png()
