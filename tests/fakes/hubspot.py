"""A loopback fake of the HubSpot CRM API, for tests and benchmarks.

Why a real server: ``hubspot-api-client`` is generated code over urllib3, so neither respx (httpx)
nor ``responses`` (requests) can intercept it. This module runs a small Starlette-based ASGI app
under uvicorn in a background thread on ``127.0.0.1`` (OS-chosen port) and the real SDK talks to
it over HTTP, exactly as it would talk to ``api.hubapi.com``.

Usage::

    from tests.fakes.hubspot import FakeHubSpot

    with FakeHubSpot(token="test-token", latency=0.1, rate_limit=(100, 10.0)) as hs:
        contact_id = hs.add_contact({"phone": "+15551234567", "firstname": "Ada"})
        client = hs.client()  # == HubSpot(access_token=hs.token, host=hs.url, base_url=hs.url)
        ...  # drive the code under test
        assert hs.count("POST", "/crm/v3/objects/communications") == 1
        assert hs.associated_ids("contacts", contact_id, "communications")

A ready-made pytest fixture, ``fake_hubspot``, is defined at the bottom; enable it with
``pytest_plugins = ["tests.fakes.hubspot"]`` in a conftest, or import it into a test module.

What the fake models (the shapes follow HubSpot's documentation and the SDK's models):

* CRM objects ``contacts``, ``companies``, ``deals``, ``communications`` and ``notes``: create,
  read, update, archive, list, search, and ``batch/{create,read,update,upsert,archive}``, with
  inline associations, unique-value properties (``hasUniqueValue``) and batch upsert by them.
* Associations (v3 ``?associations=`` on reads, v4 list / batch read / default-create / labels),
  properties (list, read, create) and owners.
* Bearer-token auth, HubSpot-shaped error bodies with a ``correlationId``, property validation.

Test knobs: ``latency`` (added to every request), ``rate_limit`` (rolling window, 429 with the
``X-HubSpot-RateLimit-*`` headers), ``search_rate_limit``, ``search_lag_seconds`` (search is
eventually consistent), one-shot error injection (:meth:`FakeHubSpot.inject`), "processed but the
client never got the answer" (:meth:`FakeHubSpot.inject_disconnect`,
:meth:`FakeHubSpot.inject_slow_response`) and per-input batch failures
(:meth:`FakeHubSpot.reject_value`).

Known simplifications (documented so nobody mistakes them for HubSpot facts): search lag applies
to newly created objects only (updates are searchable at once); property history is not kept;
error ``message`` texts are close to HubSpot's but not byte-identical; a unique-value conflict
fails a whole single or batch create/update with 409 ``CONFLICT`` (as HubSpot does for a
duplicate contact email); a v4 association batch read reports an input without associations as
a 207 error (``subCategory`` ``crm.associations.NO_ASSOCIATIONS_FOUND``; HubSpot reports such
inputs as errors too, the exact category and wording are unconfirmed); batch results keep input
order unless ``reverse_batch_results`` is set (HubSpot does not promise any order).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fnmatch
import json
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import eq, ge, gt, le, lt, ne
from typing import TYPE_CHECKING, Any, Literal

import phonenumbers
import pytest
import uvicorn
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from hubspot import HubSpot

JSONDict = dict[str, Any]
PropertyValues = dict[str, str | None]

BATCH_LIMIT = 100
SEARCH_LIMIT_MAX = 200
SEARCH_MAX_FILTER_GROUPS = 5
SEARCH_MAX_FILTERS_PER_GROUP = 10
SEARCH_MAX_FILTERS_TOTAL = 25
MAX_UNIQUE_PROPERTIES_PER_OBJECT = 10

_SEARCH_OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_ASSOCIATION_CATEGORIES = frozenset({"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"})
_AUTH_HELP = (
    "This API supports OAuth 2.0 authentication and you can find more details at "
    "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


# --------------------------------------------------------------------------------------------
# Static model: object types, association types, default properties
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ObjectType:
    """Per-object-type facts: the name HubSpot uses in messages and its system date properties."""

    name: str
    label: str  # as HubSpot spells it in messages, e.g. "CONTACT"
    created_property: str
    modified_property: str
    default_properties: tuple[str, ...]  # returned when the caller asks for no properties


_OBJECT_TYPES: dict[str, _ObjectType] = {
    t.name: t
    for t in (
        _ObjectType(
            "contacts",
            "CONTACT",
            "createdate",
            "lastmodifieddate",
            ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
        ),
        _ObjectType(
            "companies",
            "COMPANY",
            "createdate",
            "hs_lastmodifieddate",
            ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
        ),
        _ObjectType(
            "deals",
            "DEAL",
            "createdate",
            "hs_lastmodifieddate",
            (
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ),
        ),
        _ObjectType(
            "communications",
            "COMMUNICATION",
            "hs_createdate",
            "hs_lastmodifieddate",
            ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
        ),
        _ObjectType(
            "notes",
            "NOTE",
            "hs_createdate",
            "hs_lastmodifieddate",
            ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
        ),
    )
}

_TYPE_ALIASES: dict[str, str] = {
    **{name: name for name in _OBJECT_TYPES},
    "contact": "contacts",
    "0-1": "contacts",
    "company": "companies",
    "0-2": "companies",
    "deal": "deals",
    "0-3": "deals",
    "communication": "communications",
    "0-18": "communications",
    "note": "notes",
    "0-46": "notes",
}


@dataclass(frozen=True)
class AssociationType:
    """A HUBSPOT_DEFINED association type: ``type_id`` goes ``from_type`` → ``to_type``."""

    type_id: int
    from_type: str
    to_type: str
    name: str  # the v3 ``type`` string, e.g. "communication_to_contact"
    inverse_id: int
    label: str | None = None


ASSOCIATION_TYPES: dict[int, AssociationType] = {
    a.type_id: a
    for a in (
        AssociationType(279, "contacts", "companies", "contact_to_company_unlabeled", 280),
        AssociationType(280, "companies", "contacts", "company_to_contact_unlabeled", 279),
        AssociationType(1, "contacts", "companies", "contact_to_company", 2, "Primary"),
        AssociationType(2, "companies", "contacts", "company_to_contact", 1, "Primary"),
        AssociationType(4, "contacts", "deals", "contact_to_deal", 3),
        AssociationType(3, "deals", "contacts", "deal_to_contact", 4),
        AssociationType(5, "deals", "companies", "deal_to_company", 6, "Primary"),
        AssociationType(6, "companies", "deals", "company_to_deal", 5, "Primary"),
        AssociationType(81, "communications", "contacts", "communication_to_contact", 82),
        AssociationType(82, "contacts", "communications", "contact_to_communication", 81),
        AssociationType(85, "communications", "deals", "communication_to_deal", 86),
        AssociationType(86, "deals", "communications", "deal_to_communication", 85),
        AssociationType(87, "communications", "companies", "communication_to_company", 88),
        AssociationType(88, "companies", "communications", "company_to_communication", 87),
        AssociationType(202, "notes", "contacts", "note_to_contact", 201),
        AssociationType(201, "contacts", "notes", "contact_to_note", 202),
        AssociationType(190, "notes", "companies", "note_to_company", 189),
        AssociationType(189, "companies", "notes", "company_to_note", 190),
        AssociationType(214, "notes", "deals", "note_to_deal", 213),
        AssociationType(213, "deals", "notes", "deal_to_note", 214),
    )
}


def default_association_type(from_type: str, to_type: str) -> int:
    """The "default" (unlabeled) type id between two object types, as v4 ``create_default`` uses."""
    for assoc in ASSOCIATION_TYPES.values():  # unlabeled ones are listed first
        if (assoc.from_type, assoc.to_type) == (from_type, to_type):
            return assoc.type_id
    raise KeyError(f"no association type {from_type} -> {to_type}")


def _property(
    name: str,
    label: str,
    type_: str = "string",
    field_type: str = "text",
    *,
    group: str = "",
    read_only: bool = False,
    options: list[str] | None = None,
    unique: bool = False,
    hubspot_defined: bool = True,
) -> JSONDict:
    """One property definition in the shape of ``GET /crm/v3/properties/{objectType}/{name}``."""
    now = _iso(_utcnow())
    return {
        "name": name,
        "label": label,
        "type": type_,
        "fieldType": field_type,
        "description": "",
        "groupName": group,
        "options": [
            {"label": o.replace("_", " ").title(), "value": o, "displayOrder": i, "hidden": False}
            for i, o in enumerate(options or [])
        ],
        "displayOrder": -1,
        "calculated": read_only,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": hubspot_defined,
        "formField": not read_only,
        "archived": False,
        "createdAt": now,
        "updatedAt": now,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
        },
    }


def _default_properties() -> dict[str, dict[str, JSONDict]]:
    """The standard properties the connector reads or writes, per object type."""
    owner = _property("hubspot_owner_id", "Owner", "enumeration", "select", group="sales")

    def system(obj: _ObjectType) -> list[JSONDict]:
        return [
            _property("hs_object_id", "Record ID", "number", "number", read_only=True),
            _property(obj.created_property, "Create Date", "datetime", "date", read_only=True),
            _property(
                obj.modified_property, "Last Modified Date", "datetime", "date", read_only=True
            ),
        ]

    per_type: dict[str, list[JSONDict]] = {
        "contacts": [
            _property("email", "Email", group="contactinformation"),
            _property("firstname", "First Name", group="contactinformation"),
            _property("lastname", "Last Name", group="contactinformation"),
            _property(
                "phone", "Phone Number", field_type="phonenumber", group="contactinformation"
            ),
            _property(
                "mobilephone",
                "Mobile Phone Number",
                field_type="phonenumber",
                group="contactinformation",
            ),
            _property(
                "hs_searchable_calculated_phone_number", "Searchable phone number", read_only=True
            ),
            _property(
                "hs_searchable_calculated_mobile_number", "Searchable mobile number", read_only=True
            ),
            copy.deepcopy(owner),
        ],
        "companies": [
            _property("name", "Company name", group="companyinformation"),
            _property("domain", "Company Domain Name", group="companyinformation"),
            _property(
                "phone", "Phone Number", field_type="phonenumber", group="companyinformation"
            ),
            copy.deepcopy(owner),
        ],
        "deals": [
            _property("dealname", "Deal Name", group="dealinformation"),
            _property(
                "dealstage",
                "Deal Stage",
                "enumeration",
                "radio",
                group="dealinformation",
                options=[
                    "appointmentscheduled",
                    "qualifiedtobuy",
                    "presentationscheduled",
                    "decisionmakerboughtin",
                    "contractsent",
                    "closedwon",
                    "closedlost",
                ],
            ),
            _property("pipeline", "Pipeline", "enumeration", "select", options=["default"]),
            _property("amount", "Amount", "number", "number", group="dealinformation"),
            _property("closedate", "Close Date", "datetime", "date", group="dealinformation"),
            _property("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", read_only=True),
            copy.deepcopy(owner),
        ],
        "communications": [
            _property(
                "hs_communication_channel_type",
                "Channel type",
                "enumeration",
                "select",
                group="communication",
                options=["SMS", "WHATS_APP", "LINKEDIN_MESSAGE"],
            ),
            _property(
                "hs_communication_logged_from",
                "Logged from",
                "enumeration",
                "select",
                group="communication",
                options=["CRM"],
            ),
            _property(
                "hs_communication_body", "Body", field_type="textarea", group="communication"
            ),
            _property("hs_timestamp", "Activity date", "datetime", "date", group="communication"),
            copy.deepcopy(owner),
        ],
        "notes": [
            _property("hs_note_body", "Note body", field_type="html", group="note"),
            _property("hs_timestamp", "Activity date", "datetime", "date", group="note"),
            _property("hs_attachment_ids", "Attached file IDs", field_type="text", group="note"),
            copy.deepcopy(owner),
        ],
    }
    return {
        name: {p["name"]: p for p in [*system(_OBJECT_TYPES[name]), *props]}
        for name, props in per_type.items()
    }


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """HubSpot's timestamp format: UTC, millisecond precision, ``Z`` suffix."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_datetime(value: str) -> datetime | None:
    """Accept what HubSpot accepts for datetime properties: epoch milliseconds or ISO 8601."""
    value = value.strip()
    if re.fullmatch(r"-?\d+", value):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _national_digits(phone: str | None) -> str | None:
    """Approximates ``hs_searchable_calculated_*``: national number digits, no country code.

    HubSpot does not document the normalisation; this is a reasonable stand-in so that adapters
    which search on those properties can be exercised.
    """
    if not phone:
        return None
    try:
        return str(phonenumbers.parse(phone, None).national_number)
    except phonenumbers.NumberParseException:
        digits = re.sub(r"\D", "", phone)
        return digits or None


