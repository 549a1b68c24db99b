"""Writing MMS activity records (Communications) to HubSpot, never twice.

Each record carries its key (a message key, or a thread-and-day key) in the key property; the
way to never duplicate depends on what the portal allows:

* the record's HubSpot id is known (the sync stored it, or this process wrote it moments ago):
  batch update by id; a record deleted in HubSpot since is created again;
* the key property has unique values: batch create with the key set, so HubSpot itself refuses
  a second record with the same key. A refusal (409, which HubSpot gives for the whole batch and
  names only the first key) means the connector wrote some of them already (an earlier attempt
  whose answer was lost, or another worker running the same jobs right now): the records are
  read by key (strongly consistent) and updated instead, and the rest created again, for a few
  rounds; a record that still conflicts is retried later, never failed for good. Keys whose last
  attempt ended without an answer are read by key before creating;
* the key property is not unique (HubSpot may not allow unique values on communications):
  every key is searched before creating. Search lags a few seconds behind writes, so a key whose
  last attempt here ended without an answer is not created until that lag has passed; a crashed
  worker's jobs come back only after their lease (a minute), which is longer than the lag.

Batch upsert by the unique key would do the first two in one call, but its inputs carry no
associations, so every new record would cost a second (association) call: creating with the
associations inline and falling back on 409 costs one call per 100 records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from connector.core.errors import ConnectorError, Permanent, Transient
from connector.core.model import CrmContact
from connector.crm.base import RecordWrite, WriteResult
from connector.crm.hubspot.answers import CreateInput
from connector.crm.hubspot.batches import Halt, Outcome, SplitBudget, run_batches
from connector.crm.hubspot.client import HubSpotApi
from connector.crm.hubspot.errors import HubSpotError
from connector.crm.hubspot.inputs import associations_of, record_properties
from connector.crm.hubspot.lookups import read_keys, search_keys
from connector.crm.hubspot.memory import KeyFieldMissing, KeyModes, RecentWrites
from connector.crm.hubspot.refusals import (
    conflict_on_key,
    item_conflict_on_key,
    names_refused_link,
)
from connector.crm.ratelimit import Clock

log = structlog.get_logger(__name__)

SEARCH_LAG_SECONDS = 30.0  # generous: HubSpot's search shows new records within seconds
SETUP_HINT = "run `mms-connector mappings setup --crm hubspot`"
CONFLICT_ROUNDS = 3  # create attempts of one write while other workers create the same keys
CONFLICT_RETRY_SECONDS = 2.0


@dataclass(eq=False)
class Pending:
    """One record on its way, with what the contact resolution found for it."""

    record: RecordWrite
    contact: CrmContact | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (object type, id) besides it
    on_stale_contact: Callable[[], None] | None = None
    on_stale_links: Callable[[], None] | None = None


class RecordWriter:
    """Creates or updates each record exactly once, in batches."""

    def __init__(self, api: HubSpotApi, clock: Clock) -> None:
        self.api = api
        self.clock = clock
        self.recent = RecentWrites(clock)
        self.key_modes = KeyModes(api, clock)

    def write(
        self, items: Sequence[Pending], budget: SplitBudget, results: dict[int, WriteResult]
    ) -> None:
        """Put each record's result into `results`, by `id()` of its `Pending`, as soon as its
        object type is done (so a `Halt` keeps what was written before it)."""
        groups: dict[tuple[str, str], list[Pending]] = {}
        for item in items:
            groups.setdefault((item.record.object_name, item.record.key_field), []).append(item)
        for (object_type, key_field), group in groups.items():
            results.update(self._write_group(object_type, key_field, group, budget))

    def forget_key_modes(self) -> None:
        self.key_modes.forget()

    # ---- one object type -------------------------------------------------------------------

    def _write_group(
        self, object_type: str, key_field: str, items: list[Pending], budget: SplitBudget
    ) -> dict[int, WriteResult]:
        results: dict[int, WriteResult] = {}
        try:
            unique = self.key_modes.unique(object_type, key_field)
        except KeyFieldMissing:
            error = Permanent(
                f"HubSpot has no property {key_field!r} on {object_type}: {SETUP_HINT}"
            )
            return {id(i): _failed(i, error) for i in items}
        except HubSpotError as failure:
            if failure.concerns_every_record:
                raise Halt(failure.as_connector_error()) from failure
            return {id(i): _failed(i, failure.as_connector_error()) for i in items}

        known: list[tuple[Pending, str]] = []
        fresh: list[Pending] = []
        for item in items:
            crm_id = item.record.existing_id or self.recent.id_of(object_type, item.record.key)
            if crm_id:
                known.append((item, crm_id))
            else:
                fresh.append(item)

        fresh, found, waiting = self._look_up(object_type, key_field, fresh, unique=unique)
        known.extend(found)
        results.update(waiting)
        updated, vanished = self._update(object_type, known, budget)
        results.update(updated)
        to_create = fresh + vanished
        for attempt in range(1, CONFLICT_ROUNDS + 1):
            created, conflicts = self._create(
                object_type, key_field, to_create, budget, unique=unique
            )
            results.update(created)
            if not conflicts:
                break
            log.info("hubspot.records_exist", object_type=object_type, count=len(conflicts))
            if attempt == CONFLICT_ROUNDS:
                unread = Transient(
                    "HubSpot says a record with this key exists, but it could not be read by "
                    "its key yet: tried again shortly",
                    CONFLICT_RETRY_SECONDS,
                )
                results.update({id(i): _failed(i, unread) for i in conflicts})
                break
            # The connector wrote them already: read them by key, update them, create the rest.
            to_create, found, waiting = self._look_up(
                object_type, key_field, conflicts, unique=unique, every_key=True
            )
            results.update(waiting)
            updated, vanished = self._update(object_type, found, budget)
            results.update(updated)
            to_create.extend(vanished)
        return results

    # ---- looking records up by key ---------------------------------------------------------

    def _look_up(
        self,
        object_type: str,
        key_field: str,
        items: list[Pending],
        *,
        unique: bool,
        every_key: bool = False,
    ) -> tuple[list[Pending], list[tuple[Pending, str]], dict[int, WriteResult]]:
        """Split records without an id into (still to create, found with id, must wait)."""
        now = self.clock()
        if unique and not every_key:
            wanted = [i for i in items if self.recent.uncertain_since(object_type, i.record.key)]
        else:
            wanted = list(items)
        if not wanted:
            return items, [], {}
        try:
            keys = [i.record.key for i in wanted]
            if unique:
                ids = read_keys(self.api, object_type, key_field, keys)
            else:
                ids = search_keys(self.api, object_type, key_field, keys)
        except HubSpotError as failure:
            if failure.concerns_every_record:
                raise Halt(failure.as_connector_error()) from failure
            error = failure.as_connector_error()
            looked = {id(i) for i in wanted}
            return (
                [i for i in items if id(i) not in looked],
                [],
                {id(i): _failed(i, error) for i in wanted},
            )
        to_create: list[Pending] = []
        found: list[tuple[Pending, str]] = []
        waiting: dict[int, WriteResult] = {}
        for item in items:
            key = item.record.key
            if key in ids:
                found.append((item, ids[key]))
                continue
            since = self.recent.uncertain_since(object_type, key)
            if not unique and since is not None and now - since < SEARCH_LAG_SECONDS:
                wait = SEARCH_LAG_SECONDS - (now - since)
                waiting[id(item)] = _failed(
                    item,
                    Transient(
                        "an earlier attempt may have created this record and HubSpot's search "
                        "may not show it yet: waiting before creating it",
                        wait,
                    ),
                )
                continue
            to_create.append(item)
        return to_create, found, waiting

    # ---- updating and creating -------------------------------------------------------------

    def _update(
        self, object_type: str, pairs: list[tuple[Pending, str]], budget: SplitBudget
    ) -> tuple[dict[int, WriteResult], list[Pending]]:
        """Results of the updates, and the records whose HubSpot object no longer exists."""
        if not pairs:
            return {}, []
        ids = {id(item): crm_id for item, crm_id in pairs}
        properties = {id(item): record_properties(item.record, create=False) for item, _ in pairs}
        outcomes = run_batches(
            [item for item, _ in pairs],
            lambda chunk: self.api.batch_update(
                object_type, [(ids[id(i)], properties[id(i)]) for i in chunk]
            ),
            item_key=lambda item: ids[id(item)],
            result_key=lambda obj: obj.id,
            error_keys=lambda e: e.context.get("ids", []),
            budget=budget,
            writes=True,
        )
        results: dict[int, WriteResult] = {}
        vanished: list[Pending] = []
        for outcome in outcomes:
            item = outcome.item
            if outcome.obj is not None:
                self.recent.remember(object_type, item.record.key, outcome.obj.id)
                results[id(item)] = _written(item, outcome.obj.id)
            elif _not_found(outcome):
                self.recent.forget(object_type, item.record.key)
                log.info("hubspot.record_vanished", key=item.record.key, crm_id=ids[id(item)])
                vanished.append(item)
            else:
                results[id(item)] = _failed(item, outcome.error)
        return results, vanished

    def _create(
        self,
        object_type: str,
        key_field: str,
        items: list[Pending],
        budget: SplitBudget,
        *,
        unique: bool,
    ) -> tuple[dict[int, WriteResult], list[Pending]]:
        """Results of the creations, and (unique key) those HubSpot refused as existing."""
        results: dict[int, WriteResult] = {}
        inputs: dict[str, CreateInput] = {}
        sendable: list[Pending] = []
        for item in items:
            try:
                associations = associations_of(item.record, item.contact, item.links)
            except ValueError as problem:
                results[id(item)] = _failed(item, Permanent(str(problem)))
                continue
            inputs[item.record.key] = CreateInput(
                properties=record_properties(item.record, create=True),
                associations=associations,
                trace_id=item.record.key,
            )
            sendable.append(item)
        if not sendable:
            return results, []
        outcomes = run_batches(
            sendable,
            lambda chunk: self.api.batch_create(object_type, [inputs[i.record.key] for i in chunk]),
            item_key=lambda item: item.record.key,
            result_key=lambda obj: obj.trace_id or obj.properties.get(key_field),
            error_keys=lambda e: e.context.get("objectWriteTraceId", []),
            budget=budget,
            writes=True,
            culprits=_stale_link_records,
            whole=(lambda failure: conflict_on_key(failure, key_field)) if unique else None,
        )
        conflicts: list[Pending] = []
        for outcome in outcomes:
            item = outcome.item
            key = item.record.key
            failure = outcome.call_error
            if outcome.obj is not None:
                self.recent.remember(object_type, key, outcome.obj.id)
                results[id(item)] = _written(item, outcome.obj.id)
            elif unique and _conflicts(outcome, key_field):
                conflicts.append(item)
            elif failure is not None and _about_contact(failure, item):
                if item.on_stale_contact is not None:
                    item.on_stale_contact()
                results[id(item)] = _failed(
                    item,
                    Transient(
                        "the contact this record was linked to no longer exists in HubSpot; "
                        "it is looked up again on the next attempt"
                    ),
                )
            elif failure is not None and _about_links(failure, item):
                if item.on_stale_links is not None:
                    item.on_stale_links()
                results[id(item)] = _failed(
                    item,
                    Transient(
                        "a company or deal this record was linked to no longer exists in "
                        "HubSpot; the contact's associations are read again on the next attempt"
                    ),
                )
            elif outcome.maybe_applied:  # it may exist now: the next attempt looks first
                self.recent.mark_uncertain(object_type, key)
                results[id(item)] = _failed(item, _retry_after_lag(outcome.error, unique=unique))
            else:
                results[id(item)] = _failed(item, outcome.error)
        return results, conflicts


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _written(item: Pending, crm_id: str) -> WriteResult:
    return WriteResult(
        key=item.record.key,
        crm_id=crm_id,
        crm_object=item.record.object_name,
        contact_id=item.contact.crm_id if item.contact else None,
    )


def _failed(item: Pending, error: ConnectorError | None) -> WriteResult:
    return WriteResult(
        key=item.record.key,
        crm_object=item.record.object_name,
        contact_id=item.contact.crm_id if item.contact else None,
        error=error or Transient("HubSpot gave no outcome for this record"),
    )


def _retry_after_lag(error: ConnectorError | None, *, unique: bool) -> ConnectorError:
    """A create that may have been applied: without a unique key, whoever retries it (another
    replica included) must do so after search shows new records, or it cannot find this one."""
    reason = error.reason if error else "HubSpot gave no outcome for this record"
    retry_after = error.retry_after if isinstance(error, Transient) else None
    if not unique:
        retry_after = max(retry_after or 0.0, SEARCH_LAG_SECONDS)
    return Transient(reason, retry_after)


def _not_found(outcome: Outcome[Pending]) -> bool:
    if outcome.item_error is not None:
        return outcome.item_error.category == "OBJECT_NOT_FOUND"
    return outcome.call_error is not None and outcome.call_error.status == 404


def _conflicts(outcome: Outcome[Pending], key_field: str) -> bool:
    if outcome.call_error is not None:
        return conflict_on_key(outcome.call_error, key_field)
    return outcome.item_error is not None and item_conflict_on_key(outcome.item_error, key_field)


def _about_contact(failure: HubSpotError, item: Pending) -> bool:
    """Whether a refused create names the record's contact among invalid associations."""
    return item.contact is not None and names_refused_link(failure, item.contact.crm_id)


def _about_links(failure: HubSpotError, item: Pending) -> bool:
    """Whether a refused create names one of the record's company or deals (deleted or merged
    since the contact's associations were cached)."""
    return any(names_refused_link(failure, i) for _, i in item.links)


def _stale_link_records(failure: HubSpotError, chunk: list[Pending]) -> list[Pending]:
    return [item for item in chunk if _about_contact(failure, item) or _about_links(failure, item)]
