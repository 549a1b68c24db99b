"""The HubSpot adapter: MMS conversations as Communications on the contact's timeline.

It implements `connector.crm.base.CrmAdapter`. One `write` call takes up to 100 records (the
sync's batch) and spends as few HubSpot calls as it can: the contacts of all its numbers are
resolved together (the shared cache in the database, then one search per few dozen numbers),
the companies and open deals of contacts not cached are read with association batch reads, and
the records are written in batch calls. Several worker threads may share one adapter, and
several processes one database: what it remembers between writes is shared and thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from connector.core import phone
from connector.core.errors import ConnectorError, Permanent, Transient
from connector.crm.base import (
    Associations,
    ConsentWrite,
    ConsentWriteResult,
    ContactCache,
    ContactRule,
    FieldInfo,
    RecordWrite,
    WriteResult,
)
from connector.crm.hubspot import consent, fields
from connector.crm.hubspot.answers import CallStats
from connector.crm.hubspot.batches import DEFAULT_SPLIT_BUDGET, Halt, SplitBudget
from connector.crm.hubspot.client import (
    CRM,
    DEFAULT_RATE_LIMIT,
    DEFAULT_SEARCH_RATE,
    DEFAULT_TIMEOUT,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    HubSpotApi,
)
from connector.crm.hubspot.contacts import CONTACT_WAIT_SECONDS, ContactResolver, Resolution
from connector.crm.hubspot.errors import HubSpotError
from connector.crm.hubspot.links import ContactLinks
from connector.crm.hubspot.records import Pending, RecordWriter
from connector.crm.ratelimit import Clock, Sleep
from connector.store.budgets import BucketStore

log = structlog.get_logger(__name__)


class HubSpotAdapter:
    """`CrmAdapter` for HubSpot, over hubspot-api-client.

    :param rate_limit: (requests, seconds) this app may make; HubSpot's lowest tier is 100 per
        10 s. Lowered at run time when the `X-HubSpot-RateLimit-*` headers say less is left.
    :param search_rate: search requests per second (HubSpot: about 4).
    :param timeout: (connect, read) seconds for every call.
    :param max_rate_limit_wait: seconds of 429 waits one call may spend before giving the
        records back to the queue with the wait as `retry_after`.
    :param split_budget: extra calls one `write` may spend splitting a batch HubSpot refused as
        a whole, to find the one bad record.
    :param contact_wait: seconds to wait for a contact another worker is creating, before giving
        the records back to the queue.
    :param budgets: where the rate budgets live; a store shared by every process (the
        database or Redis) keeps all of them inside HubSpot's per-app limits together. Without
        one, the budgets are this process's alone.
    :param clock, sleep: injectable for tests (the rate limiters and what expires use them).
    """

    name = CRM

    def __init__(
        self,
        access_token: str,
        base_url: str,
        contact_cache: ContactCache,
        *,
        rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT,
        search_rate: float = DEFAULT_SEARCH_RATE,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
        split_budget: int = DEFAULT_SPLIT_BUDGET,
        contact_wait: float = CONTACT_WAIT_SECONDS,
        budgets: BucketStore | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.api = HubSpotApi(
            access_token,
            base_url,
            rate_limit=rate_limit,
            search_rate=search_rate,
            timeout=timeout,
            max_rate_limit_wait=max_rate_limit_wait,
            budgets=budgets,
            clock=clock,
            sleep=sleep,
        )
        self.contact_cache = contact_cache
        self.split_budget = split_budget
        self._contacts = ContactResolver(
            self.api, contact_cache, wait_for_other_worker=contact_wait, sleep=sleep
        )
        self._links = ContactLinks(self.api, contact_cache)
        self._records = RecordWriter(self.api, clock)

    def budget_wait(self) -> float:
        """Seconds until the shared budget lets the next call start (for the sync's linger)."""
        return self.api.limiter.next_slot_in()

    @property
    def stats(self) -> CallStats:
        """Calls made, by operation and status, and 429s met: for the benchmark and tests."""
        return self.api.stats

    # ---- CrmAdapter ------------------------------------------------------------------------

    def write(self, records: Sequence[RecordWrite]) -> list[WriteResult]:
        """One result per record, in the order given.

        Records sharing a key (the same message twice, or a status update queued behind it) are
        written once, with the last one's fields, and share its result.
        """
        if not records:
            return []
        last_of_key = {(r.object_name, r.key): i for i, r in enumerate(records)}
        results: dict[int, WriteResult] = {}
        budget = SplitBudget(self.split_budget)
        try:
            self._write(records, sorted(last_of_key.values()), results, budget)
        except Halt as halt:
            log.warning("hubspot.write_halted", reason=halt.error.reason)
            for index in last_of_key.values():
                if index not in results:
                    results[index] = WriteResult(key=records[index].key, error=halt.error)
        out = []
        for record in records:
            shared = results.get(last_of_key[(record.object_name, record.key)])
            out.append(shared or _failure(record, Transient("HubSpot gave no outcome for it")))
        failed = sum(1 for r in out if r.error is not None)
        log.info("hubspot.written", records=len(records), failed=failed, calls=self.stats.calls)
        return out

    def describe(self, object_name: str) -> dict[str, FieldInfo]:
        try:
            return fields.describe(self.api, object_name)
        except HubSpotError as failure:
            raise failure.as_connector_error() from failure

    def ensure_fields(
        self, object_name: str, key_field: str, thread_field: str | None
    ) -> list[str]:
        try:
            lines = fields.ensure_fields(self.api, object_name, key_field, thread_field)
        except HubSpotError as failure:
            raise failure.as_connector_error() from failure
        self._records.forget_key_modes()
        return lines

    def check_credentials(self) -> None:
        """Read one contact property: a single GET that needs only the connector's scopes."""
        try:
            self.api.property_info("contacts", "phone")
        except HubSpotError as failure:
            raise failure.as_connector_error() from failure

    def write_consent(self, write: ConsentWrite) -> ConsentWriteResult:
        return consent.write_consent(self.api, self._contacts, write)

    def ensure_consent_fields(
        self, objects: Sequence[str], opted_out_field: str, opted_out_at_field: str | None
    ) -> list[str]:
        try:
            return consent.ensure_fields(self.api, objects, opted_out_field, opted_out_at_field)
        except HubSpotError as failure:
            raise failure.as_connector_error() from failure

    def close(self) -> None:
        self.api.close()

    # ---- the steps of a write --------------------------------------------------------------

    def _write(
        self,
        records: Sequence[RecordWrite],
        indexes: list[int],
        results: dict[int, WriteResult],
        budget: SplitBudget,
    ) -> None:
        numbers: dict[int, str] = {}
        wanted: dict[str, ContactRule] = {}
        for index in indexes:
            record = records[index]
            if not record.contact_rule.objects:
                continue
            number = phone.try_normalize(record.contact_phone)
            if number is None:
                results[index] = _failure(
                    record, Permanent("the contact's number cannot be read as a phone number")
                )
                continue
            numbers[index] = number
            wanted.setdefault(number, record.contact_rule)

        resolutions = self._contacts.resolve(wanted, budget) if wanted else {}
        links = self._links_of(records, numbers, resolutions)

        pending: dict[int, Pending] = {}
        for index in indexes:
            if index in results:
                continue
            record = records[index]
            number = numbers.get(index)
            resolution = resolutions.get(number, Resolution()) if number else Resolution()
            if resolution.error is not None:
                results[index] = _failure(record, resolution.error)
                continue
            if resolution.skipped is not None:
                results[index] = WriteResult(key=record.key, skipped=resolution.skipped)
                continue
            contact = resolution.contact
            found_links = links.get(contact.crm_id, []) if contact else []
            if isinstance(found_links, ConnectorError):
                results[index] = _failure(record, found_links)
                continue
            pending[index] = Pending(
                record=record,
                contact=contact,
                links=_wanted_links(record.associations, found_links),
                on_stale_contact=self._forgetter(number),
                on_stale_links=self._links_forgetter(contact.crm_id if contact else None),
            )
        by_item: dict[int, WriteResult] = {}
        try:
            self._records.write(list(pending.values()), budget, by_item)
        finally:
            for index, item in pending.items():
                if id(item) in by_item:
                    results[index] = by_item[id(item)]

    def _links_of(
        self,
        records: Sequence[RecordWrite],
        numbers: dict[int, str],
        resolutions: dict[str, Resolution],
    ) -> dict[str, list[tuple[str, str]] | ConnectorError]:
        """The companies and open deals of the contacts whose records ask for them."""
        wants: dict[str, Associations] = {}
        for index, number in numbers.items():
            if records[index].existing_id:
                continue  # an update: its associations were made when it was created
            asked = records[index].associations
            contact = resolutions.get(number, Resolution()).contact
            if contact is None or contact.crm_object != "contacts":
                continue
            if not (asked.company or asked.open_deals):
                continue
            before = wants.get(contact.crm_id, Associations())
            wants[contact.crm_id] = Associations(
                company=before.company or asked.company,
                open_deals=before.open_deals or asked.open_deals,
            )
        return self._links.targets(wants) if wants else {}

    def _forgetter(self, number: str | None) -> Callable[[], None] | None:
        if number is None:
            return None

        def forget() -> None:
            log.info("hubspot.contact_forgotten", phone=phone.mask(number))
            self.contact_cache.forget(CRM, number)

        return forget

    def _links_forgetter(self, contact_id: str | None) -> Callable[[], None] | None:
        if contact_id is None:
            return None

        def forget() -> None:
            log.info("hubspot.links_forgotten", contact_id=contact_id)
            self._links.forget([contact_id])

        return forget


def _wanted_links(asked: Associations, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Of a contact's company and open deals, those this record's mapping asks for."""
    return [
        (kind, i)
        for kind, i in found
        if (kind == "companies" and asked.company) or (kind == "deals" and asked.open_deals)
    ]


def _failure(record: RecordWrite, error: ConnectorError) -> WriteResult:
    return WriteResult(key=record.key, crm_object=record.object_name, error=error)
