"""Consent changes: appended, never edited; a number's state is its latest change.

Each change is committed with its cause (the STOP message, the refused send, the admin's
action) and with one `sync_consent` job per CRM that writes the state onto the matched contact,
so the CRM follows without a second source of truth: the job always writes the number's
*current* state, whichever change queued it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select

from connector.core import consent
from connector.core.consent import ConsentChange, ConsentSource, Keywords
from connector.core.events import EventKind, ProviderEvent
from connector.core.model import Direction, Provider
from connector.store import queue
from connector.store.queue import utcnow
from connector.store.tables import consent_changes

SYNC_CONSENT = "sync_consent"


def _change_of(row: Any) -> ConsentChange:
    return ConsentChange(
        id=row.id,
        number=row.number,
        opted_out=bool(row.opted_out),
        source=ConsentSource(row.source),
        reason=row.reason,
        at=row.at,
        message_id=row.message_id,
        actor=row.actor,
    )


def record(
    conn: Connection,
    change: ConsentChange,
    *,
    crms: Sequence[str] = (),
    ordering: Mapping[str, str] | None = None,
) -> ConsentChange:
    """Append `change` and queue its CRM writes; returns it with its id.

    `ordering` gives a CRM's job an ordering key (the STOP message's thread, so the contact that
    message may create exists before its consent is written); by default the number's own.
    """
    now = utcnow()
    change_id = conn.execute(
        insert(consent_changes)
        .values(
            number=change.number,
            opted_out=change.opted_out,
            source=change.source.value,
            reason=change.reason,
            message_id=change.message_id,
            actor=change.actor,
            at=change.at,
            created_at=now,
        )
        .returning(consent_changes.c.id)
    ).scalar_one()
    queue.enqueue_many(
        conn,
        [
            {
                "kind": SYNC_CONSENT,
                "target": crm,
                "subject": change_id,
                "ordering_key": (ordering or {}).get(crm, f"{crm}:consent:{change.number}"),
            }
            for crm in crms
        ],
    )
    return change.model_copy(update={"id": change_id})


def _latest_first() -> tuple[Any, ...]:
    return (consent_changes.c.at.desc(), consent_changes.c.id.desc())


def current(conn: Connection, number: str) -> ConsentChange | None:
    """The number's latest change (its state), or None: never opted out, free to message."""
    row = conn.execute(
        select(consent_changes)
        .where(consent_changes.c.number == number)
        .order_by(*_latest_first())
        .limit(1)
    ).first()
    return _change_of(row) if row else None


def history(conn: Connection, number: str, limit: int = 1000) -> list[ConsentChange]:
    """Every change of the number, newest first."""
    rows = conn.execute(
        select(consent_changes)
        .where(consent_changes.c.number == number)
        .order_by(*_latest_first())
        .limit(limit)
    )
    return [_change_of(row) for row in rows]


def get(conn: Connection, change_id: int) -> ConsentChange | None:
    row = conn.execute(select(consent_changes).where(consent_changes.c.id == change_id)).first()
    return _change_of(row) if row else None


def opted_out(conn: Connection, *, limit: int = 100, offset: int = 0) -> list[ConsentChange]:
    """Numbers whose current state is opted out, most recent first, with their latest change."""
    ranked = select(
        consent_changes,
        func.row_number()
        .over(partition_by=consent_changes.c.number, order_by=_latest_first())
        .label("rank"),
    ).subquery()
    rows = conn.execute(
        select(ranked)
        .where(and_(ranked.c.rank == 1, ranked.c.opted_out.is_(True)))
        .order_by(ranked.c.at.desc(), ranked.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_change_of(row) for row in rows]


def count_opted_out(conn: Connection) -> int:
    later = consent_changes.alias("later")
    newer = (
        select(later.c.id)
        .where(
            and_(
                later.c.number == consent_changes.c.number,
                or_(
                    later.c.at > consent_changes.c.at,
                    and_(later.c.at == consent_changes.c.at, later.c.id > consent_changes.c.id),
                ),
            )
        )
        .exists()
    )
    return int(
        conn.execute(
            select(func.count())
            .select_from(consent_changes)
            .where(and_(consent_changes.c.opted_out.is_(True), ~newer))
        ).scalar_one()
    )


# -- the webhook path ---------------------------------------------------------------------------


def record_keywords(
    conn: Connection,
    kept: Sequence[tuple[ProviderEvent, int | None, int | None, Sequence[str]]],
    keywords: Mapping[Provider, Keywords] | None = None,
) -> list[ConsentChange]:
    """The consent changes a batch of kept webhook events carries, written with them.

    `kept` holds (event, message id, thread id, CRMs) for each event that was newly kept (not a
    duplicate). Only a received message whose whole text is a keyword changes anything: STOP
    always (each one is recorded, as proof), START/YES only for a number currently opted out
    (a "Yes" in an ordinary conversation is not a consent event).
    """
    changes: list[ConsentChange] = []
    for event, message_id, thread_id, crms in kept:
        message = event.message
        if (
            message is None
            or message_id is None
            or event.kind is not EventKind.MESSAGE_RECEIVED
            or message.direction is not Direction.INBOUND
        ):
            continue
        found = consent.keyword_in(
            message.text, (keywords or {}).get(message.provider, consent.DEFAULT_KEYWORDS)
        )
        if found is None:
            continue
        opted_out, word = found
        if _caused_by(conn, message_id):
            continue  # the same message again (a provider may send it under two event ids)
        if not opted_out:
            state = current(conn, message.other_party)
            if state is None or not state.opted_out:
                continue
        change = consent.from_keyword(
            message.other_party, opted_out, word, message.sent_at, message_id
        )
        ordering = {crm: f"{crm}:thread:{thread_id}" for crm in crms} if thread_id else None
        changes.append(record(conn, change, crms=crms, ordering=ordering))
    return changes


def _caused_by(conn: Connection, message_id: int) -> bool:
    return (
        conn.execute(
            select(consent_changes.c.id).where(consent_changes.c.message_id == message_id).limit(1)
        ).first()
        is not None
    )
