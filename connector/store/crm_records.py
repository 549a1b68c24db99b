"""What the connector remembers of each CRM: the record of each message (a retry updates it).

The contact of each phone, and a contact's company and deals, are in `crm_cache`
(`SqlContactCache`, re-exported here for the modules that import it from this one).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, and_, insert, select, update

from connector.store.crm_cache import SqlContactCache
from connector.store.queue import utcnow
from connector.store.tables import crm_records

__all__ = ["SqlContactCache", "known_records", "records_of_message", "remember"]


def known_records(conn: Connection, crm: str, keys: Iterable[str]) -> dict[str, str]:
    """record key -> CRM id, for the records this CRM already holds."""
    keys = list(keys)
    if not keys:
        return {}
    rows = conn.execute(
        select(crm_records.c.record_key, crm_records.c.crm_id).where(
            and_(
                crm_records.c.crm == crm,
                crm_records.c.record_key.in_(keys),
                crm_records.c.crm_id.is_not(None),
            )
        )
    )
    return {row.record_key: row.crm_id for row in rows}


def remember(
    conn: Connection,
    crm: str,
    message_id: int,
    *,
    record_key: str,
    crm_object: str | None,
    crm_id: str | None,
    contact_id: str | None,
) -> None:
    values = {
        "record_key": record_key,
        "crm_object": crm_object,
        "crm_id": crm_id,
        "contact_id": contact_id,
        "synced_at": utcnow(),
    }
    updated = conn.execute(
        update(crm_records)
        .where(and_(crm_records.c.crm == crm, crm_records.c.message_id == message_id))
        .values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(insert(crm_records).values(crm=crm, message_id=message_id, **values))


def records_of_message(conn: Connection, message_id: int) -> dict[str, str | None]:
    """crm -> CRM id of the message's record, for the API and the pages."""
    rows = conn.execute(
        select(crm_records.c.crm, crm_records.c.crm_id).where(
            crm_records.c.message_id == message_id
        )
    )
    return {row.crm: row.crm_id for row in rows}
