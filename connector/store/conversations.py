"""Writing provider events into threads, messages and attachments, with their follow-up jobs.

One call, one transaction: the event, the thread, the message, its attachments and the jobs that
carry it onwards commit together or not at all, so a webhook answered 2xx is never half-kept.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.core.events import EventKind, ProviderEvent
from connector.core.model import DeliveryStatus, Direction, Message
from connector.store import participants, queue
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
    thread_ids: Mapping[ThreadKey, int] | None = None,
) -> IngestResult:
    """Keep one provider event and queue what follows from it; a redelivery changes nothing.

    `thread_ids` holds threads already upserted in this transaction (see `record_events`).
    """
    if event.kind is EventKind.IGNORED:
        return IngestResult(Outcome.IGNORED)
    if not _insert_event(conn, event, payload):
        return IngestResult(Outcome.DUPLICATE)
    if event.kind is EventKind.UNREADABLE:  # kept above for the doctor to report; no message
        return IngestResult(Outcome.IGNORED)
    if event.message is not None:
        thread_id = thread_ids.get(thread_key(event.message)) if thread_ids else None
        result = _record_message(conn, event.message, crms, thread_id)
        participants.remember(conn, result.thread_id, event.participants)
        return result
    return _record_status(conn, event, crms)


Pending = tuple[ProviderEvent, Mapping[str, Any], Sequence[str]]


def record_events(conn: Connection, batch: Sequence[Pending]) -> list[IngestResult]:
    """Keep several events in one transaction, taking row locks in one order.

    Two concurrent batches that lock the same rows in opposite orders deadlock (PostgreSQL then
    fails one of them). So every batch first upserts all its threads in key order, once each,
    and then writes its events in (provider, event id) order; results come back in `batch`'s
    order.
    """
    messages_ = [
        event.message
        for event, _, _ in batch
        if event.message is not None and event.kind is not EventKind.IGNORED
    ]
    thread_ids = lock_threads(conn, messages_)
    results: list[IngestResult | None] = [None] * len(batch)
    for index in sorted(range(len(batch)), key=lambda i: event_key(batch[i][0])):
        event, payload, crms = batch[index]
        results[index] = record_event(conn, event, payload, crms=crms, thread_ids=thread_ids)
    return [result for result in results if result is not None]


def event_key(event: ProviderEvent) -> tuple[str, str]:
    return (event.provider.value, event.event_id)


ThreadKey = tuple[str, str, str]


def thread_key(message: Message) -> ThreadKey:
    return (message.provider.value, message.line_number, message.other_party)


def lock_threads(conn: Connection, messages_: Iterable[Message]) -> dict[ThreadKey, int]:
    """Upsert each thread of these messages once, in key order; their ids by key."""
    latest: dict[ThreadKey, datetime] = {}
    for message in messages_:
        key = thread_key(message)
        if key not in latest or latest[key] < message.sent_at:
            latest[key] = message.sent_at
    return {key: _upsert_thread(conn, key, latest[key]) for key in sorted(latest)}


def _insert_event(conn: Connection, event: ProviderEvent, payload: Mapping[str, Any]) -> bool:
    """Insert the event unless this provider delivered it before (or a replica just did)."""
    inserted = conn.execute(
        _statements(conn).insert_event,
        {
            "provider": event.provider.value,
            "event_id": event.event_id,
            "kind": event.kind.value,
            "provider_message_id": event.provider_message_id
            or (event.message.provider_message_id if event.message else None),
            "status": event.status.value if event.status else None,
            "received_at": utcnow(),
            "payload": scrub(payload),
        },
    ).scalar_one_or_none()
    # Not `rowcount`: on psycopg an insert with implicit RETURNING reports -1 even when it inserted.
    return inserted is not None


@dataclass(frozen=True)
class _Statements:
    """The webhook path's statements, built once per dialect: `INSERT … ON CONFLICT` makes each
    step one round trip, race-free across replicas, and reusing the built statements keeps
    SQLAlchemy's per-call construction cost off the hot path."""

    insert_event: Any
    upsert_thread: Any
    insert_message: Any


@functools.cache
def _build_statements(dialect: str) -> _Statements:
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    event_columns = (
        "provider",
        "event_id",
        "kind",
        "provider_message_id",
        "status",
        "received_at",
        "payload",
    )
    insert_event = (
        insert_(events)
        .values({name: bindparam(name) for name in event_columns})
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(events.c.id)
    )
    thread_insert = insert_(threads).values(
        {
            name: bindparam(name)
            for name in ("provider", "line_number", "other_party", "created_at", "last_message_at")
        }
    )
    upsert_thread = thread_insert.on_conflict_do_update(
        index_elements=["provider", "line_number", "other_party"],
        set_={
            "last_message_at": case(
                (
                    threads.c.last_message_at < thread_insert.excluded.last_message_at,
                    thread_insert.excluded.last_message_at,
                ),
                else_=threads.c.last_message_at,
            )
        },
    ).returning(threads.c.id)
    message_columns = (
        "thread_id",
        "provider",
        "provider_message_id",
        "direction",
        "text",
        "status",
        "sent_at",
        "status_at",
        "created_at",
        "updated_at",
    )
    insert_message = (
        insert_(messages)
        .values({name: bindparam(name) for name in message_columns})
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(messages.c.id)
    )
    return _Statements(insert_event, upsert_thread, insert_message)


def _statements(conn: Connection) -> _Statements:
    return _build_statements(conn.dialect.name)


