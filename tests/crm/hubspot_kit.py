"""Shared kit of the HubSpot adapter tests: records, the adapter builder, fake helpers.

The tests drive the real hubspot-api-client against `FakeHubSpot` (one server per test module,
wiped before each test) and a real SQLite contact cache.
"""

from __future__ import annotations

from typing import Any

from connector.crm.base import ContactRule, RecordWrite
from connector.crm.hubspot import HubSpotAdapter
from connector.store.crm_records import SqlContactCache
from tests.crm.factories import NUMBER, contact_rule, record_write
from tests.fakes.hubspot import FakeHubSpot

KEY_FIELD = "mms_message_key"
THREAD_FIELD = "mms_thread_key"
TIMESTAMP = "2026-05-01T10:00:00Z"
COMMS = "/crm/v3/objects/communications"
CONTACTS = "/crm/v3/objects/contacts"
BATCH_CREATE = rf"{COMMS}/batch/create$"

CONTACT_BY_PHONE = contact_rule(("contacts",), {"contacts": ("phone", "mobilephone")})


def rule(**overrides: Any) -> ContactRule:
    """HubSpot's usual rule: contacts by `phone` then `mobilephone`, created when missing."""
    values: dict[str, Any] = {"on_no_match": "create"}
    values.update(overrides)
    return contact_rule(("contacts",), {"contacts": ("phone", "mobilephone")}, **values)


def sms(body: str = "Inbound MMS: photo of the damage", **overrides: Any) -> RecordWrite:
    """A Communication for `NUMBER`, as the sync renders one message with the default mapping."""
    values: dict[str, Any] = {
        "object_name": "communications",
        "key_field": KEY_FIELD,
        "thread_field": THREAD_FIELD,
        "fields": {"hs_communication_body": body, "hs_timestamp": TIMESTAMP},
        "contact_rule": CONTACT_BY_PHONE,
        "contact_phone": NUMBER,
    }
    values.update(overrides)
    return record_write(**values)


def fresh(server: FakeHubSpot, *, unique_key: bool = True) -> FakeHubSpot:
    """The module's fake, wiped, with the properties `mappings setup` would have created."""
    server.reset()
    server.latency = 0.0
    server.retry_after = None
    server.rate_limit = None
    server.search_rate_limit = None
    server.search_lag_seconds = 0.0
    server.unique_properties_on = None
    server.define_property("communications", KEY_FIELD, has_unique_value=unique_key)
    server.define_property("communications", THREAD_FIELD)
    return server


def make_adapter(hs: FakeHubSpot, cache: SqlContactCache, **options: Any) -> HubSpotAdapter:
    """An adapter on the fake with short timeouts, so a test that loses an answer stays fast."""
    options.setdefault("timeout", (2.0, 5.0))
    options.setdefault("max_rate_limit_wait", 5.0)
    options.setdefault("contact_wait", 0.2)
    return HubSpotAdapter(hs.token, hs.url, cache, **options)


def record_by_key(hs: FakeHubSpot, key: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every communication carrying `key`: exactly one, or the adapter duplicated."""
    return [(i, p) for i, p in hs.communications.items() if p.get(KEY_FIELD) == key]


def writes(hs: FakeHubSpot) -> list[str]:
    """`METHOD path` of every request that could change something, in order."""
    return [
        f"{c.method} {c.path}"
        for c in hs.calls
        if c.method != "GET" and not c.path.endswith(("/search", "/batch/read"))
    ]
