"""Reading messages back as core models, for the CRM sync, the API and the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from connector.core.model import Attachment, DeliveryStatus, Direction, Message, Provider
from connector.store.tables import attachments, messages, threads


@dataclass(frozen=True)
class StoredMessage:
    """A message as kept: the core model plus the ids and origin only the store knows."""

    id: int
    thread_id: int
    message: Message
    origin: dict[str, Any] | None


def _attachments_of(conn: Connection, message_ids: list[int]) -> dict[int, list[Attachment]]:
    found: dict[int, list[Attachment]] = {message_id: [] for message_id in message_ids}
    if not message_ids:
        return found
    rows = conn.execute(
        select(attachments)
        .where(attachments.c.message_id.in_(message_ids))
        .order_by(attachments.c.message_id, attachments.c.position)
    )
    for row in rows:
        found[row.message_id].append(
            Attachment(
                name=row.name,
                declared_type=row.declared_type,
                sniffed_type=row.sniffed_type,
                size=row.size,
                source_url=row.source_url,
            )
        )
    return found


def _to_stored(row: Any, files: list[Attachment]) -> StoredMessage:
    message = Message(
        provider=Provider(row.provider),
        # Our own sends keep their connector key: the CRM record key must not change when the
        # provider's id becomes known (or changes on a retried send).
        provider_message_id=row.connector_key or row.provider_message_id or f"connector-{row.id}",
        direction=Direction(row.direction),
        line_number=row.line_number,
        other_party=row.other_party,
        text=row.text or "",
        attachments=tuple(files),
        status=DeliveryStatus(row.status),
        sent_at=row.sent_at,
        status_at=row.status_at,
    )
    return StoredMessage(id=row.id, thread_id=row.thread_id, message=message, origin=row.origin)


def _select() -> Any:
    return select(
        messages.c.id,
        messages.c.thread_id,
        messages.c.provider,
        messages.c.provider_message_id,
        messages.c.connector_key,
        messages.c.direction,
        messages.c.text,
        messages.c.status,
        messages.c.sent_at,
        messages.c.status_at,
        messages.c.origin,
        threads.c.line_number,
        threads.c.other_party,
    ).join(threads, threads.c.id == messages.c.thread_id)


def load_many(conn: Connection, message_ids: list[int]) -> dict[int, StoredMessage]:
    """The messages with these ids (missing ids are simply absent)."""
    if not message_ids:
        return {}
    rows = conn.execute(_select().where(messages.c.id.in_(message_ids))).all()
    files = _attachments_of(conn, [row.id for row in rows])
    return {row.id: _to_stored(row, files[row.id]) for row in rows}


def load(conn: Connection, message_id: int) -> StoredMessage | None:
    return load_many(conn, [message_id]).get(message_id)


def in_thread(
    conn: Connection,
    thread_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StoredMessage]:
    """A thread's messages in the order they were sent, optionally within [since, until)."""
    query = _select().where(messages.c.thread_id == thread_id)
    if since is not None:
        query = query.where(messages.c.sent_at >= since)
    if until is not None:
        query = query.where(messages.c.sent_at < until)
    rows = conn.execute(query.order_by(messages.c.sent_at, messages.c.id)).all()
    files = _attachments_of(conn, [row.id for row in rows])
    return [_to_stored(row, files[row.id]) for row in rows]


__all__ = ["StoredMessage", "in_thread", "load", "load_many"]
