"""Every medium of a message or a thread in one zip, streamed as it is built.

The archive is written by `zipfile` into a sink that the response drains after every chunk, so
memory stays at one chunk whatever the total; nothing is ever written to disk either. A medium
that cannot be included gets a line in `MANIFEST.txt` with the rule's text instead.

A zip holds at most `CONNECTOR_MAX_ZIP_BYTES` of media: the conversation link that serves it
needs no bearer token, so its size must not be whatever a sender chose to send. Media past the
cap are left out in order, each with a manifest line saying so: the person still gets a zip
(the conversation's earliest media), and knows what to open one by one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, select

from connector.core import catalogue
from connector.media.names import safe_filename
from connector.media.store import CHUNK_BYTES, BlobMissing, MediaStore
from connector.store.conversations import AttachmentState
from connector.store.db import Database
from connector.store.tables import attachments, messages, threads

MANIFEST_NAME = "MANIFEST.txt"


@dataclass(frozen=True)
class ArchiveEntry:
    """One attachment as the archive holds it: a file, or a manifest line when unavailable."""

    path: str
    content_hash: str | None
    modified: datetime
    notice: str | None
    size: int = 0


@dataclass(frozen=True)
class Archive:
    filename: str
    entries: list[ArchiveEntry]


class _Sink(io.RawIOBase):
    """Where zipfile writes; the generator takes what accumulated after each step. Not seekable,
    so zipfile writes data descriptors instead of going back to patch headers."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def over_zip_limit(max_bytes: int) -> str:
    """The manifest line of a medium left out because the zip was full."""
    return (
        f"left out: a zip holds at most {_megabytes(max_bytes)} of media "
        "(CONNECTOR_MAX_ZIP_BYTES); open this medium from the conversation"
    )


def message_archive(
    database: Database, message_id: int, *, max_bytes: int | None = None
) -> Archive | None:
    """The archive of one message, or None when there is no such message."""
    with database.read() as conn:
        if conn.execute(select(messages.c.id).where(messages.c.id == message_id)).first() is None:
            return None
        entries = _entries(conn, messages.c.id == message_id, folders=False)
    return Archive(filename=f"message-{message_id}-media.zip", entries=_capped(entries, max_bytes))


def thread_archive(
    database: Database, thread_id: int, *, max_bytes: int | None = None
) -> Archive | None:
    """The archive of a whole conversation, one folder per message, or None when unknown."""
    with database.read() as conn:
        if conn.execute(select(threads.c.id).where(threads.c.id == thread_id)).first() is None:
            return None
        entries = _entries(conn, messages.c.thread_id == thread_id, folders=True)
    return Archive(filename=f"thread-{thread_id}-media.zip", entries=_capped(entries, max_bytes))


def _capped(entries: list[ArchiveEntry], max_bytes: int | None) -> list[ArchiveEntry]:
    """The entries in order while their media fit in `max_bytes`; the rest as manifest lines."""
    if max_bytes is None:
        return entries
    total = 0
    kept = []
    for entry in entries:
        if entry.content_hash is not None:
            if total + entry.size > max_bytes:
                entry = replace(entry, content_hash=None, notice=over_zip_limit(max_bytes))
            else:
                total += entry.size
        kept.append(entry)
    return kept


def _megabytes(count: int) -> str:
    return f"{count / (1024 * 1024):,.0f} MB" if count >= 1024 * 1024 else f"{count:,} bytes"


def _entries(conn: Connection, which: ColumnElement[bool], *, folders: bool) -> list[ArchiveEntry]:
    rows = conn.execute(
        select(
            attachments.c.message_id,
            attachments.c.position,
            attachments.c.name,
            attachments.c.sniffed_type,
            attachments.c.declared_type,
            attachments.c.state,
            attachments.c.content_hash,
            attachments.c.size,
            messages.c.sent_at,
        )
        .join(messages, messages.c.id == attachments.c.message_id)
        .where(which)
        .order_by(messages.c.sent_at, messages.c.id, attachments.c.position)
    )
    entries = []
    for row in rows:
        state = AttachmentState(row.state)
        content_type = row.sniffed_type or row.declared_type
        name = f"{row.position + 1:02d}-{safe_filename(row.name, content_type)}"
        sent_at = row.sent_at
        if folders:
            name = f"{sent_at:%Y-%m-%d_%H%M%S}-message-{row.message_id}/{name}"
        stored = state is AttachmentState.STORED and row.content_hash
        notice = None
        if state is AttachmentState.UNSUPPORTED:
            notice = catalogue.INBOUND_UNSUPPORTED_TEXT
        elif not stored:
            notice = catalogue.MEDIA_UNAVAILABLE_TEXT
        entries.append(
            ArchiveEntry(
                path=name,
                content_hash=row.content_hash if stored else None,
                modified=sent_at,
                notice=notice,
                size=row.size or 0,
            )
        )
    return entries


def stream_zip(store: MediaStore, entries: list[ArchiveEntry]) -> Iterator[bytes]:
    """The zip's bytes, chunk by chunk; a blob gone since the listing becomes a manifest line."""
    sink = _Sink()
    notices: list[str] = []
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for entry in entries:
            if entry.content_hash is None:
                notices.append(f"{entry.path}: {entry.notice}")
                continue
            try:
                blob = store.open(entry.content_hash)
            except BlobMissing:
                notices.append(f"{entry.path}: {catalogue.MEDIA_UNAVAILABLE_TEXT}")
                continue
            info = zipfile.ZipInfo(entry.path, date_time=_zip_time(entry.modified))
            info.compress_type = zipfile.ZIP_STORED
            with blob, archive.open(info, mode="w") as member:
                while chunk := blob.read(CHUNK_BYTES):
                    member.write(chunk)
                    yield sink.take()
            yield sink.take()
        if notices:
            manifest = zipfile.ZipInfo(MANIFEST_NAME, date_time=_zip_time(datetime.now(UTC)))
            manifest.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(manifest, "\n".join(notices) + "\n")
    yield sink.take()


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    moment = max(moment, datetime(1980, 1, 1, tzinfo=UTC))
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
