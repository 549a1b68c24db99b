"""Media older than the retention are deleted; their rows stay, so their links answer 410."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from connector.bootstrap import Connector
from connector.core.keys import KeyRing
from connector.media.downloads import find_medium
from connector.media.links import LinkKind, sign
from connector.media.retention import expire_media
from connector.media.store import FilesystemMediaStore
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import uploads
from tests.media.factories import attachment_row, jpeg, png, receive, settle, stored

SECRET = KeyRing(b"retention-test-secret")
RETENTION = timedelta(days=183)


@pytest.fixture
def store(tmp_path: Path) -> FilesystemMediaStore:
    return FilesystemMediaStore(tmp_path / "media")


def age_blob(store: FilesystemMediaStore, content_hash: str, days: int) -> None:
    path = store.local_path(content_hash)
    assert path is not None
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def link(attachment_id: int) -> str:
    return sign(SECRET, LinkKind.ATTACHMENT, attachment_id)


def test_a_medium_past_the_retention_is_deleted_and_its_link_goes_dead(
    database: Database, store: FilesystemMediaStore
) -> None:
    _, _, [old] = receive(database, [("old.png", None)])
    content_hash = stored(database, store, old, png(), "image/png", captured_ago=timedelta(200))
    age_blob(store, content_hash, 200)
    assert find_medium(database, store, SECRET, link(old)) is not None

    report = expire_media(database, store, RETENTION)

    assert report.attachments_expired == 1 and report.blobs_deleted == 1
    assert attachment_row(database, old).state == AttachmentState.EXPIRED
    assert not store.exists(content_hash)
    assert find_medium(database, store, SECRET, link(old)) is None


def test_a_medium_within_the_retention_is_kept(
    database: Database, store: FilesystemMediaStore
) -> None:
    _, _, [young] = receive(database, [("young.png", None)])
    content_hash = stored(database, store, young, png(), "image/png", captured_ago=timedelta(100))

    report = expire_media(database, store, RETENTION)

    assert report.attachments_expired == 0
    assert store.exists(content_hash)
    assert attachment_row(database, young).state == AttachmentState.STORED


def test_a_blob_another_kept_attachment_shares_is_not_deleted(
    database: Database, store: FilesystemMediaStore
) -> None:
    _, _, [old, young] = receive(database, [("a.jpg", None), ("b.jpg", None)])
    content_hash = stored(database, store, old, jpeg(), "image/jpeg", captured_ago=timedelta(300))
    stored(database, store, young, jpeg(), "image/jpeg", captured_ago=timedelta(1))
    age_blob(store, content_hash, 300)

    report = expire_media(database, store, RETENTION)

    assert report.attachments_expired == 1 and report.blobs_deleted == 0
    assert find_medium(database, store, SECRET, link(old)) is None
    assert find_medium(database, store, SECRET, link(young)) is not None


def test_a_blob_written_again_since_the_cutoff_is_not_deleted(
    database: Database, store: FilesystemMediaStore
) -> None:
    """A capture of the same bytes is storing it right now, before its row says so."""
    _, _, [old] = receive(database, [("old.png", None)])
    content_hash = stored(database, store, old, png(), "image/png", captured_ago=timedelta(200))

    report = expire_media(database, store, RETENTION)

    assert report.attachments_expired == 1 and report.blobs_deleted == 0
    assert store.exists(content_hash)


def test_unsupported_and_unavailable_media_have_nothing_to_expire(
    database: Database, store: FilesystemMediaStore
) -> None:
    _, _, [refused, missing] = receive(database, [("a.exe", None), ("b.png", None)])
    settle(database, refused, AttachmentState.UNSUPPORTED)
    settle(database, missing, AttachmentState.UNAVAILABLE)

    report = expire_media(database, store, RETENTION, now=utcnow() + timedelta(days=400))

    assert report.attachments_expired == 0
    assert attachment_row(database, refused).state == AttachmentState.UNSUPPORTED


def test_old_uploads_expire_too(database: Database, store: FilesystemMediaStore) -> None:
    blob = store.put([png()])
    age_blob(store, blob.content_hash, 200)
    with database.begin() as conn:
        upload_id = conn.execute(
            insert(uploads)
            .values(
                name="a.png",
                sniffed_type="image/png",
                size=blob.size,
                content_hash=blob.content_hash,
                state=AttachmentState.STORED.value,
                created_at=utcnow() - timedelta(days=200),
            )
            .returning(uploads.c.id)
        ).scalar_one()

    report = expire_media(database, store, RETENTION)

    assert report.uploads_expired == 1 and report.blobs_deleted == 1
    with database.read() as conn:
        assert (
            conn.execute(select(uploads.c.state).where(uploads.c.id == upload_id)).scalar_one()
            == AttachmentState.EXPIRED
        )
    assert find_medium(database, store, SECRET, sign(SECRET, LinkKind.UPLOAD, upload_id)) is None


def test_many_old_media_are_expired_in_batches(
    database: Database, store: FilesystemMediaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("connector.media.retention.BATCH", 2)
    _, _, ids = receive(database, [(f"{n}.png", None) for n in range(5)])
    for n, attachment_id in enumerate(ids):
        stored(
            database, store, attachment_id, png(1000 + n), "image/png", captured_ago=timedelta(200)
        )

    report = expire_media(database, store, RETENTION)

    assert report.attachments_expired == 5


def test_the_worker_runs_the_retention_on_a_clock(connector: Connector) -> None:
    [task] = [task for task in connector.periodic if task.name == "media_retention"]

    assert task.interval <= 24 * 3600
    task.run()  # nothing to expire: runs cleanly
