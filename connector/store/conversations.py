"""Writing provider events into threads, messages and attachments, with their follow-up jobs.

One call, one transaction: the event, the thread, the message, its attachments and the jobs that
carry it onwards commit together or not at all, so a webhook answered 2xx is never half-kept.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.core.events import EventKind, ProviderEvent
from connector.core.model import DeliveryStatus, Message
from connector.store import queue
from connector.store.queue import utcnow
from connector.store.tables import attachments, events, messages, threads

CAPTURE_MEDIA = "capture_media"
SYNC_CRM = "sync_crm"
MEDIA_TARGET = "media"


class AttachmentState(enum.StrEnum):
    PENDING = "pending"
    STORED = "stored"
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"
    EXPIRED = "expired"


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    message_id: int | None = None
    thread_id: int | None = None


_SECRET_KEYS = frozenset({"token", "secret", "password", "api_key"})


def scrub(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as stored: authentication fields never reach the database."""
    return {k: v for k, v in payload.items() if k.lower() not in _SECRET_KEYS}


def record_event(
    conn: Connection,
    event: ProviderEvent,
    payload: Mapping[str, Any],
    *,
    crms: Sequence[str] = (),
) -> IngestResult:
    """Keep one provider event and queue what follows from it; a redelivery changes nothing."""
    if event.kind is EventKind.IGNORED:
        return IngestResult(Outcome.IGNORED)
    if not _insert_event(conn, event, payload):
        return IngestResult(Outcome.DUPLICATE)
    if event.message is not None:
        return _record_message(conn, event.message, crms)
    return _record_status(conn, event, crms)


def _insert_event(conn: Connection, event: ProviderEvent, payload: Mapping[str, Any]) -> bool:
    values = {
        "provider": event.provider.value,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "provider_message_id": event.provider_message_id
        or (event.message.provider_message_id if event.message else None),
        "status": event.status.value if event.status else None,
        "received_at": utcnow(),
        "payload": scrub(payload),
    }
    existing = conn.execute(
        select(events.c.id).where(
            and_(events.c.provider == values["provider"], events.c.event_id == event.event_id)
        )
    ).first()
    if existing:
        return False
    try:
        with conn.begin_nested():
            conn.execute(insert(events).values(**values))
    except IntegrityError:
        # A concurrent replica stored the same delivery first.
        return False
    return True


def upsert_thread(conn: Connection, message: Message) -> int:
    key = and_(
        threads.c.provider == message.provider.value,
        threads.c.line_number == message.line_number,
        threads.c.other_party == message.other_party,
    )
    row = conn.execute(select(threads.c.id, threads.c.last_message_at).where(key)).first()
    if row is not None:
        conn.execute(
            update(threads)
            .where(threads.c.id == row.id)
            .where(threads.c.last_message_at < message.sent_at)
            .values(last_message_at=message.sent_at)
        )
        return int(row.id)
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(threads).values(
                    provider=message.provider.value,
                    line_number=message.line_number,
                    other_party=message.other_party,
                    created_at=utcnow(),
                    last_message_at=message.sent_at,
                )
            )
    except IntegrityError:
        return int(conn.execute(select(threads.c.id).where(key)).scalar_one())
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def _record_message(conn: Connection, message: Message, crms: Sequence[str]) -> IngestResult:
    existing = conn.execute(
        select(messages.c.id, messages.c.thread_id, messages.c.status).where(
            and_(
                messages.c.provider == message.provider.value,
                messages.c.provider_message_id == message.provider_message_id,
            )
        )
    ).first()
    if existing is not None:
        # Known already (e.g. our own send, now confirmed): only its status can move.
        changed = _advance_status(
            conn, existing.id, DeliveryStatus(existing.status), message.status, message.sent_at
        )
        if changed:
            _queue_sync(conn, existing.id, existing.thread_id, crms)
        return IngestResult(Outcome.ACCEPTED, existing.id, existing.thread_id)
    thread_id = upsert_thread(conn, message)
    status = _status_with_earlier_reports(conn, message)
    now = utcnow()
    result = conn.execute(
        insert(messages).values(
            thread_id=thread_id,
            provider=message.provider.value,
            provider_message_id=message.provider_message_id,
            direction=message.direction.value,
            text=message.text,
            status=status.value,
            sent_at=message.sent_at,
            status_at=message.status_at,
            created_at=now,
            updated_at=now,
        )
    )
    assert result.inserted_primary_key is not None
    message_id = int(result.inserted_primary_key[0])
    insert_attachments(conn, message_id, message)
    _queue_capture(conn, message_id, message)
    _queue_sync(conn, message_id, thread_id, crms)
    return IngestResult(Outcome.ACCEPTED, message_id, thread_id)