def _correlation_id() -> str:
    return str(uuid.uuid4())


def _as_property_string(value: Any) -> str | None:
    """HubSpot accepts JSON scalars as property values and stores them as strings."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# Replies, errors and records
# --------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What the fake answers: a status, a JSON-able body (or raw ``str``/``bytes``), headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(category: str, message: str, **extra: Any) -> JSONDict:
    """HubSpot's standard error body (``status``, ``message``, ``correlationId``, ``category``)."""
    return {
        "status": "error",
        "message": message,
        "correlationId": _correlation_id(),
        "category": category,
        **extra,
    }


class _Fail(Exception):
    """Raised inside handlers to answer the whole request with an error."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.reply = Reply(status, error_body(category, message, **extra))


class _InputFailure(Exception):
    """Raised while planning one batch input: that input fails, the others still run (207)."""

    def __init__(self, status: int, category: str, message: str, context: JSONDict) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = {k: [str(x) for x in v] for k, v in context.items() if v}

    def standard_error(self) -> JSONDict:
        """The per-input ``StandardError`` of a 207 answer."""
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": [],
            "links": {},
        }

    def as_fail(self) -> _Fail:
        """The same failure for a single-object endpoint."""
        return _Fail(self.status, self.category, self.message, context=self.context)


@dataclass
class Call:
    """One request as the fake received it, and what it did with it."""

    method: str
    path: str
    query: str
    body: Any
    status: int | None = None  # None until answered
    delivered: bool = True  # False when an injection dropped the connection
    at: float = 0.0  # time.monotonic() when it was counted against the rate windows


@dataclass
class Injection:
    """A scheduled misbehaviour; ``remaining`` counts down (None = forever), ``hits`` counts up."""

    method: str | None
    pattern: re.Pattern[str]
    kind: Literal["error", "disconnect", "delay"]
    remaining: int | None = 1
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method not in (None, "*") and self.method.upper() != method:
            return False
        return self.pattern.search(path) is not None

    def consume(self) -> None:
        self.hits += 1
        if self.remaining is not None:
            self.remaining -= 1


@dataclass
class _Rejection:
    """Writes where property X equals V fail (see :meth:`FakeHubSpot.reject_value`)."""

    property_name: str
    value: str
    object_type: str | None
    status: int
    category: str
    message: str | None
    remaining: int | None


@dataclass
class _StoredObject:
    object_type: str
    id: str
    properties: PropertyValues
    created_at: datetime
    updated_at: datetime
    searchable_from: float  # time.monotonic() after which search sees it
    archived: bool = False
    archived_at: datetime | None = None


class _RollingWindow:
    """At most ``limit`` admitted requests in any ``seconds``-long window."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self._admitted: deque[float] = deque()

    def _purge(self, now: float) -> None:
        while self._admitted and self._admitted[0] <= now - self.seconds:
            self._admitted.popleft()

    def admit(self, now: float) -> bool:
        self._purge(now)
        if len(self._admitted) >= self.limit:
            return False
        self._admitted.append(now)
        return True

    def remaining(self, now: float) -> int:
        self._purge(now)
        return max(0, self.limit - len(self._admitted))

    def seconds_until_free(self, now: float) -> float:
        self._purge(now)
        if len(self._admitted) < self.limit:
            return 0.0
        return self._admitted[0] + self.seconds - now

    def headers(self, now: float) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.limit),
            "X-HubSpot-RateLimit-Remaining": str(self.remaining(now)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.seconds * 1000)),
        }


@dataclass
class _Req:
    """A parsed request, as handlers see it."""

    method: str
    path: str
    params: dict[str, str]
    query: QueryParams
    body: Any

    def query_list(self, name: str) -> list[str] | None:
        """A list query parameter, sent either repeated (the SDK) or comma-separated."""
        values = [v.strip() for raw in self.query.getlist(name) for v in raw.split(",")]
        values = [v for v in values if v]
        return values or None

    def query_flag(self, name: str) -> bool:
        return self.query.get(name, "false").lower() == "true"

    def json_object(self) -> JSONDict:
        if not isinstance(self.body, dict):
            raise _Fail(400, "VALIDATION_ERROR", "Request body must be a JSON object.")
        return self.body

    def batch_inputs(self) -> list[JSONDict]:
        """A batch request's `inputs`: objects, at most `BATCH_LIMIT` of them, or HubSpot's 400."""
        inputs = self.json_object().get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise _Fail(400, "VALIDATION_ERROR", "inputs must be a list of objects")
        if len(inputs) > BATCH_LIMIT:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Batch size {len(inputs)} exceeds the limit of {BATCH_LIMIT} inputs.",
                context={"limit": [str(BATCH_LIMIT)]},
            )
        return inputs


