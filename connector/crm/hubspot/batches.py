"""Batch calls of up to 100 inputs, and what became of each input.

A 207 answer is split into the inputs that succeeded and those that failed, each failure kept
with its own input. A whole batch refused for one bad input (HubSpot validates a batch as a
whole: one invalid property value fails all 100) is split in halves until the culprit stands
alone, within a budget of extra calls per `write`, so one bad record never holds back 99 good
ones. A failure that concerns every record (credentials, the daily allowance) stops the call.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from connector.core.errors import ConnectorError, Transient
from connector.crm.hubspot.answers import BatchAnswer, CrmObject
from connector.crm.hubspot.client import BATCH_LIMIT
from connector.crm.hubspot.errors import HubSpotError, ItemError

T = TypeVar("T")

# Extra calls one `write` may spend splitting refused batches: enough to isolate one bad input
# among 100 (2 per halving, 7 halvings) with room for a second one.
DEFAULT_SPLIT_BUDGET = 24


class Halt(Exception):
    """A failure that concerns every record of the call: stop calling, report it for all."""

    def __init__(self, error: ConnectorError) -> None:
        super().__init__(error.reason)
        self.error = error


class SplitBudget:
    """How many extra calls one `write` may still spend splitting refused batches."""

    def __init__(self, calls: int = DEFAULT_SPLIT_BUDGET) -> None:
        self._left = calls
        self._lock = threading.Lock()

    def take(self, calls: int) -> bool:
        with self._lock:
            if self._left < calls:
                return False
            self._left -= calls
            return True


@dataclass
class Outcome(Generic[T]):
    """One input's fate: the object HubSpot answered with, or why not.

    `item_error` is the input's own error in a 207; `call_error` the whole call's failure when
    it could not be narrowed to the input. `unmentioned`: the answer said nothing of the input
    (for a read: not found; for a write: it may or may not have been applied).
    """

    item: T
    obj: CrmObject | None = None
    error: ConnectorError | None = None
    item_error: ItemError | None = None
    call_error: HubSpotError | None = None
    unmentioned: bool = False

    @property
    def maybe_applied(self) -> bool:
        """A write that HubSpot may have carried out although we have no answer saying so."""
        return self.unmentioned or (self.call_error is not None and self.call_error.maybe_applied)


def chunks(items: Sequence[T], size: int = BATCH_LIMIT) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_batches(
    items: Sequence[T],
    send: Callable[[list[T]], BatchAnswer],
    *,
    item_key: Callable[[T], str],
    result_key: Callable[[CrmObject], str | None],
    error_keys: Callable[[ItemError], list[str]],
    budget: SplitBudget,
    writes: bool,
    split_statuses: frozenset[int] = frozenset({400, 404, 409, 413, 422}),
    culprits: Callable[[HubSpotError, list[T]], list[T]] | None = None,
    whole: Callable[[HubSpotError], bool] | None = None,
) -> list[Outcome[T]]:
    """Send `items` in batches; one `Outcome` per item, in no particular order.

    `item_key`, `result_key` and `error_keys` pair answers with inputs (by trace id, id or a
    unique value, never by position: HubSpot does not promise the order). A call that fails as
    a whole for all its inputs is split when its status is in `split_statuses`; `culprits`
    may name the inputs an error is about (e.g. the records of a contact that no longer
    exists), which then fail alone while the others are sent again. `whole` may say that an
    error is the caller's to sort out for the whole chunk (e.g. a 409 on the key): not split.
    """
    outcomes: list[Outcome[T]] = []
    queue: deque[list[T]] = deque(chunks(items))
    while queue:
        chunk = queue.popleft()
        try:
            answer = send(chunk)
        except HubSpotError as failure:
            if failure.concerns_every_record:
                raise Halt(failure.as_connector_error()) from failure
            error = failure.as_connector_error()
            named = culprits(failure, chunk) if culprits and len(chunk) > 1 else []
            if named and len(named) < len(chunk) and budget.take(1):
                outcomes.extend(Outcome(item, error=error, call_error=failure) for item in named)
                queue.appendleft([item for item in chunk if item not in named])
                continue
            splittable = failure.status in split_statuses and failure.refused_input
            if len(chunk) > 1 and splittable and not (whole and whole(failure)):
                if budget.take(2):
                    half = len(chunk) // 2
                    queue.appendleft(chunk[half:])
                    queue.appendleft(chunk[:half])
                    continue
                error = Transient(
                    f"{error.reason} (a batch of {len(chunk)} was refused as a whole; "
                    "its records are tried again)"
                )
            outcomes.extend(Outcome(item, error=error, call_error=failure) for item in chunk)
            continue
        outcomes.extend(_pair(chunk, answer, item_key, result_key, error_keys, writes=writes))
    return outcomes


def _pair(
    chunk: list[T],
    answer: BatchAnswer,
    item_key: Callable[[T], str],
    result_key: Callable[[CrmObject], str | None],
    error_keys: Callable[[ItemError], list[str]],
    *,
    writes: bool,
) -> list[Outcome[T]]:
    results = {key: obj for obj in answer.results if (key := result_key(obj)) is not None}
    keys = {item_key(item) for item in chunk}
    errors: dict[str, ItemError] = {}
    unattributed: list[ItemError] = []
    for item_error in answer.errors:
        named = [k for k in error_keys(item_error) if k in keys]
        for key in named:
            errors[key] = item_error
        if not named:
            unattributed.append(item_error)
    outcomes = []
    for item in chunk:
        key = item_key(item)
        if key in results:
            outcomes.append(Outcome(item, obj=results[key]))
        elif key in errors:
            outcomes.append(
                Outcome(item, error=errors[key].as_connector_error(), item_error=errors[key])
            )
        elif unattributed:
            outcomes.append(
                Outcome(
                    item, error=unattributed[0].as_connector_error(), item_error=unattributed[0]
                )
            )
        elif writes:
            outcomes.append(Outcome(item, error=_unmentioned(), unmentioned=True))
        else:
            outcomes.append(Outcome(item, unmentioned=True))
    return outcomes


def _unmentioned() -> ConnectorError:
    return Transient("HubSpot's batch answer did not mention this record")
