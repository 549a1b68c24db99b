"""The rows of a send: the outbound message, its attachments and its job, and each step of the
at-most-once protocol as one conditional statement.

Why conditional statements: two workers can hold the same send job (a lease that expired while
the first was still waiting for the provider). Each transition names the status it expects
(`queued → sending`, `sending → queued`), so only one of them can take a step, and a message
that was already sent is never put back in the queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.core.events import EventKind
from connector.core.model import DeliveryStatus, Direction, Provider
from connector.store import queue
from connector.store.conversations import AttachmentState
from connector.store.queue import utcnow
from connector.store.tables import attachments, events, messages, threads, uploads

SEND_MESSAGE = "send_message"
# The statuses from which an admin may send a message again (the one-click retry).
RETRYABLE = frozenset({DeliveryStatus.UNKNOWN, DeliveryStatus.NOT_SENT})


@dataclass(frozen=True)
class StoredUpload:
    """A file kept by `POST /v1/uploads` (or fetched from a send's URL), ready to attach."""

    id: int
    name: str
    declared_type: str | None
    sniffed_type: str
    size: int
    content_hash: str


@dataclass(frozen=True)
class SentFile:
    """One attachment of a send: an upload's blob, judged by the rules, in its position."""

    name: str
    declared_type: str | None
    sniffed_type: str
    size: int
    content_hash: str


@dataclass(frozen=True)
class PendingSend:
    """What the send job needs of one message: who, what, and the attachments to link."""

    message_id: int
    thread_id: int
    provider: Provider
    status: DeliveryStatus
    line_number: str
    other_party: str
    text: str
    attachment_ids: tuple[int, ...]
    unstored: int  # attachments that can no longer be served (expired, deleted)


@dataclass(frozen=True)
class SendDetails:
    """The columns of a message that only the send side knows."""

    provider_message_id: str | None
    send_error: str | None
    connector_key: str | None


def connector_key(message_id: int) -> str:
    """A sent message's own key, the same before and after the provider names the message."""
    return f"connector-{message_id}"


# -- submitting ---------------------------------------------------------------------------------


def stored_uploads(conn: Connection, upload_ids: Sequence[int]) -> dict[int, StoredUpload]:
    """The uploads with these ids that are still kept; missing or expired ids are absent."""
    if not upload_ids:
        return {}
    rows = conn.execute(
        select(
            uploads.c.id,
            uploads.c.name,
            uploads.c.declared_type,
            uploads.c.sniffed_type,
            uploads.c.size,
            uploads.c.content_hash,
        ).where(
            and_(
                uploads.c.id.in_(list(upload_ids)),
                uploads.c.state == AttachmentState.STORED.value,
            )
        )
    )
    return {
        row.id: StoredUpload(
            id=row.id,
            name=row.name,
            declared_type=row.declared_type,
            sniffed_type=row.sniffed_type,
            size=row.size,
            content_hash=row.content_hash,
        )
        for row in rows
    }


def insert_outbound(
    conn: Connection,
    *,
    thread_id: int,
    provider: Provider,
    text: str,
    origin: Mapping[str, Any] | None,
    now: datetime | None = None,
) -> int:
    """The message a send creates: `queued`, with no provider id until the provider names it."""
    now = now or utcnow()
    message_id = int(
        conn.execute(
            insert(messages)
            .values(
                thread_id=thread_id,
                provider=provider.value,
                provider_message_id=None,
                direction=Direction.OUTBOUND.value,
                text=text,
                status=DeliveryStatus.QUEUED.value,
                sent_at=now,
                status_at=now,
                created_at=now,
                updated_at=now,
                origin=dict(origin) if origin is not None else None,
            )
            .returning(messages.c.id)
        ).scalar_one()
    )
    conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(connector_key=connector_key(message_id))
    )
    return message_id


def insert_sent_attachments(
    conn: Connection, message_id: int, files: Sequence[SentFile], now: datetime | None = None
) -> None:
    """The send's files as attachments already `stored`: their links serve the uploads' blobs."""
    if not files:
        return
    now = now or utcnow()
    conn.execute(
        insert(attachments),
        [
            {
                "message_id": message_id,
                "position": position,
                "name": file.name[:255],
                "declared_type": file.declared_type,
                "sniffed_type": file.sniffed_type,
                "size": file.size,
                "source_url": None,
                "state": AttachmentState.STORED.value,
                "content_hash": file.content_hash,
                "error": None,
                "captured_at": now,
            }
            for position, file in enumerate(files)
        ],
    )


def enqueue_send(conn: Connection, message_id: int, provider: Provider, thread_id: int) -> int:
    """The job that sends the message; sends of one thread go out in the order they were made."""
    return queue.enqueue(
        conn,
        SEND_MESSAGE,
        target=provider.value,
        subject=message_id,
        ordering_key=f"{provider.value}:thread:{thread_id}",
    )


# -- sending ------------------------------------------------------------------------------------