def insert_attachments(conn: Connection, message_id: int, message: Message) -> None:
    if not message.attachments:
        return
    conn.execute(
        insert(attachments),
        [
            {
                "message_id": message_id,
                "position": position,
                "name": attachment.name,
                "declared_type": attachment.declared_type,
                "sniffed_type": attachment.sniffed_type,
                "size": attachment.size,
                "source_url": attachment.source_url,
                "state": (
                    AttachmentState.PENDING
                    if attachment.source_url
                    else AttachmentState.UNAVAILABLE
                ).value,
            }
            for position, attachment in enumerate(message.attachments)
        ],
    )


def _queue_capture(conn: Connection, message_id: int, message: Message) -> None:
    if not any(a.source_url for a in message.attachments):
        return
    rows = conn.execute(
        select(attachments.c.id).where(
            and_(
                attachments.c.message_id == message_id,
                attachments.c.state == AttachmentState.PENDING.value,
            )
        )
    )
    queue.enqueue_many(
        conn,
        [
            {"kind": CAPTURE_MEDIA, "target": MEDIA_TARGET, "subject": attachment_id}
            for (attachment_id,) in rows
        ],
    )


def _queue_sync(conn: Connection, message_id: int, thread_id: int, crms: Iterable[str]) -> None:
    queue.enqueue_many(
        conn,
        [
            {
                "kind": SYNC_CRM,
                "target": crm,
                "subject": message_id,
                "ordering_key": f"{crm}:thread:{thread_id}",
            }
            for crm in crms
        ],
    )


def _status_with_earlier_reports(conn: Connection, message: Message) -> DeliveryStatus:
    """Status events can arrive before the message itself: apply them now."""
    status = message.status
    reported = conn.execute(
        select(events.c.status).where(
            and_(
                events.c.provider == message.provider.value,
                events.c.provider_message_id == message.provider_message_id,
                events.c.kind == EventKind.STATUS_UPDATED.value,
            )
        )
    )
    for (value,) in reported:
        if value:
            status = status.advance(DeliveryStatus(value))
    return status


def _record_status(conn: Connection, event: ProviderEvent, crms: Sequence[str]) -> IngestResult:
    if event.status is None or event.provider_message_id is None:
        return IngestResult(Outcome.ACCEPTED)
    row = conn.execute(
        select(messages.c.id, messages.c.thread_id, messages.c.status).where(
            and_(
                messages.c.provider == event.provider.value,
                messages.c.provider_message_id == event.provider_message_id,
            )
        )
    ).first()
    if row is None:
        # Kept in `events`; applied when the message itself arrives.
        return IngestResult(Outcome.ACCEPTED)
    if _advance_status(conn, row.id, DeliveryStatus(row.status), event.status, event.occurred_at):
        _queue_sync(conn, row.id, row.thread_id, crms)
    return IngestResult(Outcome.ACCEPTED, row.id, row.thread_id)


def _advance_status(
    conn: Connection,
    message_id: int,
    current: DeliveryStatus,
    reported: DeliveryStatus,
    at: datetime | None,
) -> bool:
    new = current.advance(reported)
    if new is current:
        return False
    conn.execute(
        update(messages)
        .where(and_(messages.c.id == message_id, messages.c.status == current.value))
        .values(status=new.value, status_at=at, updated_at=utcnow())
    )
    return True


def set_status(
    conn: Connection, message_id: int, reported: DeliveryStatus, *, crms: Sequence[str] = ()
) -> DeliveryStatus | None:
    """Move one message's status forward (sends use it); None when the message is unknown."""
    row = conn.execute(
        select(messages.c.thread_id, messages.c.status).where(messages.c.id == message_id)
    ).first()
    if row is None:
        return None
    current = DeliveryStatus(row.status)
    if _advance_status(conn, message_id, current, reported, utcnow()):
        _queue_sync(conn, message_id, row.thread_id, crms)
        return current.advance(reported)
    return current
