"""Activities in Salesforce: each `RecordWrite` becomes a Task upserted by its key.

The key (a message key, or a thread-and-day key for `conversation_day`) goes into an External ID
field, and records go out in sObject Collections upserts of up to 200 (`PATCH
composite/sobjects/{type}/{key field}`, `allOrNone: false`): a retry after any failure, even one
whose answer was lost, updates the record it created instead of adding a second one.

Salesforce refuses an update that sets a create-only field (TaskSubtype), and an upsert is an
update when the record exists. Records the connector knows it created (`existing_id`) leave those
fields out; a record created by an attempt whose answer was lost fails with
INVALID_FIELD_FOR_INSERT_UPDATE on those fields and is sent again without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound

from connector.core.errors import CredentialsError
from connector.crm.base import RecordWrite
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.errors import SETUP_HINT, record_code, record_fields

COLLECTION_LIMIT = 200
DESCRIPTION_LIMIT = 32_000  # Task.Description (Comments) holds at most 32,000 characters


@dataclass(frozen=True)
class Links:
    """What one activity points at: its Contact/Lead (WhoId) and its related record (WhatId)."""

    who_id: str | None = None
    who_object: str | None = None
    what_id: str | None = None


@dataclass(frozen=True)
class Pending:
    """A record on its way out, with its links and the exact body sent."""

    record: RecordWrite
    links: Links
    body: dict[str, Any]


def task_body(record: RecordWrite, links: Links, *, with_create_only: bool) -> dict[str, Any]:
    """The collection entry of one record: the mapped fields, links, owner, key."""
    body: dict[str, Any] = {"attributes": {"type": record.object_name}}
    for name, value in record.fields.items():
        if name in record.create_only and not with_create_only:
            continue
        body[name] = value
    if record.object_name == "Task":
        body.setdefault("Status", "Completed")
        description = body.get("Description")
        if isinstance(description, str) and len(description) > DESCRIPTION_LIMIT:
            body["Description"] = description[: DESCRIPTION_LIMIT - 1] + "…"
    if links.who_id:
        body["WhoId"] = links.who_id
    if links.what_id:
        body["WhatId"] = links.what_id
    # The owner is the line's at creation; a later reassignment in Salesforce is respected.
    if record.owner_id and with_create_only:
        body["OwnerId"] = record.owner_id
    if record.thread_field:
        body[record.thread_field] = record.thread_key
    body[record.key_field] = record.key
    return body


def upsert(
    client: SalesforceClient, object_name: str, key_field: str, bodies: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One sObject Collections upsert (at most 200 records); per-record answers in order."""
    path = f"composite/sobjects/{object_name}/{key_field}"

    def run(sf: Salesforce) -> Any:
        try:
            return sf.restful(
                path, method="PATCH", json={"allOrNone": False, "records": list(bodies)}
            )
        except SalesforceResourceNotFound:
            raise CredentialsError(
                f"Salesforce has no External ID field {object_name}.{key_field} the integration "
                f"user can see: {SETUP_HINT}"
            ) from None

    answers = client.call(f"{object_name} upsert", run)
    return [dict(a) for a in answers] if isinstance(answers, list) else []


def refused_create_only(pending: Pending, errors: Sequence[Mapping[str, Any]]) -> bool:
    """Salesforce refused a create-only field we sent: the record exists already."""
    sent = {name for name in pending.record.create_only if name in pending.body}
    if pending.record.owner_id and "OwnerId" in pending.body:
        sent.add("OwnerId")
    if not sent or record_code(errors) != "INVALID_FIELD_FOR_INSERT_UPDATE":
        return False
    blamed = record_fields(errors)
    if blamed:
        return bool(blamed & sent)
    message = " ".join(str(e.get("message") or "") for e in errors)
    return any(name in message for name in sent)


def blames(errors: Sequence[Mapping[str, Any]], field: str) -> bool:
    blamed = record_fields(errors)
    if blamed:
        return field in blamed
    return any(field in str(e.get("message") or "") for e in errors)
