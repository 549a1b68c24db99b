"""Which conversations belong to a CRM record (a HubSpot contact, a Salesforce Contact or Lead).

Threads are kept per provider, line and other party's number; a record owns a thread when the
connector matched that number to the record (`crm_contacts`, kept past its cache expiry), or
logged one of the thread's messages on it (`crm_records.contact_id`). Nothing here trusts a
number given by the caller: a card sees the conversations the connector itself tied to the
record, never those of a number someone typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select

from connector.store.tables import crm_contacts, crm_records, messages, threads

_RESERVED = ""  # a contact creation under way (crm_cache), not yet a record


@dataclass(frozen=True)
class RecordThread:
    id: int
    line_number: str
    other_party: str
    last_message_at: datetime


@dataclass(frozen=True)
class MessageRef:
    """One message of a record's conversations, newest first."""

    id: int
    thread_id: int
    sent_at: datetime


def record_threads(conn: Connection, crm: str, record_id: str) -> list[RecordThread]:
    """The record's threads, the most recently active first."""
    numbers = select(crm_contacts.c.phone).where(
        and_(
            crm_contacts.c.crm == crm,
            crm_contacts.c.crm_id == record_id,
            crm_contacts.c.crm_id != _RESERVED,
        )
    )
    logged = (
        select(messages.c.thread_id)
        .join(crm_records, crm_records.c.message_id == messages.c.id)
        .where(and_(crm_records.c.crm == crm, crm_records.c.contact_id == record_id))
    )
    rows = conn.execute(
        select(
            threads.c.id, threads.c.line_number, threads.c.other_party, threads.c.last_message_at
        )
        .where(or_(threads.c.other_party.in_(numbers), threads.c.id.in_(logged)))
        .order_by(threads.c.last_message_at.desc(), threads.c.id.desc())
    )
    return [
        RecordThread(
            id=row.id,
            line_number=row.line_number,
            other_party=row.other_party,
            last_message_at=row.last_message_at,
        )
        for row in rows
    ]


def recent_messages(
    conn: Connection, thread_ids: list[int], *, limit: int, before: int | None = None
) -> tuple[list[MessageRef], int | None]:
    """Up to `limit` messages of these threads, newest first, older than message `before`.

    Returns the page and the id to ask `before` for the next one (None on the last page). A
    `before` that is not one of these threads' messages yields an empty page.
    """
    if not thread_ids:
        return [], None
    query = select(messages.c.id, messages.c.thread_id, messages.c.sent_at).where(
        messages.c.thread_id.in_(thread_ids)
    )
    if before is not None:
        anchor = conn.execute(
            select(messages.c.sent_at).where(
                and_(messages.c.id == before, messages.c.thread_id.in_(thread_ids))
            )
        ).first()
        if anchor is None:
            return [], None
        query = query.where(
            or_(
                messages.c.sent_at < anchor.sent_at,
                and_(messages.c.sent_at == anchor.sent_at, messages.c.id < before),
            )
        )
    rows = conn.execute(
        query.order_by(messages.c.sent_at.desc(), messages.c.id.desc()).limit(limit + 1)
    ).all()
    page = [MessageRef(id=r.id, thread_id=r.thread_id, sent_at=r.sent_at) for r in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)