def pending_send(conn: Connection, message_id: int) -> PendingSend | None:
    row = conn.execute(
        select(
            messages.c.id,
            messages.c.thread_id,
            messages.c.provider,
            messages.c.status,
            messages.c.text,
            threads.c.line_number,
            threads.c.other_party,
        )
        .join(threads, threads.c.id == messages.c.thread_id)
        .where(and_(messages.c.id == message_id, messages.c.direction == Direction.OUTBOUND.value))
    ).first()
    if row is None:
        return None
    files = conn.execute(
        select(attachments.c.id, attachments.c.state)
        .where(attachments.c.message_id == message_id)
        .order_by(attachments.c.position)
    ).all()
    stored = tuple(f.id for f in files if f.state == AttachmentState.STORED.value)
    return PendingSend(
        message_id=row.id,
        thread_id=row.thread_id,
        provider=Provider(row.provider),
        status=DeliveryStatus(row.status),
        line_number=row.line_number,
        other_party=row.other_party,
        text=row.text or "",
        attachment_ids=stored,
        unstored=len(files) - len(stored),
    )


def _move(
    conn: Connection,
    message_id: int,
    expected: DeliveryStatus,
    new: DeliveryStatus,
    **values: Any,
) -> bool:
    now = utcnow()
    result = conn.execute(
        update(messages)
        .where(and_(messages.c.id == message_id, messages.c.status == expected.value))
        .values(status=new.value, status_at=now, updated_at=now, **values)
    )
    return result.rowcount == 1


def mark_sending(conn: Connection, message_id: int) -> bool:
    """`queued → sending`, the step taken just before the request leaves; False if not queued."""
    return _move(conn, message_id, DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


def back_to_queued(conn: Connection, message_id: int, reason: str) -> bool:
    """`sending → queued`: the request provably never reached the provider."""
    return _move(conn, message_id, DeliveryStatus.SENDING, DeliveryStatus.QUEUED, send_error=reason)


def note_error(conn: Connection, message_id: int, reason: str | None) -> None:
    conn.execute(update(messages).where(messages.c.id == message_id).values(send_error=reason))


def record_receipt(
    conn: Connection, message_id: int, provider: Provider, provider_message_id: str | None
) -> list[DeliveryStatus]:
    """Keep the provider's id of a sent message; the statuses it reported before we knew the id.

    The id is kept only while the message has none, and only if no other message holds it (a
    webhook that outran the provider's answer and could not be matched): then it stays unset.
    """
    if provider_message_id is None:
        return []
    taken = conn.execute(
        select(
            exists().where(
                and_(
                    messages.c.provider == provider.value,
                    messages.c.provider_message_id == provider_message_id,
                    messages.c.id != message_id,
                )
            )
        )
    ).scalar()
    if taken:
        return []
    try:
        with conn.begin_nested():
            conn.execute(
                update(messages)
                .where(and_(messages.c.id == message_id, messages.c.provider_message_id.is_(None)))
                .values(provider_message_id=provider_message_id, updated_at=utcnow())
            )
    except IntegrityError:  # another replica's webhook took the id a moment ago
        return []
    rows = conn.execute(
        select(events.c.status).where(
            and_(
                events.c.provider == provider.value,
                events.c.provider_message_id == provider_message_id,
                events.c.kind == EventKind.STATUS_UPDATED.value,
                events.c.status.is_not(None),
            )
        )
    )
    return [DeliveryStatus(status) for (status,) in rows]


# -- retrying and reading -----------------------------------------------------------------------


def was_sent_by_connector(conn: Connection, message_id: int) -> bool:
    """Whether the message is one of the connector's own sends (only those carry its key)."""
    key = conn.execute(
        select(messages.c.connector_key).where(messages.c.id == message_id)
    ).scalar_one_or_none()
    return key is not None


def reopen(conn: Connection, message_id: int, current: DeliveryStatus) -> bool:
    """Put a send whose outcome is unknown, or that was not sent, back to `queued` (the admin's
    one-click retry; the only step that goes backwards)."""
    if current not in RETRYABLE:
        return False
    # The new attempt gets the provider's new id; the old one (a failed delivery) is let go.
    return _move(
        conn,
        message_id,
        current,
        DeliveryStatus.QUEUED,
        send_error=None,
        provider_message_id=None,
    )


def send_details(conn: Connection, message_ids: Sequence[int]) -> dict[int, SendDetails]:
    if not message_ids:
        return {}
    rows = conn.execute(
        select(
            messages.c.id,
            messages.c.provider_message_id,
            messages.c.send_error,
            messages.c.connector_key,
        ).where(messages.c.id.in_(list(message_ids)))
    )
    return {
        row.id: SendDetails(row.provider_message_id, row.send_error, row.connector_key)
        for row in rows
    }


@dataclass(frozen=True)
class ThreadRow:
    id: int
    provider: Provider
    line_number: str
    other_party: str


def thread(conn: Connection, thread_id: int) -> ThreadRow | None:
    row = conn.execute(
        select(
            threads.c.id, threads.c.provider, threads.c.line_number, threads.c.other_party
        ).where(threads.c.id == thread_id)
    ).first()
    if row is None:
        return None
    return ThreadRow(row.id, Provider(row.provider), row.line_number, row.other_party)


def sends_in_status(
    conn: Connection, statuses: Sequence[DeliveryStatus], *, limit: int = 100
) -> list[int]:
    """Ids of the connector's own sends in these statuses, newest first (the admin's list)."""
    rows = conn.execute(
        select(messages.c.id)
        .where(
            and_(
                messages.c.connector_key.is_not(None),
                messages.c.status.in_([s.value for s in statuses]),
            )
        )
        .order_by(messages.c.id.desc())
        .limit(limit)
    )
    return [row.id for row in rows]
