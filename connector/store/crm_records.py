"""What the connector remembers of each CRM: the record of each message, the contact of each
phone. Both make retries safe: a known record is updated, a known contact is not searched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.core.model import CrmContact
from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import crm_contacts, crm_records

# A contact creation reserved by a worker that died is free again after this.
RESERVATION_TIMEOUT = timedelta(minutes=2)
_RESERVED = ""


class SqlContactCache:
    """The `ContactCache` port over the connector's database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def get_many(self, crm: str, phones: Sequence[str]) -> dict[str, CrmContact]:
        if not phones:
            return {}
        with self.database.read() as conn:
            rows = conn.execute(
                select(
                    crm_contacts.c.phone, crm_contacts.c.crm_object, crm_contacts.c.crm_id
                ).where(and_(crm_contacts.c.crm == crm, crm_contacts.c.phone.in_(list(phones))))
            )
            return {
                row.phone: CrmContact(crm_object=row.crm_object, crm_id=row.crm_id)
                for row in rows
                if row.crm_id != _RESERVED
            }

    def put(self, crm: str, phone: str, contact: CrmContact) -> None:
        with self.database.begin() as conn:
            updated = conn.execute(
                update(crm_contacts)
                .where(and_(crm_contacts.c.crm == crm, crm_contacts.c.phone == phone))
                .values(crm_object=contact.crm_object, crm_id=contact.crm_id, updated_at=utcnow())
            )
            if updated.rowcount == 0:
                conn.execute(
                    insert(crm_contacts).values(
                        crm=crm,
                        phone=phone,
                        crm_object=contact.crm_object,
                        crm_id=contact.crm_id,
                        updated_at=utcnow(),
                    )
                )

    def forget(self, crm: str, phone: str) -> None:
        with self.database.begin() as conn:
            conn.execute(
                delete(crm_contacts).where(
                    and_(crm_contacts.c.crm == crm, crm_contacts.c.phone == phone)
                )
            )

    def reserve(self, crm: str, phone: str) -> bool:
        now = utcnow()
        with self.database.begin() as conn:
            conn.execute(
                delete(crm_contacts).where(
                    and_(
                        crm_contacts.c.crm == crm,
                        crm_contacts.c.phone == phone,
                        crm_contacts.c.crm_id == _RESERVED,
                        crm_contacts.c.updated_at < now - RESERVATION_TIMEOUT,
                    )
                )
            )
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(crm_contacts).values(
                            crm=crm, phone=phone, crm_object="", crm_id=_RESERVED, updated_at=now
                        )
                    )
            except IntegrityError:
                return False
        return True


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