_INVALID_JSON = object()


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeHubSpot:
    """A HubSpot CRM API look-alike on ``127.0.0.1``, driven by the real SDK.

    Start it with ``with FakeHubSpot() as hs:`` (or :meth:`start` / :meth:`stop`). All knobs
    given to the constructor are plain attributes and may be changed while it runs.

    :param token: the only accepted ``Authorization: Bearer`` token.
    :param latency: seconds added to every request (before rate limiting and processing).
    :param rate_limit: ``(max_requests, window_seconds)`` rolling window, e.g. ``(100, 10.0)``;
        the next request within the window gets a 429. ``None`` = unlimited, and no
        ``X-HubSpot-RateLimit-*`` headers are sent.
    :param retry_after: ``Retry-After`` on 429s: ``None`` (HubSpot does not promise it), a number
        of seconds, or ``"auto"`` (seconds until the window frees a slot, rounded up).
    :param search_rate_limit: an extra window for ``.../search`` (HubSpot documents a separate
        per-second search limit), e.g. ``(4, 1.0)``.
    :param search_lag_seconds: newly created objects are invisible to search for this long.
    :param rate_headers_on_search: HubSpot reportedly omits the rate headers on search answers;
        set False to mimic that.
    :param reverse_batch_results: return batch results in reverse input order, to catch code
        that pairs results with inputs by position.
    :param unique_properties_on: object types that may get ``hasUniqueValue`` custom properties
        (``None`` = all); whether HubSpot allows it on communications is unconfirmed.
    :param owners: seed owners (dicts with ``id``, ``email``, optional ``firstName``,
        ``lastName``, ``userId``); once any owner exists, ``hubspot_owner_id`` must name one.
    :param portal_id: used in the 429 ``groupName``.
    """

    def __init__(
        self,
        token: str = "test-token",
        *,
        latency: float = 0.0,
        rate_limit: tuple[int, float] | None = None,
        retry_after: float | Literal["auto"] | None = None,
        search_rate_limit: tuple[int, float] | None = None,
        search_lag_seconds: float = 0.0,
        rate_headers_on_search: bool = True,
        reverse_batch_results: bool = False,
        unique_properties_on: set[str] | None = None,
        owners: list[Mapping[str, Any]] | None = None,
        portal_id: int = 12345678,
    ) -> None:
        self.token = token
        self.latency = latency
        self.retry_after = retry_after
        self.search_lag_seconds = search_lag_seconds
        self.rate_headers_on_search = rate_headers_on_search
        self.reverse_batch_results = reverse_batch_results
        self.unique_properties_on = unique_properties_on
        self.portal_id = portal_id
        self._lock = threading.RLock()
        self._rate_limit = rate_limit
        self._search_rate_limit = search_rate_limit
        self._seed_owners = [dict(o) for o in owners or []]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._port = 0
        self._routes = self._build_routes()
        self.reset()

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; pass it as both ``host`` and ``base_url`` to ``HubSpot``."""
        if not self._port:
            raise RuntimeError("FakeHubSpot is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeHubSpot:
        """Bind a free port and serve in a daemon thread; returns once the server accepts."""
        if self._thread is not None:
            raise RuntimeError("FakeHubSpot already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            http="h11",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-hubspot", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeHubSpot failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Wake any sleeping request, shut uvicorn down and join the thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        loop, stop_event = self._loop, self._stop_event
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(stop_event.set)
        server.should_exit = True
        thread.join(timeout=5.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5.0)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None
        self._loop = None
        self._stop_event = None
        self._port = 0

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, **kwargs: Any) -> HubSpot:
        """A real SDK client pointed at this fake (extra kwargs go to ``HubSpot``, e.g. retry)."""
        from hubspot import HubSpot

        kwargs.setdefault("access_token", self.token)
        return HubSpot(host=self.url, base_url=self.url, **kwargs)

    def reset(self) -> None:
        """Forget all data, calls, injections and rate-window history (keep the knobs)."""
        with self._lock:
            self._objects: dict[str, dict[str, _StoredObject]] = {t: {} for t in _OBJECT_TYPES}
            self._edges: set[tuple[str, str, str, str, int]] = set()
            self._properties = _default_properties()
            self._owners: dict[str, JSONDict] = {}
            self._next_id = 1000
            self._calls: list[Call] = []
            self._injections: list[Injection] = []
            self._rejections: list[_Rejection] = []
            self.rate_limited = 0
            self._window = _RollingWindow(*self._rate_limit) if self._rate_limit else None
            self._search_window = (
                _RollingWindow(*self._search_rate_limit) if self._search_rate_limit else None
            )
            for owner in self._seed_owners:
                self.add_owner(**_owner_kwargs(owner))

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: tuple[int, float] | None) -> None:
        """Changing the limit starts a fresh window."""
        with self._lock:
            self._rate_limit = value
            self._window = _RollingWindow(*value) if value else None

    @property
    def search_rate_limit(self) -> tuple[int, float] | None:
        return self._search_rate_limit

    @search_rate_limit.setter
    def search_rate_limit(self, value: tuple[int, float] | None) -> None:
        with self._lock:
            self._search_rate_limit = value
            self._search_window = _RollingWindow(*value) if value else None

    # ---- seeding -----------------------------------------------------------------------------

    def add_object(
        self,
        object_type: str,
        properties: Mapping[str, Any] | None = None,
        *,
        searchable: bool = True,
    ) -> str:
        """Store an object directly (no auth, no rate limit); returns its id.

        Unknown property names raise ``ValueError`` so that typos in tests fail loudly;
        read-only properties may be set here. ``searchable=False`` applies the search lag.
        """
        object_type = _canonical_type(object_type)
        props = {k: _as_property_string(v) for k, v in (properties or {}).items()}
        with self._lock:
            unknown = sorted(set(props) - set(self._properties[object_type]))
            if unknown:
                raise ValueError(f"unknown {object_type} properties: {unknown}")
            obj = self._insert(object_type, props)
            if searchable:
                obj.searchable_from = 0.0
            return obj.id

    def add_contact(self, properties: Mapping[str, Any] | None = None) -> str:
        return self.add_object("contacts", properties)

    def add_company(self, properties: Mapping[str, Any] | None = None) -> str:
        return self.add_object("companies", properties)

    def add_deal(self, properties: Mapping[str, Any] | None = None) -> str:
        return self.add_object("deals", properties)

    def associate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int | None = None
    ) -> None:
        """Associate two stored objects (both directions), default type unless ``type_id``."""
        from_type, to_type = _canonical_type(from_type), _canonical_type(to_type)
        with self._lock:
            for kind, oid in ((from_type, from_id), (to_type, to_id)):
                if oid not in self._objects[kind]:
                    raise KeyError(f"no {kind} with id {oid}")
            self._link(
                from_type,
                str(from_id),
                to_type,
                str(to_id),
                type_id or default_association_type(from_type, to_type),
            )

    def define_property(
        self,
        object_type: str,
        name: str,
        *,
        type: str = "string",
        field_type: str = "text",
        label: str | None = None,
        has_unique_value: bool = False,
        options: list[str] | None = None,
        read_only: bool = False,
        group_name: str = "",
    ) -> JSONDict:
        """Add a property definition directly (as if created earlier in the portal)."""
        object_type = _canonical_type(object_type)
        definition = _property(
            name,
            label or name,
            type,
            field_type,
            group=group_name,
            read_only=read_only,
            options=options,
            unique=has_unique_value,
            hubspot_defined=False,
        )
        with self._lock:
            self._properties[object_type][name] = definition
        return copy.deepcopy(definition)

    def add_owner(
        self,
        email: str,
        first_name: str = "",
        last_name: str = "",
        *,
        id: str | None = None,
        user_id: int | None = None,
    ) -> str:
        """Seed an owner; afterwards ``hubspot_owner_id`` values must name a known owner."""
        with self._lock:
            owner_id = str(id or self._new_id())
            now = _iso(_utcnow())
            self._owners[owner_id] = {
                "id": owner_id,
                "email": email,
                "firstName": first_name,
                "lastName": last_name,
                "type": "PERSON",
                "userId": user_id if user_id is not None else int(owner_id) + 1,
                "userIdIncludingInactive": user_id if user_id is not None else int(owner_id) + 1,
                "createdAt": now,
                "updatedAt": now,
                "archived": False,
                "teams": [],
            }
            return owner_id

    # ---- misbehaviour ------------------------------------------------------------------------

    def inject(
        self,
        method: str | None,
        path_regex: str,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> Injection:
        """Answer the next ``times`` matching requests with ``status`` *without processing them*.

        ``method`` None or ``"*"`` matches any method; ``path_regex`` is searched in the path
        (no query string). ``body`` defaults to a HubSpot-shaped error for the status (a 429
        gets the rate-limit body and headers); a ``str``/``bytes`` body is sent as ``text/html``
        (HubSpot's edge answers some 502/504s with HTML). ``times=None`` means forever.
        """
        injection = Injection(
            method, re.compile(path_regex), "error", times, status, body, dict(headers or {})
        )
        with self._lock:
            self._injections.append(injection)
        return injection

    def inject_disconnect(self, method: str | None, path_regex: str, times: int = 1) -> Injection:
        """Process the request normally, then close the connection without answering.

        Simulates "the call succeeded on the server but the client never got the answer"; the SDK
        raises ``urllib3.exceptions.ProtocolError`` (``RemoteDisconnected``) for POST/PATCH, and
        urllib3's default retry re-sends idempotent methods such as GET.
        """
        injection = Injection(method, re.compile(path_regex), "disconnect", times)
        with self._lock:
            self._injections.append(injection)
        return injection

    def inject_slow_response(
        self, method: str | None, path_regex: str, delay: float, times: int = 1
    ) -> Injection:
        """Process the request normally, then wait ``delay`` seconds before answering.

        With ``_request_timeout`` shorter than ``delay`` the SDK raises
        ``urllib3.exceptions.ReadTimeoutError`` while the change is already stored.
        """
        injection = Injection(method, re.compile(path_regex), "delay", times, delay=delay)
        with self._lock:
            self._injections.append(injection)
        return injection

    def reject_value(
        self,
        property_name: str,
        value: Any,
        *,
        object_type: str | None = None,
        status: int = 400,
        category: str = "VALIDATION_ERROR",
        message: str | None = None,
        times: int | None = None,
    ) -> None:
        """Make writes fail where ``property_name`` is set to ``value``.

        In a batch only those inputs fail: the answer is 207 with one ``errors`` entry each
        (``context`` holds ``propertyName``, ``value``, the ``ids`` or ``objectWriteTraceId``).
        A single create/update answers ``status`` with the same category and message.
        """
        rule = _Rejection(
            property_name,
            str(_as_property_string(value)),
            _canonical_type(object_type) if object_type else None,
            status,
            category,
            message,
            times,
        )
        with self._lock:
            self._rejections.append(rule)

    def clear_injections(self) -> None:
        with self._lock:
            self._injections.clear()
            self._rejections.clear()

    # ---- observation -------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every request received, in arrival order (copies)."""
        with self._lock:
            return [copy.copy(c) for c in self._calls]

    @property
    def requests(self) -> list[tuple[str, str, Any]]:
        """``(method, path, json_body)`` for every request received, in arrival order."""
        with self._lock:
            return [(c.method, c.path, copy.deepcopy(c.body)) for c in self._calls]

    def count(
        self, method: str | None = None, path_prefix: str | None = None, status: int | None = None
    ) -> int:
        """How many requests matched (all three filters optional)."""
        with self._lock:
            return sum(
                1
                for c in self._calls
                if (method is None or c.method == method.upper())
                and (path_prefix is None or c.path.startswith(path_prefix))
                and (status is None or c.status == status)
            )

    def busiest_window(self, seconds: float, *, searches_only: bool = False) -> int:
        """The most requests that arrived within any ``seconds``-long window, refused ones
        included: what a client sharing one budget across processes must keep at or under
        the limit."""
        with self._lock:
            arrivals = sorted(
                c.at
                for c in self._calls
                if not searches_only or (c.method == "POST" and c.path.endswith("/search"))
            )
        busiest, start = 0, 0
        for end, moment in enumerate(arrivals):
            while arrivals[start] <= moment - seconds:
                start += 1
            busiest = max(busiest, end - start + 1)
        return busiest

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()
            self.rate_limited = 0

    def objects(
        self, object_type: str, *, include_archived: bool = False
    ) -> dict[str, PropertyValues]:
        """``{id: properties}`` of the stored objects of one type (copies)."""
        object_type = _canonical_type(object_type)
        with self._lock:
            return {
                oid: dict(obj.properties)
                for oid, obj in self._objects[object_type].items()
                if include_archived or not obj.archived
            }

    @property
    def contacts(self) -> dict[str, PropertyValues]:
        return self.objects("contacts")

    @property
    def communications(self) -> dict[str, PropertyValues]:
        return self.objects("communications")

    def get(self, object_type: str, object_id: str) -> PropertyValues | None:
        """The properties of one stored object, or None."""
        with self._lock:
            obj = self._objects[_canonical_type(object_type)].get(str(object_id))
            return dict(obj.properties) if obj else None

    def associations(
        self, object_type: str, object_id: str, to_type: str | None = None
    ) -> list[tuple[str, str, int]]:
        """``(to_type, to_id, type_id)`` for each association of one object."""
        object_type = _canonical_type(object_type)
        wanted = _canonical_type(to_type) if to_type else None
        with self._lock:
            return sorted(
                (t, tid, type_id)
                for f, fid, t, tid, type_id in self._edges
                if f == object_type and fid == str(object_id) and wanted in (None, t)
            )

    def associated_ids(self, object_type: str, object_id: str, to_type: str) -> list[str]:
        """Ids of the ``to_type`` objects associated with one object (any association type)."""
        return sorted({tid for _, tid, _ in self.associations(object_type, object_id, to_type)})

    def property_definition(self, object_type: str, name: str) -> JSONDict | None:
        with self._lock:
            found = self._properties[_canonical_type(object_type)].get(name)
            return copy.deepcopy(found) if found else None

    # ---- ASGI plumbing -----------------------------------------------------------------------

    async def _asgi(
        self,
        scope: Mapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        """The whole request pipeline: record, latency, rate limit, inject, auth, route, answer."""
        if scope["type"] != "http":
            return
        if self._stop_event is None:
            self._loop = asyncio.get_running_loop()
            self._stop_event = asyncio.Event()
        request = Request(dict(scope), receive)
        raw = await request.body()
        call = Call(request.method, request.url.path, request.url.query, _decode_json(raw))
        with self._lock:
            self._calls.append(call)
        await self._pause(self.latency)

        reply, processed = self._process(request, call)
        call.status = reply.status
        after = (
            self._take_injection(call.method, call.path, ("disconnect", "delay"))
            if processed
            else None
        )
        if after is not None and after.kind == "disconnect":
            call.delivered = False
            await _drop_connection(send)
            return
        if after is not None:
            await self._pause(after.delay)
        await _send_reply(reply, scope, receive, send)

    async def _pause(self, seconds: float) -> None:
        """Sleep without blocking other requests; cut short when the fake is stopping."""
        if seconds <= 0 or self._stop_event is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=seconds)

    def _process(self, request: Request, call: Call) -> tuple[Reply, bool]:
        """The answer, and whether a handler ran (only then may post-processing misbehave)."""
        now = time.monotonic()
        call.at = now
        is_search = call.method == "POST" and call.path.endswith("/search")
        with self._lock:
            limited = self._admit(now, is_search)
            if limited is not None:
                return limited, False
            rate_headers = self._window.headers(now) if self._window else {}
        if is_search and not self.rate_headers_on_search:
            rate_headers = {}

        injected = self._take_injection(call.method, call.path, ("error",))
        if injected is not None:
            return self._injected_reply(injected, now), False
        auth_failure = self._check_auth(request.headers.get("authorization"))
        if auth_failure is not None:
            return auth_failure, False
        if call.body is _INVALID_JSON:
            call.body = None
            invalid = error_body("VALIDATION_ERROR", "Invalid input JSON: not valid JSON.")
            return Reply(400, invalid), False

        reply = self._route(call, request.query_params)
        if 200 <= reply.status < 300:
            reply.headers = {**rate_headers, **reply.headers}
        return reply, True

    def _admit(self, now: float, is_search: bool) -> Reply | None:
        """Count the request against the windows; a 429 reply when one of them is full."""
        windows = [(self._window, "TEN_SECONDLY_ROLLING", "ten_secondly_rolling")]
        if is_search:
            windows.insert(0, (self._search_window, "SECONDLY", "secondly"))
        for window, policy, wording in windows:
            if window is not None and not window.admit(now):
                self.rate_limited += 1
                return self._rate_limited_reply(window, now, policy, wording)
        return None

    def _rate_limited_reply(
        self, window: _RollingWindow | None, now: float, policy: str, wording: str
    ) -> Reply:
        body = error_body("RATE_LIMIT", f"You have reached your {wording} limit.")
        del body["category"]  # a 429 carries errorType, not category
        body.update(
            errorType="RATE_LIMIT",
            policyName=policy,
            groupName=f"publicapi:private-app:{self.portal_id}",
            requestId=_correlation_id(),
        )
        headers = window.headers(now) if window else {}
        if self.retry_after == "auto" and window is not None:
            headers["Retry-After"] = str(max(1, math.ceil(window.seconds_until_free(now))))
        elif self.retry_after is not None and self.retry_after != "auto":
            headers["Retry-After"] = str(math.ceil(self.retry_after))
        return Reply(429, body, headers)

    def _take_injection(self, method: str, path: str, kinds: tuple[str, ...]) -> Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.kind in kinds and injection.matches(method, path):
                    injection.consume()
                    return injection
        return None

    def _injected_reply(self, injection: Injection, now: float) -> Reply:
        if injection.status == 429:
            with self._lock:
                self.rate_limited += 1
                reply = self._rate_limited_reply(
                    self._window, now, "TEN_SECONDLY_ROLLING", "ten_secondly_rolling"
                )
        else:
            category, message = _DEFAULT_ERRORS.get(
                injection.status,
                ("INTERNAL_ERROR", "Injected error.")
                if injection.status >= 500
                else ("VALIDATION_ERROR", "Injected error."),
            )
            reply = Reply(injection.status, error_body(category, message))
        if injection.body is not None:
            reply.body = copy.deepcopy(injection.body)
        reply.headers.update(injection.headers)
        return reply

    def _check_auth(self, header: str | None) -> Reply | None:
        if header is None or not header.startswith("Bearer "):
            message = f"Authentication credentials not found. {_AUTH_HELP}"
        elif header.removeprefix("Bearer ") != self.token:
            message = f"The access token provided is invalid or expired. {_AUTH_HELP}"
        else:
            return None
        return Reply(401, error_body("INVALID_AUTHENTICATION", message))

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[[_Req], Reply]]]:
        obj = r"/crm/v3/objects/(?P<type>[^/]+)"
        table: list[tuple[str, str, Callable[[_Req], Reply]]] = [
            ("POST", obj + r"/search", self._h_search),
            ("POST", obj + r"/batch/(?P<op>create|read|update|upsert|archive)", self._h_batch),
            ("GET", obj, self._h_list),
            ("POST", obj, self._h_create),
            ("GET", obj + r"/(?P<id>[^/]+)", self._h_get),
            ("PATCH", obj + r"/(?P<id>[^/]+)", self._h_update),
            ("DELETE", obj + r"/(?P<id>[^/]+)", self._h_archive),
            (
                "GET",
                r"/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations/(?P<to>[^/]+)",
                self._h_v4_list,
            ),
            (
                "PUT",
                r"/crm/v4/objects/(?P<type>[^/]+)/(?P<id>[^/]+)/associations/default/"
                r"(?P<to>[^/]+)/(?P<to_id>[^/]+)",
                self._h_v4_default,
            ),
            (
                "GET",
                r"/crm/v4/associations/(?P<type>[^/]+)/(?P<to>[^/]+)/labels",
                self._h_v4_labels,
            ),
            (
                "POST",
                r"/crm/v4/associations/(?P<type>[^/]+)/(?P<to>[^/]+)/batch/read",
                self._h_v4_batch_read,
            ),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)", self._h_properties),
            ("POST", r"/crm/v3/properties/(?P<type>[^/]+)", self._h_property_create),
            ("GET", r"/crm/v3/properties/(?P<type>[^/]+)/(?P<name>[^/]+)", self._h_property),
            ("GET", r"/crm/v3/owners/?", self._h_owners),
            ("GET", r"/crm/v3/owners/(?P<id>[^/]+)", self._h_owner),
        ]
        return [(method, re.compile(pattern), handler) for method, pattern, handler in table]

    def _route(self, call: Call, query: QueryParams) -> Reply:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(call.path)
            if match is None:
                continue
            path_matched = True
            if method != call.method:
                continue
            req = _Req(call.method, call.path, match.groupdict(), query, call.body)
            try:
                with self._lock:
                    return handler(req)
            except _Fail as failure:
                return failure.reply
            except Exception as exc:  # a bug in the fake: make it visible to the test
                return Reply(500, error_body("INTERNAL_ERROR", f"FakeHubSpot bug: {exc!r}"))
        if path_matched:
            return Reply(405, error_body("VALIDATION_ERROR", f"{call.method} is not allowed here"))
        message = f"FakeHubSpot has no route for {call.method} {call.path}"
        return Reply(404, error_body("RESOURCE_NOT_FOUND", message))

    # ---- object endpoints --------------------------------------------------------------------

    def _h_create(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        body = req.json_object()
        try:
            props, links = self._plan_create(object_type, body, [])
        except _InputFailure as failure:
            raise failure.as_fail() from None
        obj = self._insert(object_type, props)
        self._link_all(object_type, obj.id, links)
        return Reply(201, self._object_json(obj, None))

    def _h_get(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        obj = self._find(
            object_type,
            req.params["id"],
            req.query.get("idProperty"),
            archived=req.query_flag("archived"),
        )
        if obj is None:
            raise _Fail(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [req.params["id"]]},
            )
        return Reply(
            200,
            self._object_json(
                obj,
                self._read_properties(obj.object_type, req.query_list("properties")),
                associations=req.query_list("associations"),
            ),
        )

    def _h_list(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        archived = req.query_flag("archived")
        found = [o for o in self._objects[object_type].values() if o.archived == archived]
        limit = _int_param(req.query.get("limit"), default=10, maximum=100)
        after = _int_param(req.query.get("after"), default=0)
        page = found[after : after + limit]
        body: JSONDict = {
            "results": [
                self._object_json(
                    o,
                    self._read_properties(object_type, req.query_list("properties")),
                    associations=req.query_list("associations"),
                )
                for o in page
            ]
        }
        if after + limit < len(found):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, body)

    def _h_update(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        obj = self._find(object_type, req.params["id"], req.query.get("idProperty"))
        if obj is None:
            raise _Fail(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found.  objectId are usually numeric.",
                context={"id": [req.params["id"]]},
            )
        props = self._check_properties(object_type, req.json_object().get("properties"))
        try:
            self._check_rejections(object_type, props, {"ids": [obj.id]})
        except _InputFailure as failure:
            raise failure.as_fail() from None
        self._check_unique(object_type, props, exclude_id=obj.id, pending={})
        self._apply_update(obj, props)
        return Reply(200, self._object_json(obj, None))

    def _h_archive(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        obj = self._objects[object_type].get(req.params["id"])
        if obj is not None and not obj.archived:
            obj.archived, obj.archived_at = True, _utcnow()
        return Reply(204)

    def _h_search(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        body = req.json_object()
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 <= limit <= SEARCH_LIMIT_MAX:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"limit must be an integer between 0 and {SEARCH_LIMIT_MAX}",
            )
        after = _int_param(body.get("after"), default=0)
        groups = self._check_filter_groups(object_type, body.get("filterGroups") or [])
        properties = self._read_properties(object_type, body.get("properties"))
        query = str(body.get("query") or "").strip().lower()
        now = time.monotonic()
        matched = [
            o
            for o in self._objects[object_type].values()
            if not o.archived
            and o.searchable_from <= now
            and (not groups or any(all(self._matches(o, f) for f in g) for g in groups))
            and (not query or any(query in (v or "").lower() for v in o.properties.values()))
        ]
        matched = self._sorted(object_type, matched, body.get("sorts") or [])
        page = matched[after : after + limit]
        result: JSONDict = {
            "total": len(matched),
            "results": [self._object_json(o, properties) for o in page],
        }
        if after + limit < len(matched):
            result["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, result)

    # ---- batch endpoints ---------------------------------------------------------------------

    def _h_batch(self, req: _Req) -> Reply:
        """Plan every input first (so a whole-request error changes nothing), then apply."""
        object_type = _canonical_type(req.params["type"])
        body = req.json_object()
        inputs = req.batch_inputs()
        started = _iso(_utcnow())
        op = req.params["op"]
        if op == "archive":
            for item in inputs:
                obj = self._objects[object_type].get(str(item.get("id")))
                if obj is not None and not obj.archived:
                    obj.archived, obj.archived_at = True, _utcnow()
            return Reply(204)
        handler = {
            "create": self._batch_create,
            "read": self._batch_read,
            "update": self._batch_update,
            "upsert": self._batch_upsert,
        }[op]
        results, failures = handler(object_type, body, inputs)
        if self.reverse_batch_results:
            results.reverse()
        answer: JSONDict = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(_utcnow()),
        }
        if failures:
            answer["numErrors"] = len(failures)
            answer["errors"] = [f.standard_error() for f in failures]
            return Reply(207, answer)
        return Reply(201 if op == "create" else 200, answer)

    def _batch_create(
        self, object_type: str, _body: JSONDict, inputs: list[JSONDict]
    ) -> tuple[list[JSONDict], list[_InputFailure]]:
        plans: list[tuple[JSONDict, PropertyValues, list[tuple[str, str, int]]]] = []
        failures: list[_InputFailure] = []
        pending: list[PropertyValues] = []
        for item in inputs:
            try:
                props, links = self._plan_create(object_type, item, pending)
            except _InputFailure as failure:
                failures.append(failure)
                continue
            pending.append(props)
            plans.append((item, props, links))
        results = []
        for item, props, links in plans:
            obj = self._insert(object_type, props)
            self._link_all(object_type, obj.id, links)
            results.append(self._object_json(obj, None, trace_id=item.get("objectWriteTraceId")))
        return results, failures

    def _batch_read(
        self, object_type: str, body: JSONDict, inputs: list[JSONDict]
    ) -> tuple[list[JSONDict], list[_InputFailure]]:
        id_property = body.get("idProperty")
        if id_property:
            self._require_unique_property(object_type, id_property, "read")
        results, missing = [], []
        for item in inputs:
            obj = self._find(object_type, str(item.get("id", "")), id_property)
            if obj is None:
                missing.append(str(item.get("id", "")))
            else:
                results.append(
                    self._object_json(
                        obj, self._read_properties(object_type, body.get("properties"))
                    )
                )
        failures = []
        if missing:
            message = (
                f"Could not get some {_OBJECT_TYPES[object_type].label} objects, they may "
                "be deleted or not exist. Check that ids are valid."
            )
            failures.append(_InputFailure(404, "OBJECT_NOT_FOUND", message, {"ids": missing}))
        return results, failures

    def _batch_update(
        self, object_type: str, _body: JSONDict, inputs: list[JSONDict]
    ) -> tuple[list[JSONDict], list[_InputFailure]]:
        self._reject_duplicate_ids(inputs)
        plans: list[tuple[JSONDict, _StoredObject, PropertyValues]] = []
        failures: list[_InputFailure] = []
        pending: dict[str, PropertyValues] = {}
        for item in inputs:
            raw_id = str(item.get("id", ""))
            props = self._check_properties(object_type, item.get("properties"))
            obj = self._find(object_type, raw_id, item.get("idProperty"))
            if obj is None:
                failures.append(
                    _InputFailure(
                        404,
                        "OBJECT_NOT_FOUND",
                        f"No {object_type} with id {raw_id}",
                        {"ids": [raw_id]},
                    )
                )
                continue
            try:
                self._check_rejections(object_type, props, {"ids": [raw_id]})
            except _InputFailure as failure:
                failures.append(failure)
                continue
            self._check_unique(object_type, props, exclude_id=obj.id, pending=pending)
            pending[obj.id] = props
            plans.append((item, obj, props))
        results = []
        for item, obj, props in plans:
            self._apply_update(obj, props)
            results.append(self._object_json(obj, None, trace_id=item.get("objectWriteTraceId")))
        return results, failures

    def _batch_upsert(
        self, object_type: str, _body: JSONDict, inputs: list[JSONDict]
    ) -> tuple[list[JSONDict], list[_InputFailure]]:
        """Update the object whose ``idProperty`` equals ``id``, or create it with that value."""
        self._reject_duplicate_ids(inputs)
        plans: list[tuple[JSONDict, _StoredObject | None, PropertyValues]] = []
        failures: list[_InputFailure] = []
        pending: dict[str, PropertyValues] = {}
        for index, item in enumerate(inputs):
            id_property, key = item.get("idProperty"), str(item.get("id") or "")
            if not id_property or not key:
                raise _Fail(400, "VALIDATION_ERROR", "Each upsert input needs id and idProperty.")
            self._require_unique_property(object_type, id_property, "update/upsert")
            props = self._check_properties(object_type, item.get("properties"))
            props[id_property] = key
            target = self._find(object_type, key, id_property)
            try:
                self._check_rejections(object_type, props, {"ids": [key]})
            except _InputFailure as failure:
                failures.append(failure)
                continue
            slot = target.id if target else f"new-{index}"
            self._check_unique(object_type, props, exclude_id=slot, pending=pending)
            pending[slot] = props
            plans.append((item, target, props))
        results = []
        for item, target, props in plans:
            if target is None:
                obj = self._insert(object_type, props)
            else:
                obj = target
                self._apply_update(obj, props)
            result = self._object_json(obj, None, trace_id=item.get("objectWriteTraceId"))
            result["new"] = target is None
            results.append(result)
        return results, failures

    # ---- association endpoints ---------------------------------------------------------------

    def _h_v4_list(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        to_type = _canonical_type(req.params["to"])
        if self._find(object_type, req.params["id"], None) is None:
            raise _Fail(404, "OBJECT_NOT_FOUND", f"No {object_type} with id {req.params['id']}")
        by_target: dict[str, list[JSONDict]] = {}
        for _, to_id, type_id in self.associations(object_type, req.params["id"], to_type):
            assoc = ASSOCIATION_TYPES[type_id]
            by_target.setdefault(to_id, []).append(
                {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": assoc.label}
            )
        rows = [
            {"toObjectId": int(to_id), "associationTypes": types}
            for to_id, types in sorted(by_target.items(), key=lambda kv: int(kv[0]))
        ]
        limit = _int_param(req.query.get("limit"), default=500, maximum=500)
        after = _int_param(req.query.get("after"), default=0)
        body: JSONDict = {"results": rows[after : after + limit]}
        if after + limit < len(rows):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, body)

    def _h_v4_batch_read(self, req: _Req) -> Reply:
        """``POST /crm/v4/associations/{from}/{to}/batch/read``: each input's associations.

        An input without any (or whose object does not exist) is reported in ``errors`` (a 207)
        rather than as an empty result, as HubSpot does; the error's wording is the fake's.
        """
        object_type = _canonical_type(req.params["type"])
        to_type = _canonical_type(req.params["to"])
        inputs = req.batch_inputs()
        started = _iso(_utcnow())
        results: list[JSONDict] = []
        errors: list[JSONDict] = []
        for item in inputs:
            from_id = str(item.get("id") or "")
            edges = (
                self.associations(object_type, from_id, to_type)
                if self._find(object_type, from_id, None) is not None
                else []
            )
            by_target: dict[str, list[JSONDict]] = {}
            for _, to_id, type_id in edges:
                by_target.setdefault(to_id, []).append(
                    {
                        "category": "HUBSPOT_DEFINED",
                        "typeId": type_id,
                        "label": ASSOCIATION_TYPES[type_id].label,
                    }
                )
            if not by_target:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {to_type} is associated with {object_type} {from_id}.",
                        "context": {"fromObjectId": [from_id]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": from_id},
                    "to": [
                        {"toObjectId": int(to_id), "associationTypes": types}
                        for to_id, types in sorted(by_target.items(), key=lambda kv: int(kv[0]))
                    ],
                }
            )
        answer: JSONDict = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _iso(_utcnow()),
        }
        if errors:
            answer["numErrors"] = len(errors)
            answer["errors"] = errors
            return Reply(207, answer)
        return Reply(200, answer)

    def _h_v4_default(self, req: _Req) -> Reply:
        from_type = _canonical_type(req.params["type"])
        to_type = _canonical_type(req.params["to"])
        from_id, to_id = req.params["id"], req.params["to_id"]
        for kind, oid in ((from_type, from_id), (to_type, to_id)):
            if self._find(kind, oid, None) is None:
                raise _Fail(400, "VALIDATION_ERROR", f"No {kind} with id {oid}")
        try:
            type_id = default_association_type(from_type, to_type)
        except KeyError:
            raise _Fail(
                400, "VALIDATION_ERROR", f"No association type between {from_type} and {to_type}"
            ) from None
        self._link(from_type, from_id, to_type, to_id, type_id)
        now = _iso(_utcnow())
        spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
        inverse = {
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": ASSOCIATION_TYPES[type_id].inverse_id,
        }
        return Reply(
            200,
            {
                "status": "COMPLETE",
                "results": [
                    {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec},
                    {"from": {"id": to_id}, "to": {"id": from_id}, "associationSpec": inverse},
                ],
                "startedAt": now,
                "completedAt": now,
            },
        )

    def _h_v4_labels(self, req: _Req) -> Reply:
        from_type = _canonical_type(req.params["type"])
        to_type = _canonical_type(req.params["to"])
        return Reply(
            200,
            {
                "results": [
                    {"category": "HUBSPOT_DEFINED", "typeId": a.type_id, "label": a.label}
                    for a in ASSOCIATION_TYPES.values()
                    if (a.from_type, a.to_type) == (from_type, to_type)
                ]
            },
        )

    # ---- properties and owners ---------------------------------------------------------------

    def _h_properties(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        names = sorted(self._properties[object_type])
        return Reply(200, {"results": [self._property_json(object_type, n) for n in names]})

    def _h_property(self, req: _Req) -> Reply:
        object_type = _canonical_type(req.params["type"])
        name = req.params["name"]
        if name not in self._properties[object_type]:
            raise _Fail(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} in object type {object_type}",
            )
        return Reply(200, self._property_json(object_type, name))

    def _h_property_create(self, req: _Req) -> Reply:
        """``POST /crm/v3/properties/{objectType}``: what ``mappings setup`` uses."""
        object_type = _canonical_type(req.params["type"])
        body = req.json_object()
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Missing required fields: {', '.join(missing)}",
                context={"missingFields": missing},
            )
        name, type_, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name.startswith("hs_"):
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Invalid property name '{name}': use lowercase letters, digits and "
                "underscores, starting with a letter, not starting with hs_",
            )
        if field_type not in _FIELD_TYPES.get(type_, ()):
            raise _Fail(
                400, "VALIDATION_ERROR", f"fieldType '{field_type}' is not valid for type '{type_}'"
            )
        if name in self._properties[object_type]:
            raise _Fail(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
        options = body.get("options") or []
        if type_ == "enumeration" and not options:
            raise _Fail(400, "VALIDATION_ERROR", "Enumeration properties need options")
        unique = bool(body.get("hasUniqueValue"))
        if unique:
            self._check_unique_allowed(object_type, type_)
        definition = _property(
            name,
            str(body["label"]),
            type_,
            field_type,
            group=str(body["groupName"]),
            unique=unique,
            hubspot_defined=False,
        )
        definition["description"] = str(body.get("description") or "")
        definition["hidden"] = bool(body.get("hidden", False))
        definition["formField"] = bool(body.get("formField", False))
        definition["displayOrder"] = int(body.get("displayOrder", -1))
        definition["options"] = [
            {
                "label": str(o.get("label", "")),
                "value": str(o.get("value", "")),
                "displayOrder": int(o.get("displayOrder", i)),
                "hidden": bool(o.get("hidden")),
            }
            for i, o in enumerate(options)
        ]
        self._properties[object_type][name] = definition
        return Reply(201, copy.deepcopy(definition))

    def _check_unique_allowed(self, object_type: str, type_: str) -> None:
        if self.unique_properties_on is not None and object_type not in {
            _canonical_type(t) for t in self.unique_properties_on
        }:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Unique value properties are not supported on {object_type}",
            )
        if type_ not in ("string", "number"):
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                "Only string and number properties can require unique values",
            )
        existing = sum(1 for p in self._properties[object_type].values() if p["hasUniqueValue"])
        if existing >= MAX_UNIQUE_PROPERTIES_PER_OBJECT:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"At most {MAX_UNIQUE_PROPERTIES_PER_OBJECT} unique value properties per object",
            )

    def _property_json(self, object_type: str, name: str) -> JSONDict:
        definition = copy.deepcopy(self._properties[object_type][name])
        if name == "hubspot_owner_id":
            definition["options"] = [
                {
                    "label": f"{o['firstName']} {o['lastName']} ({o['email']})".strip(),
                    "value": oid,
                    "displayOrder": i,
                    "hidden": False,
                }
                for i, (oid, o) in enumerate(self._owners.items())
            ]
        return definition

    def _h_owners(self, req: _Req) -> Reply:
        owners = [o for o in self._owners.values() if o["archived"] == req.query_flag("archived")]
        email = req.query.get("email")
        if email:
            owners = [o for o in owners if o["email"].lower() == email.lower()]
        limit = _int_param(req.query.get("limit"), default=100, maximum=500)
        after = _int_param(req.query.get("after"), default=0)
        body: JSONDict = {"results": copy.deepcopy(owners[after : after + limit])}
        if after + limit < len(owners):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, body)

    def _h_owner(self, req: _Req) -> Reply:
        key = req.params["id"]
        by_user = req.query.get("idProperty") == "userId"
        for owner in self._owners.values():
            if (str(owner["userId"]) if by_user else owner["id"]) == key:
                return Reply(200, copy.deepcopy(owner))
        raise _Fail(404, "OBJECT_NOT_FOUND", f"Owner {key} not found")

    # ---- validation --------------------------------------------------------------------------

    def _check_properties(self, object_type: str, raw: Any) -> PropertyValues:
        """Validate names, writability and value formats; a whole-request 400 otherwise.

        The message mimics HubSpot's ``Property values were not valid: [...]`` (a JSON list of
        per-property problems); ``errors`` carries the same details in structured form.
        """
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise _Fail(400, "VALIDATION_ERROR", "properties must be an object")
        definitions = self._properties[object_type]
        problems: list[JSONDict] = []
        values: PropertyValues = {}
        for name, value in raw.items():
            definition = definitions.get(name)
            if definition is None:
                problems.append(
                    _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
            elif definition["modificationMetadata"]["readOnlyValue"]:
                problems.append(
                    _problem(
                        name,
                        "READ_ONLY_VALUE",
                        f'"{name}" is a read only property; its value cannot be set.',
                    )
                )
            elif isinstance(value, dict | list):
                problems.append(
                    _problem(name, "INVALID_TYPE", f"{value!r} is not a valid property value")
                )
            else:
                text = _as_property_string(value)
                problem = self._value_problem(name, definition, text)
                if problem is not None:
                    problems.append(problem)
                else:
                    values[name] = _normalise(definition, text)
        if problems:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Property values were not valid: {json.dumps(problems, separators=(',', ':'))}",
                errors=[
                    {
                        "message": p["message"],
                        "code": p["error"],
                        "context": {"propertyName": [p["name"]]},
                    }
                    for p in problems
                ],
            )
        return values

    def _value_problem(self, name: str, definition: JSONDict, text: str | None) -> JSONDict | None:
        if text is None or text == "":
            return None  # clears the value
        kind = definition["type"]
        if name == "hubspot_owner_id":
            if self._owners and text not in self._owners:
                return _problem(name, "INVALID_OWNER_ID", f"{text} is not a valid owner id")
            return None
        if kind == "number":
            try:
                float(text)
            except ValueError:
                return _problem(name, "INVALID_FLOAT", f"{text} was not a valid number.")
        elif kind == "datetime" and _parse_datetime(text) is None:
            return _problem(
                name,
                "INVALID_DATE",
                f"{text} was not a valid long (epoch milliseconds) or ISO 8601 datetime.",
            )
        elif kind == "date" and _parse_date(text) is None:
            return _problem(name, "INVALID_DATE", f"{text} is not a valid date (YYYY-MM-DD).")
        elif kind == "bool" and text not in ("true", "false"):
            return _problem(name, "INVALID_BOOLEAN", f"{text} is not a valid boolean.")
        elif kind == "enumeration":
            allowed = {o["value"] for o in definition["options"]}
            chosen = text.split(";") if definition["fieldType"] == "checkbox" else [text]
            bad = [c for c in chosen if c not in allowed]
            if bad:
                return _problem(
                    name,
                    "INVALID_OPTION",
                    f"{bad[0]} was not one of the allowed options: {sorted(allowed)}",
                )
        return None

    def _check_rejections(self, object_type: str, props: PropertyValues, ids: JSONDict) -> None:
        for rule in self._rejections:
            if rule.remaining is not None and rule.remaining <= 0:
                continue
            if rule.object_type not in (None, object_type):
                continue
            if props.get(rule.property_name) != rule.value:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
            message = rule.message or (
                f"Property values were not valid: {rule.property_name}={rule.value} is rejected"
            )
            raise _InputFailure(
                rule.status,
                rule.category,
                message,
                {
                    "propertyName": [rule.property_name],
                    "value": [rule.value],
                    **ids,
                },
            )

    def _unique_properties(self, object_type: str) -> list[str]:
        names = [n for n, p in self._properties[object_type].items() if p["hasUniqueValue"]]
        return [*names, "email"] if object_type == "contacts" else names

    def _require_unique_property(self, object_type: str, name: str, action: str) -> None:
        if name == "hs_object_id" or name in self._unique_properties(object_type):
            return
        label = _OBJECT_TYPES[object_type].label.lower()
        if name not in self._properties[object_type]:
            raise _Fail(400, "VALIDATION_ERROR", f'Property "{name}" does not exist on {label}')
        raise _Fail(
            400,
            "VALIDATION_ERROR",
            f"Unable to perform {action} by non-unique {label} property: {name}",
        )

    def _check_unique(
        self,
        object_type: str,
        props: PropertyValues,
        *,
        exclude_id: str,
        pending: Mapping[str, PropertyValues] | list[PropertyValues],
    ) -> None:
        """409 CONFLICT when a unique-value property would hold a value another object has."""
        pending_items = (
            list(pending.items())
            if isinstance(pending, Mapping)
            else [(f"pending-{i}", p) for i, p in enumerate(pending)]
        )
        for name in self._unique_properties(object_type):
            value = props.get(name)
            if not value:
                continue
            folded = value.lower() if name == "email" else value
            owners = [
                o.id
                for o in self._objects[object_type].values()
                if not o.archived
                and o.id != exclude_id
                and _fold(name, o.properties.get(name)) == folded
            ] + [
                other_id
                for other_id, other in pending_items
                if other_id != exclude_id and _fold(name, other.get(name)) == folded
            ]
            if owners:
                existing = owners[0]
                message = (
                    f"Contact already exists. Existing ID: {existing}"
                    if name == "email"
                    else f"A {_OBJECT_TYPES[object_type].label.lower()} with {name}={value} "
                    f"already exists. Existing ID: {existing}"
                )
                raise _Fail(
                    409, "CONFLICT", message, context={"propertyName": [name], "id": [existing]}
                )

    def _check_filter_groups(self, object_type: str, groups: Any) -> list[list[JSONDict]]:
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise _Fail(400, "VALIDATION_ERROR", "filterGroups must be a list of objects")
        filters = [g.get("filters") or [] for g in groups]
        if len(groups) > SEARCH_MAX_FILTER_GROUPS:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Too many filterGroups: at most {SEARCH_MAX_FILTER_GROUPS}",
            )
        if any(len(f) > SEARCH_MAX_FILTERS_PER_GROUP for f in filters) or (
            sum(len(f) for f in filters) > SEARCH_MAX_FILTERS_TOTAL
        ):
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Too many filters: at most {SEARCH_MAX_FILTERS_PER_GROUP} per group and "
                f"{SEARCH_MAX_FILTERS_TOTAL} in total",
            )
        for group in filters:
            for f in group:
                name, operator = f.get("propertyName"), f.get("operator")
                if name not in self._properties[object_type]:
                    raise _Fail(
                        400,
                        "VALIDATION_ERROR",
                        f"There was a problem with the request: property {name!r} does "
                        f"not exist on {object_type}",
                    )
                if operator not in _SEARCH_OPERATORS:
                    raise _Fail(400, "VALIDATION_ERROR", f"Unknown filter operator {operator!r}")
                if operator in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
                    raise _Fail(400, "VALIDATION_ERROR", f"{operator} needs a values list")
                if operator not in ("IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY") and (
                    f.get("value") is None
                ):
                    raise _Fail(400, "VALIDATION_ERROR", f"{operator} needs a value")
        return filters

    def _plan_create(
        self, object_type: str, item: JSONDict, pending: list[PropertyValues]
    ) -> tuple[PropertyValues, list[tuple[str, str, int]]]:
        props = self._check_properties(object_type, item.get("properties"))
        links = self._check_associations(object_type, item.get("associations") or [])
        trace = item.get("objectWriteTraceId")
        self._check_rejections(object_type, props, {"objectWriteTraceId": [trace] if trace else []})
        self._check_unique(object_type, props, exclude_id="", pending=pending)
        return props, links

    def _check_associations(self, object_type: str, raw: Any) -> list[tuple[str, str, int]]:
        """Inline ``associations`` of a create: ``[{to: {id}, types: [{category, typeId}]}]``."""
        if not isinstance(raw, list):
            raise _Fail(400, "VALIDATION_ERROR", "associations must be a list")
        links = []
        for assoc in raw:
            target_ref = assoc.get("to") if isinstance(assoc, dict) else None
            to_id = str(target_ref.get("id") or "") if isinstance(target_ref, dict) else ""
            types = assoc.get("types") if isinstance(assoc, dict) else None
            if not to_id or not isinstance(types, list) or not types:
                raise _Fail(400, "VALIDATION_ERROR", "Each association needs to.id and types")
            for spec in types:
                if not isinstance(spec, dict):
                    raise _Fail(400, "VALIDATION_ERROR", "association types must be objects")
                category = spec.get("associationCategory")
                type_id = spec.get("associationTypeId")
                known = ASSOCIATION_TYPES.get(type_id) if isinstance(type_id, int) else None
                if category not in _ASSOCIATION_CATEGORIES:
                    raise _Fail(
                        400, "VALIDATION_ERROR", f"Invalid associationCategory {category!r}"
                    )
                if (
                    category != "HUBSPOT_DEFINED"
                    or known is None
                    or (known.from_type != object_type)
                ):
                    raise _Fail(
                        400,
                        "VALIDATION_ERROR",
                        f"association type {category}/{type_id} is not valid from {object_type}",
                    )
                target = self._objects[known.to_type].get(to_id)
                if target is None or target.archived:
                    raise _Fail(
                        400,
                        "VALIDATION_ERROR",
                        f"One or more associations are invalid: no {known.to_type} with id {to_id}",
                        context={"ids": [to_id]},
                    )
                links.append((known.to_type, to_id, known.type_id))
        return links

    @staticmethod
    def _reject_duplicate_ids(inputs: list[JSONDict]) -> None:
        seen: set[str] = set()
        repeated: set[str] = set()
        for item in inputs:
            key = str(item.get("id"))
            (repeated if key in seen else seen).add(key)
        duplicates = sorted(repeated)
        if duplicates:
            raise _Fail(
                400,
                "VALIDATION_ERROR",
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique",
                context={"ids": duplicates},
            )

    # ---- storage -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _insert(self, object_type: str, props: PropertyValues) -> _StoredObject:
        meta = _OBJECT_TYPES[object_type]
        now = _utcnow()
        obj = _StoredObject(
            object_type,
            self._new_id(),
            {},
            now,
            now,
            searchable_from=time.monotonic() + self.search_lag_seconds,
        )
        obj.properties = {
            **{k: v for k, v in props.items() if v is not None},
            "hs_object_id": obj.id,
            meta.created_property: _iso(now),
            meta.modified_property: _iso(now),
        }
        self._compute(obj)
        self._objects[object_type][obj.id] = obj
        return obj

    def _apply_update(self, obj: _StoredObject, props: PropertyValues) -> None:
        obj.updated_at = _utcnow()
        for name, value in props.items():
            if value is None:
                obj.properties.pop(name, None)
            else:
                obj.properties[name] = value
        obj.properties[_OBJECT_TYPES[obj.object_type].modified_property] = _iso(obj.updated_at)
        self._compute(obj)

    @staticmethod
    def _compute(obj: _StoredObject) -> None:
        """Keep HubSpot's calculated properties in step with their inputs."""
        props = obj.properties
        if obj.object_type == "contacts":
            for source, target in (
                ("phone", "hs_searchable_calculated_phone_number"),
                ("mobilephone", "hs_searchable_calculated_mobile_number"),
            ):
                digits = _national_digits(props.get(source))
                if digits:
                    props[target] = digits
                else:
                    props.pop(target, None)
        elif obj.object_type == "deals":
            closed = props.get("dealstage") in ("closedwon", "closedlost")
            props["hs_is_closed"] = "true" if closed else "false"

    def _find(
        self, object_type: str, key: str, id_property: str | None, *, archived: bool = False
    ) -> _StoredObject | None:
        """By internal id, or by a unique property when ``id_property`` is given."""
        if id_property and id_property != "hs_object_id":
            self._require_unique_property(object_type, id_property, "read")
            wanted = _fold(id_property, key)
            for obj in self._objects[object_type].values():
                if (
                    obj.archived == archived
                    and _fold(id_property, obj.properties.get(id_property)) == wanted
                ):
                    return obj
            return None
        by_id = self._objects[object_type].get(str(key))
        return by_id if by_id is not None and by_id.archived == archived else None

    def _link(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        self._edges.add((from_type, from_id, to_type, to_id, type_id))
        self._edges.add((to_type, to_id, from_type, from_id, ASSOCIATION_TYPES[type_id].inverse_id))

    def _link_all(
        self, object_type: str, object_id: str, links: list[tuple[str, str, int]]
    ) -> None:
        for to_type, to_id, type_id in links:
            self._link(object_type, object_id, to_type, to_id, type_id)

    # ---- serialisation and search helpers ----------------------------------------------------

    @staticmethod
    def _read_properties(object_type: str, requested: Any) -> list[str]:
        """Reads return the requested properties, or the type's defaults when none are asked."""
        if isinstance(requested, list) and requested:
            return [str(p) for p in requested]
        return list(_OBJECT_TYPES[object_type].default_properties)

    def _object_json(
        self,
        obj: _StoredObject,
        properties: list[str] | None,
        *,
        associations: list[str] | None = None,
        trace_id: Any = None,
    ) -> JSONDict:
        """``SimplePublicObject`` with the given properties (None = every stored one, as write
        answers have) plus the system ones; unset requested properties come back as null."""
        meta = _OBJECT_TYPES[obj.object_type]
        if properties is None:
            names = list(obj.properties)
        else:
            names = [*properties, "hs_object_id", meta.created_property, meta.modified_property]
        body: JSONDict = {
            "id": obj.id,
            "properties": {n: obj.properties.get(n) for n in dict.fromkeys(names)},
            "createdAt": _iso(obj.created_at),
            "updatedAt": _iso(obj.updated_at),
            "archived": obj.archived,
        }
        if obj.archived_at is not None:
            body["archivedAt"] = _iso(obj.archived_at)
        if trace_id is not None:
            body["objectWriteTraceId"] = str(trace_id)
        if associations:
            grouped: dict[str, list[JSONDict]] = {}
            for to_name in associations:
                to_type = _canonical_type(to_name)
                for _, to_id, type_id in self.associations(obj.object_type, obj.id, to_type):
                    grouped.setdefault(to_name, []).append(
                        {"id": to_id, "type": ASSOCIATION_TYPES[type_id].name}
                    )
            if grouped:
                body["associations"] = {k: {"results": v} for k, v in grouped.items()}
        return body

    def _matches(self, obj: _StoredObject, f: JSONDict) -> bool:
        name, operator = str(f["propertyName"]), str(f["operator"])
        definition = self._properties[obj.object_type][name]
        stored = obj.properties.get(name)
        has_value = stored not in (None, "")
        if operator == "HAS_PROPERTY":
            return has_value
        if operator == "NOT_HAS_PROPERTY":
            return not has_value
        if operator in ("IN", "NOT_IN"):
            candidates = {_comparable(definition, str(v)) for v in f["values"]}
            inside = has_value and _comparable(definition, stored) in candidates
            return inside if operator == "IN" else not inside
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            found = has_value and _contains_token(str(stored), str(f["value"]))
            return found if operator == "CONTAINS_TOKEN" else not found
        if not has_value:
            return operator == "NEQ"
        left = _comparable(definition, stored)
        right = _comparable(definition, str(f["value"]))
        try:
            if operator == "BETWEEN":
                high = _comparable(definition, str(f.get("highValue")))
                return bool(right <= left <= high)
            return bool(_COMPARISONS[operator](left, right))
        except TypeError:  # e.g. comparing a number with unparsable text
            return False

    def _sorted(
        self, object_type: str, objs: list[_StoredObject], sorts: list[Any]
    ) -> list[_StoredObject]:
        """Search ``sorts``: ``"-createdate"`` strings or ``{propertyName, direction}``."""
        objs = sorted(objs, key=lambda o: int(o.id))
        for spec in reversed(sorts):
            if isinstance(spec, str):
                name, descending = spec.lstrip("-"), spec.startswith("-")
            else:
                name = spec.get("propertyName", "")
                descending = spec.get("direction") == "DESCENDING"
            definition = self._properties[object_type].get(name)
            if definition is None:
                continue

            def key(
                o: _StoredObject, name: str = name, d: JSONDict = definition
            ) -> tuple[bool, bool, Any]:
                value = _comparable(d, o.properties.get(name))
                return (value is None, isinstance(value, str), value if value is not None else "")

            objs.sort(key=key, reverse=descending)
        return objs


# --------------------------------------------------------------------------------------------
# Module-level helpers used by the fake
# --------------------------------------------------------------------------------------------

_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "EQ": eq,
    "NEQ": ne,
    "LT": lt,
    "LTE": le,
    "GT": gt,
    "GTE": ge,
}

_FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "html", "phonenumber", "file"),
    "number": ("number", "calculation_equation"),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
    "datetime": ("date",),
    "date": ("date",),
    "bool": ("booleancheckbox", "calculation_equation"),
}

_DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("VALIDATION_ERROR", "Injected validation error."),
    401: ("INVALID_AUTHENTICATION", f"Authentication credentials not found. {_AUTH_HELP}"),
    403: ("MISSING_SCOPES", "This app hasn't been granted all required scopes to make this call."),
    404: ("OBJECT_NOT_FOUND", "Object not found."),
    409: ("CONFLICT", "Conflict."),
    423: ("LOCKED", "The resource is locked; retry after at least 2 seconds."),
    477: ("MIGRATION_IN_PROGRESS", "The account is being migrated; retry later."),
    502: ("BAD_GATEWAY", "Bad gateway."),
    503: ("SERVICE_UNAVAILABLE", "Service unavailable; retry in a few seconds."),
    504: ("GATEWAY_TIMEOUT", "The request timed out."),
}


def _canonical_type(name: str) -> str:
    canonical = _TYPE_ALIASES.get(name.lower())
    if canonical is None:
        raise _Fail(400, "VALIDATION_ERROR", f"Unable to infer object type from: {name}")
    return canonical


def _owner_kwargs(owner: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "email": owner["email"],
        "first_name": owner.get("firstName", ""),
        "last_name": owner.get("lastName", ""),
        "id": owner.get("id"),
        "user_id": owner.get("userId"),
    }