def upsert_thread(conn: Connection, message: Message) -> int:
    return _upsert_thread(conn, thread_key(message), message.sent_at)


def _upsert_thread(conn: Connection, key: ThreadKey, last_message_at: datetime) -> int:
    provider, line_number, other_party = key
    return int(
        conn.execute(
            _statements(conn).upsert_thread,
            {
                "provider": provider,
                "line_number": line_number,
                "other_party": other_party,
                "created_at": utcnow(),
                "last_message_at": last_message_at,
            },
        ).scalar_one()
    )


def _record_message(
    conn: Connection, message: Message, crms: Sequence[str], thread_id: int | None = None
) -> IngestResult:
    if thread_id is None:
        thread_id = upsert_thread(conn, message)
    status = message.status
    if message.direction is Direction.OUTBOUND:
        status = _status_with_earlier_reports(conn, message)
        adopted = _adopt_own_send(conn, message, thread_id, status, crms)
        if adopted is not None:
            return adopted
    now = utcnow()
    message_id = conn.execute(
        _statements(conn).insert_message,
        {
            "thread_id": thread_id,
            "provider": message.provider.value,
            "provider_message_id": message.provider_message_id,
            "direction": message.direction.value,
            "text": message.text,
            "status": status.value,
            "sent_at": message.sent_at,
            "status_at": message.status_at,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one_or_none()
    if message_id is None:
        return _record_known_message(conn, message, crms)
    attachment_ids = insert_attachments(conn, message_id, message)
    _queue_capture(conn, attachment_ids)
    _queue_sync(conn, message_id, thread_id, crms)
    return IngestResult(Outcome.ACCEPTED, message_id, thread_id)


def _record_known_message(conn: Connection, message: Message, crms: Sequence[str]) -> IngestResult:
    """A message we hold already (e.g. our own send, now confirmed): only its status moves."""
    existing = conn.execute(
        select(messages.c.id, messages.c.thread_id, messages.c.status).where(
            and_(
                messages.c.provider == message.provider.value,
                messages.c.provider_message_id == message.provider_message_id,
            )
        )
    ).one()
    changed = _advance_status(
        conn, existing.id, DeliveryStatus(existing.status), message.status, message.sent_at
    )
    if changed:
        _queue_sync(conn, existing.id, existing.thread_id, crms)
    return IngestResult(Outcome.ACCEPTED, existing.id, existing.thread_id)


# A provider's report of a message we sent is matched to our own row within this window.
ADOPTION_WINDOW = timedelta(minutes=15)
_ADOPTABLE = (DeliveryStatus.SENDING.value, DeliveryStatus.SENT.value, DeliveryStatus.UNKNOWN.value)


def _adopt_own_send(
    conn: Connection,
    message: Message,
    thread_id: int,
    status: DeliveryStatus,
    crms: Sequence[str],
) -> IngestResult | None:
    """A "message sent" event for an id we do not know may be our own send, reported back.

    CloudTalk's send API returns no message id, so its "message sent" workflow is the first time
    we hear it; an Aircall `message.sent` can outrun the send's own answer, and it resolves a
    send whose answer never came (`unknown`). The connector's most recent outbound message on
    the same thread, with no provider id yet, the same text, sent (or being sent, or unknown)
    within the window, is that message: it takes the provider's id and the reported status.
    """
    known = (
        select(messages.c.id)
        .where(
            and_(
                messages.c.provider == message.provider.value,
                messages.c.provider_message_id == message.provider_message_id,
            )
        )
        .exists()
    )
    candidate = conn.execute(
        select(messages.c.id, messages.c.status)
        .where(
            and_(
                messages.c.thread_id == thread_id,
                messages.c.direction == Direction.OUTBOUND.value,
                messages.c.provider_message_id.is_(None),
                messages.c.text == message.text,
                messages.c.status.in_(_ADOPTABLE),
                messages.c.created_at >= utcnow() - ADOPTION_WINDOW,
                ~known,
            )
        )
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(1)
    ).first()
    if candidate is None:
        return None
    claimed = conn.execute(
        update(messages)
        .where(and_(messages.c.id == candidate.id, messages.c.provider_message_id.is_(None)))
        .values(provider_message_id=message.provider_message_id, updated_at=utcnow())
    )
    if claimed.rowcount != 1:
        return None
    if _advance_status(
        conn, candidate.id, DeliveryStatus(candidate.status), status, message.status_at
    ):
        _queue_sync(conn, candidate.id, thread_id, crms)
    return IngestResult(Outcome.ACCEPTED, candidate.id, thread_id)


def insert_attachments(conn: Connection, message_id: int, message: Message) -> list[int]:
    """The message's attachments, in order; the ids of those still to be captured."""
    if not message.attachments:
        return []
    rows = conn.execute(
        insert(attachments).returning(
            attachments.c.id, attachments.c.state, sort_by_parameter_order=True
        ),
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
                "error": attachment.error,
                "captured_at": None,
            }
            for position, attachment in enumerate(message.attachments)
        ],
    )
    return [row.id for row in rows if row.state == AttachmentState.PENDING.value]


def _queue_capture(conn: Connection, attachment_ids: Sequence[int]) -> None:
    queue.enqueue_many(
        conn,
        [
            {"kind": CAPTURE_MEDIA, "target": MEDIA_TARGET, "subject": attachment_id}
            for attachment_id in attachment_ids
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
