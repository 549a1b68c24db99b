"""The Salesforce `CrmAdapter`: MMS conversations as Tasks on the Contact or Lead.

One `write` call (up to 200 records from the sync) costs, in a burst: nothing for numbers whose
contact is cached, one SOSL for all other numbers (more only past 4,000 characters of search
text), one SOQL `IN` query for the AccountIds of Contacts not cached when the mapping relates
activities to the account, one SOQL and one collection create when Leads must be created, and
one collections upsert per 200 records. What is cached (a number's Contact or Lead, a Contact's
AccountId) lives in the connector's database, shared by every process, for
`CONNECTOR_CRM_CACHE_SECONDS`.

A Lead or Contact creation refused as a duplicate, and an upsert that collided with another
worker's upsert of the same key (DUPLICATE_VALUE on the key), are the connector's own records:
the existing record is used or updated, and the job does not fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from simple_salesforce.format import format_soql

from connector.core import phone
from connector.core.errors import ConnectorError, Permanent, Transient
from connector.core.model import CrmContact, CrmLinks
from connector.crm.base import (
    ConsentWrite,
    ConsentWriteResult,
    ContactCache,
    FieldInfo,
    RecordWrite,
    WriteResult,
)
from connector.crm.salesforce import consent, setup
from connector.crm.salesforce.auth import SalesforceAuth, SalesforceCredentials, auth_for
from connector.crm.salesforce.client import SalesforceClient, Timeout
from connector.crm.salesforce.contacts import ContactOutcome, ContactRequest, ContactResolver
from connector.crm.salesforce.errors import STALE_REFERENCE_CODES, from_record, record_code
from connector.crm.salesforce.limits import ApiBudget
from connector.crm.salesforce.records import (
    COLLECTION_LIMIT,
    Links,
    Pending,
    blames,
    refused_create_only,
    task_body,
    upsert,
)
from connector.store.budgets import BucketStore

log = structlog.get_logger(__name__)

PERSON_OBJECTS = ("Contact", "Lead")
CRM = "salesforce"


class SalesforceAdapter:
    """Writes `RecordWrite`s as Salesforce activities; see the package docstring for the rules."""

    name = "salesforce"

    def __init__(
        self,
        auth: SalesforceAuth,
        contact_cache: ContactCache,
        *,
        api_version: str,
        timeout: Timeout = (5, 30),
        session: requests.Session | None = None,
        budget: ApiBudget | None = None,
        max_token_refreshes: int = 2,
        miss_ttl: float = 600.0,
    ) -> None:
        self.client = SalesforceClient(
            auth,
            api_version=api_version,
            timeout=timeout,
            session=session,
            budget=budget,
            max_token_refreshes=max_token_refreshes,
        )
        self.contacts = ContactResolver(self.client, contact_cache, miss_ttl=miss_ttl)
        self.cache = contact_cache

    # ---- CrmAdapter -------------------------------------------------------------------------
    def write(self, records: Sequence[RecordWrite]) -> list[WriteResult]:
        if not records:
            return []
        latest = {record.key: record for record in records}  # a repeated key: the last wins
        results: dict[str, WriteResult] = {}
        contacts = self._resolve_contacts(list(latest.values()))
        ready: list[tuple[RecordWrite, CrmContact | None]] = []
        for key, record in latest.items():
            outcome = contacts[key]
            if outcome.error is not None:
                results[key] = WriteResult(key=key, error=outcome.error)
            elif outcome.skipped is not None:
                results[key] = WriteResult(key=key, skipped=outcome.skipped)
            else:
                ready.append((record, outcome.contact))
        pending = self._links(ready)
        self._write_all(pending, results)
        written = sum(1 for r in results.values() if r.crm_id)
        log.info(
            "salesforce.write",
            records=len(records),
            written=written,
            failed=sum(1 for r in results.values() if r.error is not None),
            skipped=sum(1 for r in results.values() if r.skipped),
        )
        return [results[record.key] for record in records]

    def describe(self, object_name: str) -> dict[str, FieldInfo]:
        if not object_name.replace("_", "").isalnum():
            raise Permanent(f"not a Salesforce object name: {object_name!r}")
        answer = self.client.call(
            f"{object_name} describe",
            lambda sf: sf.restful(f"sobjects/{object_name}/describe"),
        )
        fields: dict[str, FieldInfo] = {}
        for item in (answer or {}).get("fields") or []:
            fields[item["name"]] = FieldInfo(
                name=item["name"],
                type=str(item.get("type") or ""),
                length=item.get("length") or None,
                writable=bool(item.get("createable") or item.get("updateable")),
                unique=bool(item.get("unique")),
                external_id=bool(item.get("externalId")),
            )
        return fields

    def ensure_fields(
        self, object_name: str, key_field: str, thread_field: str | None
    ) -> list[str]:
        return setup.ensure_fields(self.client, self.describe, object_name, key_field, thread_field)

    def check_credentials(self) -> None:
        """Read the org's limits: one GET, allowed to every API user, that needs a valid token."""
        self.client.call("the credentials check", lambda sf: sf.limits())

    def write_consent(self, write: ConsentWrite) -> ConsentWriteResult:
        return consent.write_consent(self.client, self.contacts, write)

    def ensure_consent_fields(
        self, objects: Sequence[str], opted_out_field: str, opted_out_at_field: str | None
    ) -> list[str]:
        return consent.ensure_fields(
            self.client, self.describe, objects, opted_out_field, opted_out_at_field
        )

    def close(self) -> None:
        self.client.close()

    # ---- contacts ---------------------------------------------------------------------------
    def _resolve_contacts(self, records: Sequence[RecordWrite]) -> dict[str, ContactOutcome]:
        by_key: dict[str, ContactOutcome] = {}
        wanted: dict[str, ContactRequest] = {}
        for record in records:
            origin = record.origin
            if origin and origin.system == self.name and origin.object in PERSON_OBJECTS:
                by_key[record.key] = ContactOutcome(
                    CrmContact(crm_object=origin.object, crm_id=origin.record_id)
                )
            else:
                wanted.setdefault(
                    record.contact_phone, ContactRequest(record.contact_rule, record.owner_id)
                )
        outcomes = self.contacts.resolve(wanted) if wanted else {}
        for record in records:
            by_key.setdefault(record.key, outcomes.get(record.contact_phone, ContactOutcome()))
        return by_key

    # ---- links ------------------------------------------------------------------------------
    def _links(self, ready: Sequence[tuple[RecordWrite, CrmContact | None]]) -> list[Pending]:
        wants_account = [
            contact.crm_id
            for record, contact in ready
            if contact is not None
            and contact.crm_object == "Contact"
            and record.associations.what_id == "account"
        ]
        accounts = self._account_ids(wants_account)
        pending: list[Pending] = []
        for record, contact in ready:
            links = Links(
                who_id=contact.crm_id if contact else None,
                who_object=contact.crm_object if contact else None,
                what_id=self._what_id(record, contact, accounts),
            )
            body = task_body(record, links, with_create_only=record.existing_id is None)
            pending.append(Pending(record, links, body))
        return pending

    def _what_id(
        self, record: RecordWrite, contact: CrmContact | None, accounts: dict[str, str | None]
    ) -> str | None:
        if contact is not None and contact.crm_object == "Lead":
            return None  # Salesforce allows no related record beside a Lead
        origin = record.origin
        if origin and origin.system == self.name and origin.object not in PERSON_OBJECTS:
            return origin.record_id
        what = record.associations.what_id
        if what == "account":
            return accounts.get(contact.crm_id) if contact else None
        return what

    def _account_ids(self, contact_ids: Sequence[str]) -> dict[str, str | None]:
        """Contact id -> AccountId: the shared cache, then one SOQL `IN` query per 200 others."""
        known = {
            cid: links.company_id for cid, links in self.cache.get_links(CRM, contact_ids).items()
        }
        unknown = sorted({cid for cid in contact_ids if cid not in known})
        for start in range(0, len(unknown), COLLECTION_LIMIT):
            chunk = unknown[start : start + COLLECTION_LIMIT]
            soql = format_soql("SELECT Id, AccountId FROM Contact WHERE Id IN {}", chunk)
            answer = self.client.query("Contact accounts (SOQL)", soql)
            found = {row["Id"]: row.get("AccountId") for row in answer.get("records") or []}
            read = {cid: found.get(cid) or _by_15(found, cid) for cid in chunk}
            self.cache.put_links(CRM, {cid: CrmLinks(company_id=a) for cid, a in read.items()})
            known.update(read)
        return known

    # ---- upserts ----------------------------------------------------------------------------
    def _write_all(self, pending: Sequence[Pending], results: dict[str, WriteResult]) -> None:
        groups: dict[tuple[str, str], list[Pending]] = {}
        for item in pending:
            groups.setdefault((item.record.object_name, item.record.key_field), []).append(item)
        batches = [
            (object_name, key_field, items[start : start + COLLECTION_LIMIT])
            for (object_name, key_field), items in groups.items()
            for start in range(0, len(items), COLLECTION_LIMIT)
        ]
        again: list[Pending] = []
        for object_name, key_field, batch in batches:
            again.extend(self._upsert_batch(object_name, key_field, batch, results))
        # Records an earlier, unanswered attempt created: the same upsert minus create-only fields.
        for start in range(0, len(again), COLLECTION_LIMIT):
            batch = again[start : start + COLLECTION_LIMIT]
            retry = [
                Pending(p.record, p.links, task_body(p.record, p.links, with_create_only=False))
                for p in batch
            ]
            first = batch[0].record
            self._upsert_batch(
                first.object_name, first.key_field, retry, results, retry_create_only=False
            )

    def _upsert_batch(
        self,
        object_name: str,
        key_field: str,
        batch: Sequence[Pending],
        results: dict[str, WriteResult],
        *,
        retry_create_only: bool = True,
    ) -> list[Pending]:
        """Send one collection; settle each record's result; return the ones to send again."""
        try:
            answers = upsert(self.client, object_name, key_field, [p.body for p in batch])
        except ConnectorError as exc:
            if not any(r.crm_id for r in results.values()):
                raise  # nothing written yet: the error is the whole call's
            for item in batch:  # keep what earlier batches wrote
                results[item.record.key] = WriteResult(key=item.record.key, error=exc)
            return []
        again: list[Pending] = []
        for index, item in enumerate(batch):
            record, key = item.record, item.record.key
            answer: dict[str, Any] = answers[index] if index < len(answers) else {}
            if answer.get("success"):
                results[key] = WriteResult(
                    key=key,
                    crm_id=answer.get("id"),
                    crm_object=object_name,
                    contact_id=item.links.who_id,
                )
                continue
            errors = answer.get("errors") or []
            if not answer:
                error: ConnectorError = Transient("Salesforce gave no answer for this record")
            elif retry_create_only and refused_create_only(item, errors):
                again.append(item)
                continue
            elif record_code(errors) == "DUPLICATE_VALUE" and blames(errors, key_field):
                # Another worker's upsert of the same key created it a moment ago: update it.
                if retry_create_only:
                    again.append(item)
                    continue
                error = Transient(
                    f"Salesforce {object_name} upsert collided with another upsert of the same "
                    "key: tried again shortly",
                    1.0,
                )
            elif record_code(errors) in STALE_REFERENCE_CODES and blames(errors, "WhoId"):
                self.contacts.forget(record.contact_phone)
                log.info("salesforce.contact_gone", phone=phone.mask(record.contact_phone))
                error = Transient(
                    f"the Salesforce {item.links.who_object or 'contact'} of "
                    f"{phone.mask(record.contact_phone)} no longer exists: it is looked up again",
                    1.0,
                )
            elif record_code(errors) in STALE_REFERENCE_CODES and blames(errors, "WhatId"):
                if item.links.who_id:
                    self.cache.forget_links(CRM, [item.links.who_id])
                error = Transient("the related Salesforce record no longer exists", 1.0)
            else:
                error = from_record(errors, f"{object_name} upsert")
            results[key] = WriteResult(key=key, contact_id=item.links.who_id, error=error)
        return again


def _by_15(found: dict[str, Any], contact_id: str) -> Any:
    """Salesforce answers 18-character ids; a cached id may be the 15-character form."""
    return next((v for k, v in found.items() if k[:15] == contact_id[:15]), None)


@dataclass(frozen=True)
class SalesforceConfig:
    """Everything the composition root decides for the adapter, as values."""

    credentials: SalesforceCredentials
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    api_usage_soft: float = 0.80
    api_usage_hard: float = 0.95
    cache_seconds: float = 10800.0


def from_config(
    config: SalesforceConfig, contact_cache: ContactCache, budgets: BucketStore | None = None
) -> SalesforceAdapter:
    """The adapter the configuration describes (`ConfigError` when the credentials are
    incomplete)."""
    budget = ApiBudget(soft=config.api_usage_soft, hard=config.api_usage_hard, store=budgets)
    return SalesforceAdapter(
        auth_for(config.credentials),
        contact_cache,
        api_version=config.credentials.api_version,
        timeout=(config.connect_timeout, config.read_timeout),
        budget=budget,
        # numbers without a match are remembered in this process only: never past the cache
        miss_ttl=min(600.0, config.cache_seconds),
    )
