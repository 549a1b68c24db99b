"""What the connector knows of each CRM's contacts, shared by every process through the database.

Two facts are kept, each for `ttl` (`CONNECTOR_CRM_CACHE_SECONDS`) and then read from the CRM
again: which contact a phone number resolved to (`crm_contacts`), and what a contact's
activities are linked to besides it, its primary company and open deals (`crm_contact_links`).
Every worker process and replica reads the same rows, so a number is searched and a contact's
associations are read once per expiry for the whole deployment, not once per process.

A contact is created only by the process that reserved its number: the reservation is a
`crm_contacts` row with an empty id, inserted under the table's unique (crm, phone) constraint,
so two workers racing for the same number cannot both win, whichever process they run in. A
reservation whose holder died is free again after `RESERVATION_TIMEOUT`.

Every read of a batch is one query (all its phones, all its contacts), and every write of a
batch one upsert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from connector.core.model import CrmContact, CrmLinks
from connector.store.db import Database
from connector.store.queue import utcnow
from connector.store.tables import crm_contact_links, crm_contacts

DEFAULT_TTL = timedelta(hours=3)
# A contact creation reserved by a worker that died is free again after this.
RESERVATION_TIMEOUT = timedelta(minutes=2)
_RESERVED = ""
_CHUNK = 500  # values per IN list, well inside every driver's parameter limit


class SqlContactCache:
    """The `ContactCache` port (`connector.crm.base`) over the connector's database."""

    def __init__(
        self,
        database: Database,
        *,
        ttl: timedelta = DEFAULT_TTL,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("the CRM cache expiry must be positive")
        self.database = database
        self.ttl = ttl
        self.clock = clock

    # ---- phone -> contact ------------------------------------------------------------------

    def get_many(self, crm: str, phones: Sequence[str]) -> dict[str, CrmContact]:
        """The contacts of those phones that are known and not expired (one query)."""
        if not phones:
            return {}
        fresh_since = self.clock() - self.ttl
        found: dict[str, CrmContact] = {}
        with self.database.read() as conn:
            for chunk in _chunks(sorted(set(phones))):
                rows = conn.execute(
                    select(
                        crm_contacts.c.phone, crm_contacts.c.crm_object, crm_contacts.c.crm_id
                    ).where(
                        crm_contacts.c.crm == crm,
                        crm_contacts.c.phone.in_(chunk),
                        crm_contacts.c.crm_id != _RESERVED,
                        crm_contacts.c.updated_at >= fresh_since,
                    )
                )
                found.update(
                    (row.phone, CrmContact(crm_object=row.crm_object, crm_id=row.crm_id))
                    for row in rows
                )
        return found

    def put(self, crm: str, phone: str, contact: CrmContact) -> None:
        self.put_many(crm, {phone: contact})

    def put_many(self, crm: str, contacts: Mapping[str, CrmContact]) -> None:
        """Remember (or refresh) the contact of each phone, in one transaction; a reservation of
        the phone becomes the contact."""
        if not contacts:
            return
        now = self.clock()
        rows = [
            {
                "crm": crm,
                "phone": phone,
                "crm_object": contact.crm_object,
                "crm_id": contact.crm_id,
                "updated_at": now,
            }
            for phone, contact in sorted(contacts.items())  # one lock order for every writer
        ]
        with self.database.begin() as conn:
            _upsert(conn, crm_contacts, rows, ("crm", "phone"), ("crm_object", "crm_id"))

    def forget(self, crm: str, phone: str) -> None:
        """The contact is gone (deleted, merged), or a reservation is released."""
        with self.database.begin() as conn:
            conn.execute(
                delete(crm_contacts).where(
                    and_(crm_contacts.c.crm == crm, crm_contacts.c.phone == phone)
                )
            )

    def reserve(self, crm: str, phone: str) -> bool:
        """Take the right to create the contact of `phone`: True for exactly one caller across
        all processes until it puts the contact, forgets the phone, or the reservation ages out.
        An expired contact row is no obstacle (it is what the caller just failed to find)."""
        now = self.clock()
        with self.database.begin() as conn:
            conn.execute(
                delete(crm_contacts).where(
                    crm_contacts.c.crm == crm,
                    crm_contacts.c.phone == phone,
                    or_(
                        and_(
                            crm_contacts.c.crm_id == _RESERVED,
                            crm_contacts.c.updated_at < now - RESERVATION_TIMEOUT,
                        ),
                        and_(
                            crm_contacts.c.crm_id != _RESERVED,
                            crm_contacts.c.updated_at < now - self.ttl,
                        ),
                    ),
                )
            )
            row = {"crm": crm, "phone": phone, "crm_object": "", "crm_id": _RESERVED}
            inserted = _insert_new(conn, crm_contacts, {**row, "updated_at": now}, ("crm", "phone"))
        return inserted

    # ---- contact -> company and open deals -------------------------------------------------

    def get_links(self, crm: str, contact_ids: Sequence[str]) -> dict[str, CrmLinks]:
        """The links of those contacts that were read from the CRM within the expiry."""
        if not contact_ids:
            return {}
        fresh_since = self.clock() - self.ttl
        table = crm_contact_links
        found: dict[str, CrmLinks] = {}
        with self.database.read() as conn:
            for chunk in _chunks(sorted(set(contact_ids))):
                rows = conn.execute(
                    select(table.c.contact_id, table.c.company_id, table.c.deal_ids).where(
                        table.c.crm == crm,
                        table.c.contact_id.in_(chunk),
                        table.c.read_at >= fresh_since,
                    )
                )
                found.update(
                    (
                        row.contact_id,
                        CrmLinks(
                            company_id=row.company_id,
                            deal_ids=tuple(str(d) for d in row.deal_ids or ()),
                        ),
                    )
                    for row in rows
                )
        return found

    def put_links(self, crm: str, links: Mapping[str, CrmLinks]) -> None:
        if not links:
            return
        now = self.clock()
        rows = [
            {
                "crm": crm,
                "contact_id": contact_id,
                "company_id": found.company_id,
                "deal_ids": list(found.deal_ids),
                "read_at": now,
            }
            for contact_id, found in sorted(links.items())
        ]
        with self.database.begin() as conn:
            _upsert(
                conn,
                crm_contact_links,
                rows,
                ("crm", "contact_id"),
                ("company_id", "deal_ids"),
            )

    def forget_links(self, crm: str, contact_ids: Sequence[str]) -> None:
        """A linked company or deal is gone: read the contact's links again next time."""
        if not contact_ids:
            return
        with self.database.begin() as conn:
            conn.execute(
                delete(crm_contact_links).where(
                    crm_contact_links.c.crm == crm,
                    crm_contact_links.c.contact_id.in_(sorted(set(contact_ids))),
                )
            )


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


def _dialect_insert(conn: Connection, table: Table) -> Any:
    """`INSERT` with `ON CONFLICT`, in the dialect of the connection (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _upsert(
    conn: Connection,
    table: Table,
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    columns: tuple[str, ...],
) -> None:
    statement = _dialect_insert(conn, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in (*columns, _time_column(table))},
    )
    conn.execute(statement, rows)


def _insert_new(conn: Connection, table: Table, row: dict[str, Any], keys: tuple[str, ...]) -> bool:
    """Insert unless a row with the same keys exists; whether this call inserted it."""
    statement = (
        _dialect_insert(conn, table)
        .values(**row)
        .on_conflict_do_nothing(index_elements=list(keys))
        .returning(table.c.id)
    )
    return conn.execute(statement).first() is not None


def _time_column(table: Table) -> str:
    return "updated_at" if table is crm_contacts else "read_at"
