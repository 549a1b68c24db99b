"""Who an MMS belongs to in Salesforce: the Contact or Lead whose phone is the number.

The search and the pick are in `matching.py`. The choice is cached per number, so later
messages keep the same record until the cache forgets it (the record was deleted or merged), and
a burst of unknown numbers costs a SOSL call or two, cached numbers none. When the rule says to
create a Lead (or Contact), the number is reserved in the cache first so two workers never
create two, and an exact SOQL lookup of the E.164 value the connector writes catches a creation
whose answer was lost (SOSL's index may lag behind).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
import structlog
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from connector.core import phone
from connector.core.errors import ConnectorError, Permanent, Transient
from connector.core.model import CrmContact
from connector.crm.base import ContactCache, ContactRule
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.errors import (
    DUPLICATE_CODES,
    backoff,
    existing_record_id,
    from_record,
    record_code,
)
from connector.crm.salesforce.matching import (
    MAX_FIND_CHARS,
    NAME,
    chunks_by_length,
    only,
    phone_fields,
    pick,
    sosl_query,
)

log = structlog.get_logger(__name__)

CRM = "salesforce"
COLLECTION_LIMIT = 200
SOSL_ROW_LIMIT = 2_000
MISS_MEMORY = 10_000  # numbers remembered as unmatched, to spare repeated searches


@dataclass(frozen=True)
class ContactRequest:
    """What the records of one number need: the rule, and the owner a created record gets."""

    rule: ContactRule
    owner_id: str | None = None


@dataclass(frozen=True)
class ContactOutcome:
    """The contact of a number; or why there is none (`skipped`), or what failed (`error`).

    All three empty means: no match, write the activity unassociated.
    """

    contact: CrmContact | None = None
    skipped: str | None = None
    error: ConnectorError | None = None


class ContactResolver:
    def __init__(
        self,
        client: SalesforceClient,
        cache: ContactCache,
        *,
        miss_ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.cache = cache
        self.miss_ttl = miss_ttl
        self._clock = clock
        # number -> when a search last found nothing (only for rules that do not create).
        self._misses: dict[str, float] = {}

    def resolve(self, wanted: Mapping[str, ContactRequest]) -> dict[str, ContactOutcome]:
        """Outcome per phone as given (the records' `contact_phone`), in as few calls as can be."""
        outcomes: dict[str, ContactOutcome] = {}
        numbers: dict[str, ContactRequest] = {}
        spelled: dict[str, str] = {}
        for raw, request in wanted.items():
            e164 = phone.try_normalize(raw)
            if e164 is None:
                outcomes[raw] = self._no_match(raw, request.rule)
                continue
            numbers.setdefault(e164, request)
            spelled[raw] = e164
        found: dict[str, ContactOutcome] = {
            number: ContactOutcome(contact)
            for number, contact in self.cache.get_many(CRM, list(numbers)).items()
        }
        unknown = [n for n in numbers if n not in found and not self._recently_missed(n)]
        for number, contact in self._search(unknown, numbers).items():
            self.cache.put(CRM, number, contact)
            found[number] = ContactOutcome(contact)
        to_create: list[str] = []
        for number, request in numbers.items():
            if number in found:
                continue
            rule = request.rule
            if rule.on_no_match == "create" and rule.create_object:
                to_create.append(number)
            else:
                self._remember_miss(number)
                found[number] = self._no_match(number, rule)
        found.update(self._create(to_create, numbers))
        for raw, number in spelled.items():
            outcomes[raw] = found[number]
        return outcomes

    def forget(self, raw: str) -> None:
        """The cached record is gone (deleted, merged): search again next time."""
        number = phone.try_normalize(raw)
        if number is not None:
            self.cache.forget(CRM, number)
            self._misses.pop(number, None)

    # ---- search -----------------------------------------------------------------------------
    def _remember_miss(self, number: str) -> None:
        now = self._clock()
        if len(self._misses) >= MISS_MEMORY:
            self._misses = {n: at for n, at in self._misses.items() if now - at < self.miss_ttl}
        self._misses[number] = now

    def _recently_missed(self, number: str) -> bool:
        at = self._misses.get(number)
        return at is not None and self._clock() - at < self.miss_ttl

    def _search(
        self, numbers: Sequence[str], requests: Mapping[str, ContactRequest]
    ) -> dict[str, CrmContact]:
        found: dict[str, CrmContact] = {}
        for chunk in chunks_by_length(numbers, MAX_FIND_CHARS):
            rules = {number: requests[number].rule for number in chunk}
            sosl = sosl_query(chunk, rules.values())
            answer = self.client.search("contact search (SOSL)", sosl)
            rows = list(answer.get("searchRecords") or [])
            if len(rows) >= SOSL_ROW_LIMIT:
                log.warning("salesforce.contact_search_truncated", numbers=len(chunk))
            for number in chunk:
                contact = pick(number, rules[number], rows)
                if contact is not None:
                    found[number] = contact
        return found

    # ---- creation ---------------------------------------------------------------------------
    def _create(
        self, numbers: Sequence[str], requests: Mapping[str, ContactRequest]
    ) -> dict[str, ContactOutcome]:
        outcomes: dict[str, ContactOutcome] = {}
        reserved: list[str] = []
        for number in numbers:
            if self.cache.reserve(CRM, number):
                reserved.append(number)
            else:
                outcomes[number] = ContactOutcome(
                    error=Transient(
                        f"another worker is creating the Salesforce record of {phone.mask(number)}",
                        5.0,
                    )
                )
        settled: set[str] = set()
        try:
            for sobject, group in _group_by_create_object(reserved, requests).items():
                for number, contact in self._find_created(sobject, group, requests).items():
                    self.cache.put(CRM, number, contact)
                    settled.add(number)
                    outcomes[number] = ContactOutcome(contact)
                todo = [n for n in group if n not in settled]
                for start in range(0, len(todo), COLLECTION_LIMIT):
                    chunk = todo[start : start + COLLECTION_LIMIT]
                    for number, outcome in self._insert(sobject, chunk, requests).items():
                        if outcome.contact is not None:
                            self.cache.put(CRM, number, outcome.contact)
                            settled.add(number)
                        outcomes[number] = outcome
        finally:
            for number in reserved:
                if number not in settled:
                    self.cache.forget(CRM, number)  # release the reservation
        return outcomes

    def _find_created(
        self, sobject: str, numbers: Sequence[str], requests: Mapping[str, ContactRequest]
    ) -> dict[str, CrmContact]:
        """Records holding exactly the E.164 value the connector writes (SOQL is consistent at
        once, unlike the search index): an earlier creation whose answer never arrived."""
        if not numbers:
            return {}
        fields = phone_fields(requests[numbers[0]].rule, sobject)
        where = " OR ".join(format_soql(f"{name} IN {{}}", list(numbers)) for name in fields)
        # Names are checked against NAME, values quoted by format_soql.
        soql = f"SELECT Id, LastModifiedDate, {', '.join(fields)} FROM {sobject} WHERE {where}"  # noqa: S608
        answer = self.client.query(f"{sobject} lookup (SOQL)", soql)
        rows = [{**row, "attributes": {"type": sobject}} for row in answer.get("records") or []]
        found: dict[str, CrmContact] = {}
        for number in numbers:
            contact = pick(number, only(requests[number].rule, sobject), rows)
            if contact is not None:
                found[number] = contact
        return found

    def _insert(
        self, sobject: str, numbers: Sequence[str], requests: Mapping[str, ContactRequest]
    ) -> dict[str, ContactOutcome]:
        payload = [_new_contact(sobject, number, requests[number]) for number in numbers]

        def create(sf: Salesforce) -> Any:
            return sf.restful(
                "composite/sobjects",
                method="POST",
                json={"allOrNone": False, "records": payload},
            )

        answers = self.client.call(f"{sobject} creation", create) or []
        outcomes: dict[str, ContactOutcome] = {}
        duplicates: dict[str, list[dict[str, Any]]] = {}
        for number, answer in zip(numbers, answers, strict=False):
            errors = answer.get("errors") or []
            if answer.get("success"):
                contact = CrmContact(crm_object=sobject, crm_id=answer["id"])
                log.info("salesforce.contact_created", sobject=sobject, phone=phone.mask(number))
                outcomes[number] = ContactOutcome(contact)
            elif record_code(errors) in DUPLICATE_CODES:
                duplicates[number] = errors
            else:
                outcomes[number] = ContactOutcome(error=from_record(errors, f"{sobject} creation"))
        for number in numbers[len(answers) :]:
            outcomes[number] = ContactOutcome(
                error=Transient(f"Salesforce gave no answer for the {sobject} creation")
            )
        if duplicates:
            outcomes.update(self._existing(sobject, duplicates, requests))
        return outcomes

    def _existing(
        self,
        sobject: str,
        duplicates: Mapping[str, list[dict[str, Any]]],
        requests: Mapping[str, ContactRequest],
    ) -> dict[str, ContactOutcome]:
        """Salesforce refused a creation as a duplicate (a unique field, a duplicate rule): the
        record exists, so the activity goes on it. Found by the exact lookup when it holds the
        number, else by the id Salesforce names; failing both, tried again later, never failed
        for good (the search index may not show the record yet)."""
        numbers = list(duplicates)
        found = self._find_created(sobject, numbers, requests)
        outcomes: dict[str, ContactOutcome] = {}
        for number, errors in duplicates.items():
            contact = found.get(number)
            named = existing_record_id(errors)
            if contact is None and named is not None:
                contact = CrmContact(crm_object=sobject, crm_id=named)
            if contact is not None:
                log.info(
                    "salesforce.contact_exists",
                    sobject=sobject,
                    phone=phone.mask(number),
                    contact_id=contact.crm_id,
                )
                outcomes[number] = ContactOutcome(contact)
                continue
            reason = from_record(errors, f"{sobject} creation").reason
            outcomes[number] = ContactOutcome(
                error=Transient(
                    f"{reason} (the existing record is looked up again on the next attempt)",
                    backoff(),
                )
            )
        return outcomes

    # ---- no match ---------------------------------------------------------------------------
    @staticmethod
    def _no_match(number: str, rule: ContactRule) -> ContactOutcome:
        if rule.on_no_match == "skip":
            objects = " or ".join(rule.objects) or "record"
            return ContactOutcome(
                skipped=f"no Salesforce {objects} has the number {phone.mask(number)}"
            )
        return ContactOutcome()


def _group_by_create_object(
    numbers: Sequence[str], requests: Mapping[str, ContactRequest]
) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for number in numbers:
        sobject = requests[number].rule.create_object or "Lead"
        if not NAME.match(sobject):
            raise Permanent(f"invalid Salesforce object in the contact rule: {sobject!r}")
        groups.setdefault(sobject, []).append(number)
    return groups


def _new_contact(sobject: str, number: str, request: ContactRequest) -> dict[str, Any]:
    """The created record: the admin's fields, the number in E.164 in the first phone field
    (what `_find_created` looks for), and what Salesforce requires when the mapping is silent."""
    rule = request.rule
    record: dict[str, Any] = {"attributes": {"type": sobject}}
    record["LastName"] = _international(number)
    if sobject == "Lead":
        record["Company"] = "[not provided]"
    if request.owner_id:
        record["OwnerId"] = request.owner_id
    record.update(rule.create_fields)
    record[phone_fields(rule, sobject)[0]] = number
    return record


def _international(number: str) -> str:
    return phonenumbers.format_number(
        phone.parse(number), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
