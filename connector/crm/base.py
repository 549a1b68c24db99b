"""The one interface the sync uses for every CRM, and the records that cross it.

The sync (connector/sync/crm_sync.py) reads the database, renders each message through the
admin's mapping and hands the adapter finished `RecordWrite`s; the adapter finds or creates the
contact, writes the records in as few calls as its CRM allows, and says per record what
happened. Adapters never touch the database: what they must remember between runs (contact ids)
goes through the `ContactCache` port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from connector.core import phone
from connector.core.errors import ConnectorError, Permanent
from connector.core.model import CrmContact, CrmLinks


@dataclass(frozen=True)
class FieldInfo:
    """What a CRM says of one field, for `mappings check --online` and `mappings setup`."""

    name: str
    type: str
    length: int | None = None
    writable: bool = True
    unique: bool = False
    external_id: bool = False


@dataclass(frozen=True)
class Origin:
    """The CRM record a send was made from: the sent message is logged there."""

    system: str
    object: str
    record_id: str


@dataclass(frozen=True)
class ContactRule:
    """How to find the contact of a phone number, and what to do when none matches.

    Built by the sync from the admin's mapping, so adapters need not know the YAML schema.
    """

    objects: tuple[str, ...]
    phone_fields: Mapping[str, tuple[str, ...]]
    on_no_match: str = "create"  # create | skip | unassociated
    create_object: str | None = None
    create_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Associations:
    """Extra links of an activity besides its contact (HubSpot company/deals, Salesforce WhatId)."""

    company: bool = False
    open_deals: bool = False
    what_id: str | None = None  # Salesforce: None, "account" (the Contact's AccountId), or an id


@dataclass(frozen=True)
class RecordWrite:
    """One activity record to create or update in a CRM.

    `key` is the idempotency key written into the record's unique field (a message key, or a
    thread-and-day key for `conversation_day`): whatever happened to an earlier attempt, writing
    the same key again must update, never duplicate.
    """

    key: str
    thread_key: str
    object_name: str
    fields: Mapping[str, Any]
    contact_phone: str
    contact_rule: ContactRule
    key_field: str
    thread_field: str | None = None
    associations: Associations = field(default_factory=Associations)
    owner_id: str | None = None
    existing_id: str | None = None
    origin: Origin | None = None
    message_ids: tuple[int, ...] = ()
    create_only: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class WriteResult:
    """What became of one `RecordWrite`: its CRM id, or the classified error."""

    key: str
    crm_id: str | None = None
    crm_object: str | None = None
    contact_id: str | None = None
    error: ConnectorError | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class ConsentWrite:
    """A number's consent state, for the contact it matches (a consent write never creates one).

    `opted_out_at` is the time of the opt-out in force, None once the number opted back in (the
    field is then cleared).
    """

    phone: str
    contact_rule: ContactRule
    opted_out: bool
    opted_out_at: datetime | None
    opted_out_field: str
    opted_out_at_field: str | None = None

    def lookup(self) -> tuple[str, ContactRule]:
        """The number in E.164 and the rule to find its contact with, which never creates one;
        `Permanent` when the number cannot be read."""
        number = phone.try_normalize(self.phone)
        if number is None:
            raise Permanent("the number cannot be read as a phone number")
        return number, replace(self.contact_rule, on_no_match="skip")


@dataclass(frozen=True)
class ConsentWriteResult:
    """The contact(s) written, or why none was (`skipped`: no contact has the number)."""

    contacts: tuple[CrmContact, ...] = ()
    skipped: str | None = None


class ContactCache(Protocol):
    """What an adapter remembers of its CRM's contacts, kept in the connector's database so every
    process shares it, each entry for a configured time (`CONNECTOR_CRM_CACHE_SECONDS`).

    phone (E.164) -> the contact it resolved to; contact id -> its company and open deals. The
    `_many`/links methods take a whole batch at once: one query, not one per record.
    """

    def get_many(self, crm: str, phones: Sequence[str]) -> dict[str, CrmContact]: ...

    def put(self, crm: str, phone: str, contact: CrmContact) -> None: ...

    def put_many(self, crm: str, contacts: Mapping[str, CrmContact]) -> None: ...

    def reserve(self, crm: str, phone: str) -> bool:
        """Take the right to create the contact for `phone`; False when another worker holds
        it (it is creating that contact now): retry later and find it cached."""
        ...

    def forget(self, crm: str, phone: str) -> None: ...

    def get_links(self, crm: str, contact_ids: Sequence[str]) -> dict[str, CrmLinks]: ...

    def put_links(self, crm: str, links: Mapping[str, CrmLinks]) -> None: ...

    def forget_links(self, crm: str, contact_ids: Sequence[str]) -> None: ...


class CrmAdapter(Protocol):
    name: str

    def write(self, records: Sequence[RecordWrite]) -> list[WriteResult]:
        """Write the records (batched as the CRM allows); one result per record, any order.

        Errors that concern one record go into its result; an error that concerns the whole
        call (credentials, the CRM down) may be raised and then applies to every record.
        """
        ...

    def describe(self, object_name: str) -> dict[str, FieldInfo]:
        """The fields of an object as the live CRM describes them."""
        ...

    def ensure_fields(
        self, object_name: str, key_field: str, thread_field: str | None
    ) -> list[str]:
        """Create the custom fields the connector needs for idempotency (safe to run twice);
        the lines say what was done, or exactly what an admin must create by hand."""
        ...

    def check_credentials(self) -> None:
        """One cheap authenticated read: raises CredentialsError while the CRM refuses the
        credentials (a paused CRM is re-checked with this, and resumed once it passes)."""
        ...

    def write_consent(self, write: ConsentWrite) -> ConsentWriteResult:
        """Write a number's opt-out state onto the contact it matches (never creating one)."""
        ...

    def ensure_consent_fields(
        self, objects: Sequence[str], opted_out_field: str, opted_out_at_field: str | None
    ) -> list[str]:
        """Create the opt-out fields on the contact objects (safe to run twice); the lines say
        what was done, or what an admin must create by hand."""
        ...

    def close(self) -> None: ...
