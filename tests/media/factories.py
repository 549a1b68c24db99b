"""Media for the tests: file bytes with real magic numbers, received messages, capture jobs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from connector.bootstrap import Connector
from connector.core.model import Provider
from connector.media.fetch import MediaFetcher, Resolver
from connector.media.links import LinkKind, sign
from connector.media.store import MediaStore
from connector.store import conversations
from connector.store.conversations import CAPTURE_MEDIA, MEDIA_TARGET, AttachmentState
from connector.store.db import Database
from connector.store.queue import Job, JobState, utcnow
from connector.store.tables import attachments, messages
from tests.core.factories import MAGIC
from tests.factories import attachment, message, received_event, webhook_body

KB = 1024
MB = 1024 * 1024


def file_bytes(kind: str, size: int = 10 * KB) -> bytes:
    """`size` bytes that start like a real `kind` file (png, jpeg, gif, pdf, elf, html)."""
    head = MAGIC[kind]
    if size <= len(head):
        return head[:size]
    filler = bytes(range(256)) * (size // 256 + 1)
    return head + filler[: size - len(head)]


def png(size: int = 10 * KB) -> bytes:
    return file_bytes("png", size)


def jpeg(size: int = 10 * KB) -> bytes:
    return file_bytes("jpeg", size)


def gif(size: int = 10 * KB) -> bytes:
    return file_bytes("gif", size)


def pdf(size: int = 10 * KB) -> bytes:
    return file_bytes("pdf", size)


def chunked(data: bytes, size: int = 64 * KB) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def media_url(name: str) -> str:
    return f"https://media.example.com/aircall/{name}?X-Amz-Signature=abc"


def receive(
    database: Database,
    files: Sequence[tuple[str, str | None]] = (("IMG_0042.png", None),),
    *,
    provider: Provider = Provider.AIRCALL,
    text: str = "Photo of the damage attached",
) -> tuple[int, int, list[int]]:
    """Record a received message whose attachments are (name, URL or None for `media_url(name)`);
    its message id, thread id and attachment ids in order."""
    msg = message(
        provider=provider,
        text=text,
        attachments=tuple(
            attachment(name=name, declared_type=None, source_url=url or media_url(name))
            for name, url in files
        ),
    )
    event = received_event(msg)
    with database.begin() as conn:
        result = conversations.record_event(conn, event, webhook_body(event), crms=())
        assert result.message_id is not None and result.thread_id is not None
        ids = list(
            conn.execute(
                select(attachments.c.id)
                .where(attachments.c.message_id == result.message_id)
                .order_by(attachments.c.position)
            ).scalars()
        )
    return result.message_id, result.thread_id, ids


def received_ago(database: Database, message_id: int, age: timedelta) -> None:
    """Pretend the message arrived `age` ago (the capture's grace periods count from then)."""
    with database.begin() as conn:
        conn.execute(
            update(messages).where(messages.c.id == message_id).values(created_at=utcnow() - age)
        )


def capture_job(attachment_id: int) -> Job:
    now = utcnow()
    return Job(
        id=0,
        kind=CAPTURE_MEDIA,
        target=MEDIA_TARGET,
        subject=str(attachment_id),
        ordering_key=None,
        state=JobState.RUNNING,
        attempts=1,
        run_after=now,
        lease_until=None,
        worker=None,  # run directly, never claimed: nothing can take it over
        last_error=None,
        payload={},
        created_at=now,
        updated_at=now,
    )


def attachment_row(database: Database, attachment_id: int) -> Any:
    with database.read() as conn:
        return conn.execute(select(attachments).where(attachments.c.id == attachment_id)).one()


def resolver(table: dict[str, list[str]]) -> Resolver:
    """A DNS stand-in: host name to addresses; unknown names resolve to a public address."""

    def resolve(host: str, port: int) -> list[str]:
        return table.get(host, ["93.184.216.34"])

    return resolve


def guarded_fetcher(table: dict[str, list[str]] | None = None, **options: Any) -> MediaFetcher:
    """A fetcher with the SSRF guard on (as in production) and a fake resolver."""
    return MediaFetcher(allow_private=False, resolver=resolver(table or {}), **options)


def stored(
    database: Database,
    store: MediaStore,
    attachment_id: int,
    data: bytes,
    content_type: str,
    *,
    captured_ago: timedelta = timedelta(0),
) -> str:
    """Put `data` in the store and mark the attachment as captured `captured_ago`; its hash."""
    blob = store.put(chunked(data))
    with database.begin() as conn:
        conn.execute(
            update(attachments)
            .where(attachments.c.id == attachment_id)
            .values(
                state=AttachmentState.STORED.value,
                content_hash=blob.content_hash,
                sniffed_type=content_type,
                size=blob.size,
                captured_at=utcnow() - captured_ago,
            )
        )
    return blob.content_hash


def settle(database: Database, attachment_id: int, state: AttachmentState) -> None:
    with database.begin() as conn:
        conn.execute(
            update(attachments)
            .where(attachments.c.id == attachment_id)
            .values(state=state.value, captured_at=utcnow())
        )


# The rule's text for a medium that has no link (any more).
GONE = "Some media is unavailable due to an error"


def captured(connector: Connector, name: str, data: bytes, content_type: str) -> tuple[int, str]:
    """A received medium, captured into the connector's store; its attachment id and link path."""
    _, _, [attachment_id] = receive(connector.database, [(name, None)])
    stored(connector.database, connector.media_store, attachment_id, data, content_type)
    return attachment_id, f"/media/{sign(connector.secret, LinkKind.ATTACHMENT, attachment_id)}"


def assert_gone(response: httpx.Response) -> None:
    assert response.status_code == 410
    assert response.text == GONE