def _problem(name: str, error: str, message: str) -> JSONDict:
    """One entry of HubSpot's "Property values were not valid: [...]" list."""
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def _parse_date(value: str) -> date | None:
    if re.fullmatch(r"\d+", value):
        return datetime.fromtimestamp(int(value) / 1000, UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _normalise(definition: JSONDict, text: str | None) -> str | None:
    """Store values the way HubSpot returns them (datetimes as ISO strings, ms precision)."""
    if text is None or text == "":
        return text
    if definition["type"] == "datetime":
        parsed = _parse_datetime(text)
        return _iso(parsed) if parsed else text
    if definition["type"] == "date":
        parsed_date = _parse_date(text)
        return parsed_date.isoformat() if parsed_date else text
    return text


def _comparable(definition: JSONDict, value: str | None) -> Any:
    """A value that compares the way HubSpot's search does: numbers and dates numerically,
    strings case-insensitively."""
    if value is None:
        return None
    kind = definition["type"]
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value.lower()
    if kind in ("datetime", "date"):
        parsed = _parse_datetime(value)
        return parsed.timestamp() if parsed else value.lower()
    return value.lower()


def _contains_token(stored: str, pattern: str) -> bool:
    """``CONTAINS_TOKEN``: a whole word, or a ``*`` wildcard pattern."""
    pattern = pattern.lower()
    tokens = [t for t in re.split(r"[\s,;]+", stored.lower()) if t]
    if "*" in pattern:
        return fnmatch.fnmatchcase(stored.lower(), pattern) or any(
            fnmatch.fnmatchcase(t, pattern) for t in tokens
        )
    return pattern in tokens or pattern in re.split(r"[^\w]+", stored.lower())


def _fold(name: str, value: str | None) -> str | None:
    return value.lower() if value is not None and name == "email" else value


def _int_param(raw: Any, *, default: int, maximum: int | None = None) -> int:
    try:
        value = int(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        raise _Fail(400, "VALIDATION_ERROR", f"{raw!r} is not a valid integer") from None
    return min(value, maximum) if maximum is not None else value


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


async def _send_reply(
    reply: Reply,
    scope: Mapping[str, Any],
    receive: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
) -> None:
    headers = {"X-HubSpot-Correlation-Id": _correlation_id(), **reply.headers}
    if reply.body is None:
        response = Response(status_code=reply.status, headers=headers)
    elif isinstance(reply.body, str | bytes):
        response = Response(reply.body, reply.status, headers, media_type="text/html")
    else:
        content = json.dumps(reply.body, separators=(",", ":")).encode()
        response = Response(content, reply.status, headers, media_type="application/json")
    await response(dict(scope), receive, send)


async def _drop_connection(send: Callable[[Any], Awaitable[None]]) -> None:
    """Close the TCP connection without a byte of response.

    ASGI has no "abort" message, so this reaches for uvicorn's transport behind ``send`` (a bound
    method of its request cycle). Failing that, start a response and never finish it, which
    uvicorn answers by closing the connection: the client then sees a truncated answer.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if isinstance(transport, asyncio.BaseTransport):
        transport.close()
        await asyncio.sleep(0)  # let uvicorn notice, so it does not try to send a 500
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
    )


# --------------------------------------------------------------------------------------------
# pytest integration
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    """A running :class:`FakeHubSpot` with default knobs (token ``"test-token"``)."""
    with FakeHubSpot() as hs:
        yield hs
