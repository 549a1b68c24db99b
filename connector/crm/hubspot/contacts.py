"""Which HubSpot contact a phone number belongs to, found with as few searches as possible.

CRM users type phone numbers in any format, so one search asks, per mapped phone property, for
every spelling of every number of the call (`IN` filters, one OR'd group per property, plus
HubSpot's digits-only `hs_searchable_calculated_*` twins of `phone` and `mobilephone`), and what
comes back is normalised and compared again: a search hit is a candidate, never a match.

When several contacts carry the number, the pick is deterministic: the contact whose number is
in the earliest property of the mapping's list (by default `phone` before `mobilephone`), then
the oldest contact (lowest id). The answer is cached in the connector's database, shared by
every process for `CONNECTOR_CRM_CACHE_SECONDS`, so a number is searched once per expiry for
the whole deployment, not once per message or per process.

A contact is created only by the worker that reserved the number in that cache; one that finds
the number reserved waits (briefly, then by retrying later) for the other to finish instead of
creating a second contact. A creation whose answer was lost keeps its reservation until it
expires (two minutes, longer than search takes to show a new contact), so the next attempt
finds it by searching.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from connector.core import phone
from connector.core.errors import ConnectorError, Transient
from connector.core.model import CrmContact
from connector.crm.base import ContactCache, ContactRule
from connector.crm.hubspot.answers import CreateInput, CrmObject
from connector.crm.hubspot.batches import Halt, Outcome, SplitBudget, run_batches
from connector.crm.hubspot.client import CRM, HubSpotApi
from connector.crm.hubspot.errors import HubSpotError
from connector.crm.hubspot.inputs import property_text
from connector.crm.hubspot.matching import digit_forms, number_chunks, pick_contacts
from connector.crm.hubspot.refusals import CONFLICT_CATEGORIES
from connector.crm.ratelimit import Sleep

log = structlog.get_logger(__name__)

DEFAULT_PHONE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "contacts": ("phone", "mobilephone"),
    "companies": ("phone",),
}
# HubSpot keeps digits-only copies of the two standard contact phone properties.
SEARCHABLE_TWINS: Mapping[str, str] = {
    "phone": "hs_searchable_calculated_phone_number",
    "mobilephone": "hs_searchable_calculated_mobile_number",
}
FILTER_GROUPS_MAX = 5  # OR'd groups per search request
SEARCH_PAGES_MAX = 10  # 2,000 candidates for one chunk of numbers is already absurd
CONTACT_BUSY_RETRY_SECONDS = 5.0
CONTACT_WAIT_SECONDS = 2.0  # how long to wait for a contact another worker is creating
CONTACT_WAIT_POLL_SECONDS = 0.1
INFLIGHT_WAIT_SECONDS = 60.0  # longest wait for another thread's search of the same numbers

_EXISTING_ID = re.compile(r"Existing ID: (\d+)")


@dataclass(frozen=True)
class Resolution:
    """The contact of one number; none with neither `skipped` nor `error` means unassociated."""

    contact: CrmContact | None = None
    skipped: str | None = None
    error: ConnectorError | None = None


SearchPlan = tuple[tuple[str, tuple[str, ...]], ...]  # ((object, phone properties), ...)


def plan_of(rule: ContactRule) -> SearchPlan:
    return tuple(
        (obj, tuple(rule.phone_fields.get(obj) or DEFAULT_PHONE_FIELDS.get(obj, ("phone",))))
        for obj in rule.objects
    )


class ContactResolver:
    """phone (E.164) -> contact: the cache, then searches, then creation as the rule says."""

    def __init__(
        self,
        api: HubSpotApi,
        cache: ContactCache,
        *,
        wait_for_other_worker: float = CONTACT_WAIT_SECONDS,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.api = api
        self.cache = cache
        self.wait_for_other_worker = wait_for_other_worker
        self.sleep = sleep
        self._inflight: dict[str, threading.Event] = {}
        self._inflight_lock = threading.Lock()

    def resolve(
        self, wanted: Mapping[str, ContactRule], budget: SplitBudget
    ) -> dict[str, Resolution]:
        """One `Resolution` per number of `wanted` (number -> the rule of its records).

        Numbers another thread of this process is resolving right now are not searched twice:
        this thread resolves its own numbers first, then waits for the other's answers.
        """
        found: dict[str, Resolution] = {
            number: Resolution(contact=contact)
            for number, contact in self.cache.get_many(CRM, list(wanted)).items()
        }
        mine, theirs = self._claim([n for n in wanted if n not in found])
        try:
            found.update(self._find_or_create({n: wanted[n] for n in mine}, budget))
        finally:
            self._release(mine)
        if theirs:
            self._wait_for(theirs)
            hits = self.cache.get_many(CRM, theirs)
            found.update({n: Resolution(contact=c) for n, c in hits.items()})
            rest = {n: wanted[n] for n in theirs if n not in hits}
            found.update(self._find_or_create(rest, budget))
        return found

    def _find_or_create(
        self, wanted: Mapping[str, ContactRule], budget: SplitBudget
    ) -> dict[str, Resolution]:
        if not wanted:
            return {}
        found: dict[str, Resolution] = {}
        by_plan: dict[SearchPlan, list[str]] = {}
        for number, rule in wanted.items():
            by_plan.setdefault(plan_of(rule), []).append(number)
        for plan, numbers in by_plan.items():
            found.update(self._search(plan, numbers))
        to_create: dict[str, ContactRule] = {}
        for number, rule in wanted.items():
            if number in found:
                continue
            if rule.on_no_match == "skip":
                found[number] = Resolution(
                    skipped=f"no contact has the number {phone.mask(number)}"
                )
            elif rule.on_no_match == "create" and (rule.create_object or rule.objects):
                to_create[number] = rule
            else:
                found[number] = Resolution()
        found.update(self._create(to_create, budget))
        return found

    # ---- one search per number per process -------------------------------------------------

    def _claim(self, numbers: list[str]) -> tuple[list[str], list[str]]:
        """(numbers this thread resolves, numbers another thread is resolving)."""
        mine, theirs = [], []
        with self._inflight_lock:
            for number in numbers:
                if number in self._inflight:
                    theirs.append(number)
                else:
                    self._inflight[number] = threading.Event()
                    mine.append(number)
        return mine, theirs

    def _release(self, numbers: list[str]) -> None:
        with self._inflight_lock:
            events = [self._inflight.pop(n) for n in numbers if n in self._inflight]
        for event in events:
            event.set()

    def _wait_for(self, numbers: list[str]) -> None:
        deadline = time.monotonic() + INFLIGHT_WAIT_SECONDS
        for number in numbers:
            with self._inflight_lock:
                event = self._inflight.get(number)
            if event is not None:
                event.wait(max(0.0, deadline - time.monotonic()))

    # ---- searching -------------------------------------------------------------------------

    def _search(self, plan: SearchPlan, numbers: list[str]) -> dict[str, Resolution]:
        resolved: dict[str, Resolution] = {}
        left = list(numbers)
        for object_type, fields in plan:
            for chunk in number_chunks(left):
                try:
                    candidates = self._candidates(object_type, fields, chunk)
                except HubSpotError as failure:
                    if failure.concerns_every_record:
                        raise Halt(failure.as_connector_error()) from failure
                    error = failure.as_connector_error()
                    resolved.update({n: Resolution(error=error) for n in chunk})
                    continue
                picked = {
                    number: CrmContact(crm_object=object_type, crm_id=crm_id)
                    for number, crm_id in pick_contacts(candidates, fields, chunk).items()
                }
                self.cache.put_many(CRM, picked)
                resolved.update((n, Resolution(contact=c)) for n, c in picked.items())
            left = [n for n in left if n not in resolved]
        return resolved

    def _candidates(
        self, object_type: str, fields: tuple[str, ...], numbers: list[str]
    ) -> list[CrmObject]:
        groups: list[list[dict[str, Any]]] = []
        spellings = sorted({s for n in numbers for s in phone.variants(n)})
        digit_strings = sorted({d for n in numbers for d in digit_forms(n)})
        for name in fields:
            groups.append([{"propertyName": name, "operator": "IN", "values": spellings}])
            twin = SEARCHABLE_TWINS.get(name) if object_type == "contacts" else None
            if twin:
                groups.append([{"propertyName": twin, "operator": "IN", "values": digit_strings}])
        seen: dict[str, CrmObject] = {}
        for start in range(0, len(groups), FILTER_GROUPS_MAX):
            after: str | None = None
            for _ in range(SEARCH_PAGES_MAX):
                page, after = self.api.search(
                    object_type,
                    groups[start : start + FILTER_GROUPS_MAX],
                    list(fields),
                    after=after,
                )
                seen.update((obj.id, obj) for obj in page)
                if after is None:
                    break
        return list(seen.values())

    # ---- creating --------------------------------------------------------------------------

    def _create(
        self, wanted: Mapping[str, ContactRule], budget: SplitBudget
    ) -> dict[str, Resolution]:
        resolved: dict[str, Resolution] = {}
        reserved: dict[str, list[str]] = {}  # object -> numbers this worker may create
        for number, rule in wanted.items():
            if self.cache.reserve(CRM, number):
                target = rule.create_object or rule.objects[0]
                reserved.setdefault(target, []).append(number)
                continue
            again = self._created_by_another_worker(number)
            resolved[number] = (
                Resolution(contact=again)
                if again
                else Resolution(
                    error=Transient(
                        f"another worker is creating the contact for {phone.mask(number)}",
                        CONTACT_BUSY_RETRY_SECONDS,
                    )
                )
            )
        for object_type, numbers in reserved.items():
            resolved.update(self._create_objects(object_type, numbers, wanted, budget))
        return resolved

    def _created_by_another_worker(self, number: str) -> CrmContact | None:
        """The contact another worker is creating for `number`, if it appears in the cache
        within a short wait (a creation takes one call); None when it does not."""
        waited = 0.0
        while True:
            found = self.cache.get_many(CRM, [number]).get(number)
            if found is not None or waited >= self.wait_for_other_worker:
                return found
            self.sleep(CONTACT_WAIT_POLL_SECONDS)
            waited += CONTACT_WAIT_POLL_SECONDS

    def _create_objects(
        self,
        object_type: str,
        numbers: list[str],
        rules: Mapping[str, ContactRule],
        budget: SplitBudget,
    ) -> dict[str, Resolution]:
        inputs = {
            number: CreateInput(
                properties={
                    _phone_field(rules[number], object_type): number,
                    **{k: property_text(v) for k, v in rules[number].create_fields.items()},
                },
                trace_id=number,
            )
            for number in numbers
        }
        resolved: dict[str, Resolution] = {}
        # A `Halt` leaves the reservations to expire: an earlier chunk may have been created.
        outcomes = run_batches(
            numbers,
            lambda chunk: self.api.batch_create(object_type, [inputs[n] for n in chunk]),
            item_key=lambda n: n,
            result_key=lambda obj: obj.trace_id,
            error_keys=lambda e: e.context.get("objectWriteTraceId", []),
            budget=budget,
            writes=True,
        )
        for outcome in outcomes:
            number = outcome.item
            contact_id = outcome.obj.id if outcome.obj else _existing_id(outcome)
            if contact_id is not None:
                contact = CrmContact(crm_object=object_type, crm_id=contact_id)
                self.cache.put(CRM, number, contact)
                resolved[number] = Resolution(contact=contact)
                log.info("hubspot.contact_created", phone=phone.mask(number), contact_id=contact_id)
                continue
            if not outcome.maybe_applied:  # release the reservation; a lost answer keeps it
                self.cache.forget(CRM, number)
            resolved[number] = Resolution(error=outcome.error)
        return resolved


def _phone_field(rule: ContactRule, object_type: str) -> str:
    """The property a created contact's number goes into: the first one the rule searches."""
    fields = rule.phone_fields.get(object_type) or DEFAULT_PHONE_FIELDS.get(object_type)
    return fields[0] if fields else "phone"


def _existing_id(outcome: Outcome[str]) -> str | None:
    """A create refused because the contact exists (e.g. its email): HubSpot names the id."""
    failure = outcome.call_error
    item = outcome.item_error
    context: Mapping[str, list[str]]
    if failure is not None and failure.status == 409:
        context, message = failure.context, failure.message
    elif item is not None and item.category in CONFLICT_CATEGORIES:
        context, message = item.context, item.message  # the same refusal, reported per input
    else:
        return None
    ids = context.get("id") or []
    if ids:
        return str(ids[0])
    match = _EXISTING_ID.search(message or "")
    return match.group(1) if match else None
