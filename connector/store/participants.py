"""The participants of group conversations: who, besides the company's line, is in the thread.

Written by the ingest path's one hook (`remember`, in the same transaction as the message), read
by the CRM sync (each participant's contact gets the record) and the conversation page.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.queue import utcnow
from connector.store.tables import thread_participants


@functools.cache
def _insert(dialect: str) -> Any:
    insert_ = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert_(thread_participants)
        .values(
            thread_id=bindparam("thread_id"), phone=bindparam("phone"), added_at=bindparam("at")
        )
        .on_conflict_do_nothing(index_elements=["thread_id", "phone"])
    )


def remember(conn: Connection, thread_id: int | None, phones: Sequence[str]) -> None:
    """Add the numbers not yet listed (a replay or a later message adds nothing twice)."""
    if thread_id is None or not phones:
        return
    now = utcnow()
    conn.execute(
        _insert(conn.dialect.name),
        [{"thread_id": thread_id, "phone": phone, "at": now} for phone in phones],
    )


def of_threads(conn: Connection, thread_ids: Iterable[int]) -> dict[int, list[str]]:
    """thread id -> its participants, first listed first; threads without any are left out."""
    ids = sorted(set(thread_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(thread_participants.c.thread_id, thread_participants.c.phone)
        .where(thread_participants.c.thread_id.in_(ids))
        .order_by(thread_participants.c.thread_id, thread_participants.c.id)
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(int(row.thread_id), []).append(row.phone)
    return found
