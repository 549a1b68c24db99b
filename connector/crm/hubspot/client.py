"""Every HubSpot call the adapter makes: rate limited, with a timeout, and one error type.

The SDK (hubspot-api-client 12) is generated code: no call has a timeout unless given one, each
`.basic_api` access builds a new client, and an answer whose status an operation does not list
comes back as None. This module is the one place that calls it: it keeps one reference per API,
passes `_request_timeout` on every call, waits on the shared rate limiters, reads the
`X-HubSpot-RateLimit-*` headers, rides out 429s, and raises every failure as a `HubSpotError`
(see `errors.py`). What it returns are small dataclasses: no SDK model leaks further.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
import tenacity
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectId,
)
from hubspot.crm.properties import OptionInput, PropertyCreate

from connector import metrics
from connector.crm.hubspot.answers import (
    AssociationAnswer,
    BatchAnswer,
    CallStats,
    CreateInput,
    CrmObject,
    PropertyInfo,
    association_answer_of,
    batch_answer_of,
    object_of,
    property_of,
)
from connector.crm.hubspot.errors import HubSpotError, header_map
from connector.crm.ratelimit import Clock, RollingWindowBudget, Sleep
from connector.store.budgets import BucketStore

log = structlog.get_logger(__name__)

CRM = "hubspot"
BATCH_LIMIT = 100  # inputs per batch call (HubSpot's documented figure for CRM object batches)
SEARCH_PAGE_LIMIT = 200  # results per search page
DEFAULT_RATE_LIMIT = (100, 10.0)  # the lowest tier's allowance: 100 requests per 10 s per app
DEFAULT_SEARCH_RATE = 4.0  # search requests per second per token
DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds

# A 429 is waited out in place (it was not processed, so repeating it is safe) as long as the
# waits of one call stay under this; beyond it the records go back to the queue with the wait.
MAX_RATE_LIMIT_WAIT_SECONDS = 30.0
# A failure HubSpot did not act on (a dropped connection, a 502 to a search...) is tried again
# at once, a moment later, this many times in all, before it goes back to the queue.
IN_CALL_TRIES = 3
IN_CALL_WAIT = tenacity.wait_random_exponential(multiplier=0.2, max=1.0)


class HubSpotApi:
    """The SDK calls the adapter makes, each behind the limiters, a timeout and `HubSpotError`."""

    def __init__(
        self,
        access_token: str,
        base_url: str,
        *,
        rate_limit: tuple[int, float] = DEFAULT_RATE_LIMIT,
        search_rate: float = DEFAULT_SEARCH_RATE,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
        budgets: BucketStore | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        sdk = HubSpot(access_token=access_token, host=base_url, base_url=base_url)
        self._basic = sdk.crm.objects.basic_api
        self._batch = sdk.crm.objects.batch_api
        self._search = sdk.crm.objects.search_api
        self._properties = sdk.crm.properties.core_api
        self._associations = sdk.crm.associations.v4.batch_api
        self._api_clients = [
            self._basic,
            self._batch,
            self._search,
            self._properties,
            self._associations,
        ]
        self.timeout = timeout
        self.max_rate_limit_wait = max_rate_limit_wait
        # Both budgets are per app, so they live in `budgets` when every process shares it.
        self.limiter = RollingWindowBudget(
            *rate_limit, store=budgets, clock=clock, sleep=sleep, name="hubspot"
        )
        search_limit, search_window = _per_window(search_rate)
        self.search_limiter = RollingWindowBudget(
            search_limit,
            search_window,
            store=budgets,
            clock=clock,
            sleep=sleep,
            name="hubspot-search",
        )
        self.stats = CallStats()
        self._stats_lock = threading.Lock()
        self._sleep = sleep

    def close(self) -> None:
        """Close the connection pools of the SDK clients."""
        for api in self._api_clients:
            rest = getattr(getattr(api, "api_client", None), "rest_client", None)
            pool = getattr(rest, "pool_manager", None)
            if pool is not None:
                pool.clear()

    # ---- objects ---------------------------------------------------------------------------

    def search(
        self,
        object_type: str,
        filter_groups: Sequence[Sequence[Mapping[str, Any]]],
        properties: Sequence[str],
        *,
        after: str | None = None,
    ) -> tuple[list[CrmObject], str | None]:
        """One page of a search; filters are `{propertyName, operator, value | values}`."""
        request = PublicObjectSearchRequest(
            filter_groups=[
                FilterGroup(
                    filters=[
                        Filter(
                            property_name=f["propertyName"],
                            operator=f["operator"],
                            value=f.get("value"),
                            values=f.get("values"),
                        )
                        for f in group
                    ]
                )
                for group in filter_groups
            ],
            properties=list(properties),
            sorts=["hs_object_id"],
            limit=SEARCH_PAGE_LIMIT,
            after=after,
        )
        page = self._call(
            f"search {object_type}",
            lambda **kw: self._search.do_search_with_http_info(
                object_type, public_object_search_request=request, **kw
            ),
            writes=False,
            search=True,
        )
        paging = getattr(page, "paging", None)
        nxt = getattr(paging, "next", None) if paging else None
        return [object_of(r) for r in page.results or []], (nxt.after if nxt else None)

    def batch_create(self, object_type: str, inputs: Sequence[CreateInput]) -> BatchAnswer:
        body = BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties=dict(item.properties),
                    associations=[
                        PublicAssociationsForObject(
                            to=PublicObjectId(id=to_id),
                            types=[
                                AssociationSpec(
                                    association_category="HUBSPOT_DEFINED",
                                    association_type_id=type_id,
                                )
                            ],
                        )
                        for to_id, type_id in item.associations
                    ],
                    object_write_trace_id=item.trace_id,
                )
                for item in inputs
            ]
        )
        answer = self._call(
            f"batch create {object_type}",
            lambda **kw: self._batch.create_with_http_info(object_type, body, **kw),
            writes=True,
        )
        return batch_answer_of(answer)

    def batch_update(
        self, object_type: str, inputs: Sequence[tuple[str, Mapping[str, str]]]
    ) -> BatchAnswer:
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=object_id, properties=dict(properties))
                for object_id, properties in inputs
            ]
        )
        answer = self._call(
            f"batch update {object_type}",
            lambda **kw: self._batch.update_with_http_info(object_type, body, **kw),
            writes=True,
        )
        return batch_answer_of(answer)

    def batch_read(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Sequence[str],
        *,
        id_property: str | None = None,
    ) -> BatchAnswer:
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=list(properties),
            properties_with_history=[],
            id_property=id_property,
        )
        answer = self._call(
            f"batch read {object_type}",
            lambda **kw: self._batch.read_with_http_info(object_type, body, **kw),
            writes=False,
        )
        return batch_answer_of(answer)

    def associations(self, from_type: str, to_type: str, ids: Sequence[str]) -> AssociationAnswer:
        """`POST /crm/v4/associations/{from}/{to}/batch/read`: the associations of up to 100
        objects in one call (only their first page: 500 associated objects each)."""
        body = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
        )
        answer = self._call(
            f"read associations {from_type} to {to_type}",
            lambda **kw: self._associations.get_page_with_http_info(from_type, to_type, body, **kw),
            writes=False,
        )
        return association_answer_of(answer)

    def get(
        self,
        object_type: str,
        object_id: str,
        properties: Sequence[str],
        associations: Sequence[str] = (),
    ) -> CrmObject:
        found = self._call(
            f"read {object_type}",
            lambda **kw: self._basic.get_by_id_with_http_info(
                object_type,
                object_id,
                properties=list(properties),
                associations=list(associations) or None,
                **kw,
            ),
            writes=False,
        )
        return object_of(found)

    # ---- properties ------------------------------------------------------------------------

    def all_properties(self, object_type: str) -> list[PropertyInfo]:
        answer = self._call(
            f"read properties of {object_type}",
            lambda **kw: self._properties.get_all_with_http_info(object_type, **kw),
            writes=False,
        )
        return [property_of(p) for p in answer.results or []]

    def property_info(self, object_type: str, name: str) -> PropertyInfo | None:
        try:
            answer = self._call(
                f"read property {object_type}.{name}",
                lambda **kw: self._properties.get_by_name_with_http_info(object_type, name, **kw),
                writes=False,
            )
        except HubSpotError as error:
            if error.status == 404:
                return None
            raise
        return property_of(answer)

    def create_property(
        self,
        object_type: str,
        *,
        name: str,
        label: str,
        group_name: str,
        description: str,
        unique: bool,
        type_: str = "string",
        field_type: str = "text",
        options: Sequence[tuple[str, str]] = (),
    ) -> PropertyInfo:
        """A new property (text unless told); `options` are (label, value) pairs."""
        body = PropertyCreate(
            name=name,
            label=label,
            type=type_,
            field_type=field_type,
            group_name=group_name,
            description=description,
            has_unique_value=unique,
            form_field=False,
            hidden=False,
            options=[
                OptionInput(label=text, value=value, display_order=index, hidden=False)
                for index, (text, value) in enumerate(options)
            ]
            or None,
        )
        answer = self._call(
            f"create property {object_type}.{name}",
            lambda **kw: self._properties.create_with_http_info(object_type, body, **kw),
            writes=True,
        )
        return property_of(answer)

    # ---- the one call path -----------------------------------------------------------------

    def _call(
        self,
        operation: str,
        send: Callable[..., Any],
        *,
        writes: bool,
        search: bool = False,
    ) -> Any:
        """Send one request (again after a 429, within the wait budget, or after a failure
        HubSpot did not act on); the SDK's data."""
        waited = 0.0
        repeat = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(IN_CALL_TRIES),
            wait=IN_CALL_WAIT,
            retry=tenacity.retry_if_result(lambda answer: _worth_repeating(answer[1])),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._sleep,
            before_sleep=lambda state: log.info(
                "hubspot.call_repeated", operation=operation, attempt=state.attempt_number
            ),
        )
        while True:
            data, error = repeat(self._send_in_slot, operation, send, writes=writes, search=search)
            if error is None:
                return data
            if error.is_rate_limit:
                pause = self._rate_limited(error, search=search)
                if waited + pause <= self.max_rate_limit_wait:
                    waited += pause
                    continue
                error.retry_after = pause
            alarming = error.status is None or error.status >= 500 or error.status in (401, 403)
            (log.warning if alarming else log.info)(
                "hubspot.call_failed",
                operation=operation,
                status=error.status,
                category=error.category,
                correlation_id=error.correlation_id,
                maybe_applied=error.maybe_applied,
            )
            raise error

    def _send_in_slot(
        self, operation: str, send: Callable[..., Any], *, writes: bool, search: bool
    ) -> tuple[Any, HubSpotError | None]:
        """One request, once the rate limiters (the search one too for a search) give a slot."""
        if search:
            self.search_limiter.acquire()
        try:
            with self.limiter.slot():
                return self._send_once(operation, send, writes=writes, search=search)
        finally:
            if search:
                self.search_limiter.release()

    def _send_once(
        self, operation: str, send: Callable[..., Any], *, writes: bool, search: bool
    ) -> tuple[Any, HubSpotError | None]:
        """One request while holding the slot(s); the server's rate headers are read here."""
        try:
            data, status, raw_headers = send(_request_timeout=self.timeout)
        except Exception as exc:  # every SDK and urllib3 failure becomes a HubSpotError
            error = HubSpotError.from_exception(exc, operation, writes=writes)
            self._count(operation, error.status)
            self._observe(error.headers, search=search, full=error.status == 429)
            return None, error
        headers = header_map(raw_headers)
        self._count(operation, status)
        self._observe(headers, search=search, full=False)
        if data is None:  # a status the operation does not list: the SDK returns None
            return None, HubSpotError(
                operation,
                status,
                f"an answer ({status}) the SDK could not read",
                maybe_applied=writes,
            )
        return data, None

    def _observe(self, headers: Mapping[str, str], *, search: bool, full: bool) -> None:
        # A 429's "remaining" says nothing new: `_rate_limited` counts the window as full.
        if full:
            headers = {k: v for k, v in headers.items() if k != "x-hubspot-ratelimit-remaining"}
        self.limiter.observe(headers)

    def _rate_limited(self, error: HubSpotError, *, search: bool) -> float:
        """A 429: hold every caller back for `Retry-After`, or else the rest of the window."""
        limiter = self.search_limiter if search and error.policy == "SECONDLY" else self.limiter
        if error.retry_after is not None:
            limiter.pause_for(error.retry_after)
            pause = error.retry_after
        else:
            pause = limiter.pause_for_rest_of_window()
        with self._stats_lock:
            self.stats.rate_limited += 1
            self.stats.rate_limit_wait_seconds += pause
        log.warning(
            "hubspot.rate_limited",
            operation=error.operation,
            policy=error.policy,
            pause_seconds=round(pause, 2),
            correlation_id=error.correlation_id,
        )
        return pause

    def _count(self, operation: str, status: int | None) -> None:
        label = str(status) if status else "no_answer"
        with self._stats_lock:
            self.stats.calls += 1
            self.stats.by_operation[operation.split(" ")[0]] += 1
            self.stats.by_status[label] += 1
        metrics.CRM_CALLS.labels(crm=CRM, status=label).inc()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _worth_repeating(error: HubSpotError | None) -> bool:
    return error is not None and error.worth_repeating_now


def _per_window(rate: float) -> tuple[int, float]:
    """A per-second rate as (calls, window): 4/s is 4 per 1 s, 0.5/s is 1 per 2 s."""
    if rate <= 0:
        raise ValueError("the search rate must be positive")
    if rate >= 1:
        return int(rate), int(rate) / rate
    return 1, 1 / rate
