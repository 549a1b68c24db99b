"""What a record sends HubSpot: its properties as strings, and what it is associated with.

Every new Communication is an `SMS` (HubSpot has no MMS channel) `logged_from` the CRM, as HubSpot
requires of records created through the API; the rest comes from the admin's mapping, the line's
owner, and the key and thread the connector finds records by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog

from connector.core.model import CrmContact
from connector.crm.base import RecordWrite

log = structlog.get_logger(__name__)

# HUBSPOT_DEFINED association type ids, (from, to) -> id.
ASSOCIATION_TYPE_IDS: Mapping[tuple[str, str], int] = {
    ("communications", "contacts"): 81,
    ("communications", "tickets"): 83,
    ("communications", "deals"): 85,
    ("communications", "companies"): 87,
    ("notes", "contacts"): 202,
    ("notes", "companies"): 190,
    ("notes", "deals"): 214,
    ("notes", "tickets"): 228,
}
# What every new record of an object carries whatever the mapping says.
CREATE_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "communications": {
        "hs_communication_channel_type": "SMS",  # HubSpot has no MMS channel
        "hs_communication_logged_from": "CRM",  # required for API-created communications
    },
}
OBJECT_NAMES: Mapping[str, str] = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
}


def record_properties(record: RecordWrite, *, create: bool) -> dict[str, str]:
    """The properties sent for a record: the mapping's fields, the owner, the key and thread.

    On update, the fields the mapping marks create-only are left out.
    """
    properties = dict(CREATE_DEFAULTS.get(record.object_name, {})) if create else {}
    for name, value in record.fields.items():
        if create or name not in record.create_only:
            properties[name] = property_text(value)
    if record.owner_id and "hubspot_owner_id" not in properties:
        properties["hubspot_owner_id"] = record.owner_id
    properties[record.key_field] = record.key
    if record.thread_field:
        properties[record.thread_field] = record.thread_key
    return properties


def associations_of(
    record: RecordWrite, contact: CrmContact | None, links: Sequence[tuple[str, str]]
) -> list[tuple[str, int]]:
    """(to id, association type id) for the contact, the mapping's extra links and the origin.

    Raises ValueError when HubSpot has no association type for a pair this adapter knows of.
    """
    targets: list[tuple[str, str]] = []
    if contact is not None:
        targets.append((contact.crm_object, contact.crm_id))
    targets.extend(links)
    if record.origin is not None and record.origin.system == "hubspot":
        origin_type = OBJECT_NAMES.get(record.origin.object.lower(), record.origin.object.lower())
        if (record.object_name, origin_type) in ASSOCIATION_TYPE_IDS:
            targets.append((origin_type, record.origin.record_id))
        else:
            log.warning(
                "hubspot.origin_not_linked", object_type=record.object_name, origin=origin_type
            )
    pairs: list[tuple[str, int]] = []
    for to_type, to_id in dict.fromkeys(targets):
        type_id = ASSOCIATION_TYPE_IDS.get((record.object_name, to_type))
        if type_id is None:
            raise ValueError(f"HubSpot has no association from {record.object_name} to {to_type}")
        pairs.append((to_id, type_id))
    return pairs


def property_text(value: Any) -> str:
    """HubSpot property values are strings: dates in ISO 8601, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
