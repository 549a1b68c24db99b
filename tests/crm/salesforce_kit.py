"""Shared kit of the Salesforce adapter tests: factories, the adapter builder, fake helpers.

The `test_salesforce_*` modules import it. CRM-neutral builders come from `tests.crm.factories`;
this kit adds Salesforce's defaults (Task, Contact then Lead). Tests drive the real
simple-salesforce (through the adapter) against `tests.fakes.salesforce.FakeSalesforce`.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.crm.base import Associations, ContactRule, Origin, RecordWrite
from connector.crm.salesforce import SalesforceAdapter, SessionIdAuth
from connector.crm.salesforce.auth import SalesforceAuth
from connector.store.crm_records import SqlContactCache
from tests.crm.factories import LINE, NUMBER, contact_rule, new_key, record_write
from tests.fakes.salesforce import FakeSalesforce

KEY = "MMS_Message_Key__c"
THREAD = "MMS_Thread_Key__c"
API_VERSION = "62.0"
PHONE_FIELDS = {"Contact": ("Phone", "MobilePhone"), "Lead": ("Phone", "MobilePhone")}


def rule(objects: tuple[str, ...] = ("Contact", "Lead"), **overrides: Any) -> ContactRule:
    """The usual Salesforce rule: Contact then Lead by Phone/MobilePhone, a Lead when missing."""
    values: dict[str, Any] = {
        "on_no_match": "create",
        "create_object": "Lead",
        "create_fields": {"Company": "From MMS"},
    }
    values.update(overrides)
    return contact_rule(objects, PHONE_FIELDS, **values)


CONTACT_THEN_LEAD = rule()


def task(number: str = NUMBER, **overrides: Any) -> RecordWrite:
    """A rendered MMS Task as the sync hands it over (one message, default granularity)."""
    key = overrides.pop("key", None) or new_key()
    fields = overrides.pop(
        "fields",
        {
            "Subject": "MMS received",
            "Description": f"Message {key}",
            "ActivityDate": "2025-05-01",
            "TaskSubtype": "Task",
        },
    )
    values: dict[str, Any] = {
        "key": key,
        "thread_key": f"aircall:{LINE}:{number}",
        "contact_phone": number,
        "thread_field": THREAD,
        "create_only": frozenset({"TaskSubtype"}),
    }
    values.update(overrides)
    return record_write(
        object_name="Task",
        key_field=KEY,
        fields=fields,
        contact_rule=values.pop("contact_rule", CONTACT_THEN_LEAD),
        **values,
    )


def day_task(number: str = NUMBER, day: str = "2025-05-01", **overrides: Any) -> RecordWrite:
    """A `conversation_day` record: its key is the thread-and-day key."""
    return task(number, key=f"aircall:{LINE}:{number}:{day}", **overrides)


def origin(sobject: str, record_id: str) -> Origin:
    return Origin(system="salesforce", object=sobject, record_id=record_id)


def related_to_account() -> Associations:
    return Associations(what_id="account")


def prepare(fake: FakeSalesforce) -> None:
    """The fields `mappings setup` creates: the key (unique) and the thread (indexed)."""
    fake.add_field("Activity", KEY, external_id=True, unique=True, case_sensitive=True)
    fake.add_field("Activity", THREAD, external_id=True)


def fresh(
    server: FakeSalesforce, monkeypatch: pytest.MonkeyPatch, *, prepared: bool = True
) -> FakeSalesforce:
    """A reset org whose certificate the adapter's own (production) session trusts; `prepared`
    orgs already have the connector's fields."""
    server.reset()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle_path)
    if prepared:
        prepare(server)
    return server


def make_adapter(
    fake: FakeSalesforce,
    cache: SqlContactCache,
    auth: SalesforceAuth | None = None,
    **options: Any,
) -> SalesforceAdapter:
    return SalesforceAdapter(
        auth or SessionIdAuth(fake.instance_url, fake.session_id),
        cache,
        api_version=API_VERSION,
        **options,
    )


def api_calls(
    fake: FakeSalesforce, method: str | None = None, path: str = r"/services/data/"
) -> int:
    """REST calls the org counted (token requests are not API calls)."""
    return fake.count(method, path)


def tasks(fake: FakeSalesforce) -> list[dict[str, Any]]:
    return list(fake.records("Task").values())


def task_by_key(fake: FakeSalesforce, key: str) -> dict[str, Any]:
    (found,) = [t for t in tasks(fake) if t.get(KEY) == key]
    return found


def add_contact(fake: FakeSalesforce, phone: str, **fields: Any) -> str:
    return fake.add_record("Contact", {"LastName": "Doe", "Phone": phone, **fields})


def add_lead(fake: FakeSalesforce, phone: str, **fields: Any) -> str:
    return fake.add_record("Lead", {"LastName": "Roe", "Company": "Acme", "Phone": phone, **fields})
