"""Which of HubSpot's refusals of a create are not about the record's data.

A 409 on the record's key means the record exists: the connector wrote it already (an answer
lost on the way back, or another worker running the same jobs), so it is read by key and
updated. HubSpot answers a unique-value conflict with one 409 `CONFLICT` for the whole batch,
naming only the first existing record ("... already exists. Existing ID: N"); newer answers use
the category `OBJECT_ALREADY_EXISTS`. A 400 about invalid associations that names the record's
contact, company or deal means that object is gone since it was cached.
"""

from __future__ import annotations

import re

from connector.crm.hubspot.errors import HubSpotError, ItemError

CONFLICT_CATEGORIES = frozenset({"CONFLICT", "OBJECT_ALREADY_EXISTS"})


def conflict_on_key(failure: HubSpotError, key_field: str) -> bool:
    """A 409 about the record's key: one of the records exists. A 409 that names another
    property (a unique field of the mapping) is about the data, and is split like a 400."""
    if failure.status != 409 and failure.category not in CONFLICT_CATEGORIES:
        return False
    named = failure.context.get("propertyName") or failure.context.get("in") or []
    return not named or key_field in named


def item_conflict_on_key(error: ItemError, key_field: str) -> bool:
    """The same refusal reported for one input of a 207."""
    if error.category not in CONFLICT_CATEGORIES:
        return False
    named = error.context.get("propertyName") or []
    return not named or key_field in named


def names_refused_link(failure: HubSpotError, object_id: str) -> bool:
    """Whether a create refused for invalid associations names this object."""
    if failure.status != 400 or "association" not in failure.message.lower():
        return False
    named = set(failure.context.get("ids", [])) | set(failure.context.get("id", []))
    return object_id in named or _mentions(failure.message, object_id)


def _mentions(message: str, object_id: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(object_id)}(?!\w)", message) is not None
