"""The properties HubSpot must have before records can be written: read them, create them.

`mappings check --online` reads what an object's properties are (`describe`); `mappings setup`
creates the two the connector needs (`ensure_fields`): the message key, with unique values when
HubSpot allows it (so HubSpot itself refuses a duplicate), and the thread id. Running it twice
changes nothing; each line it returns says what was found or done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from connector.crm.base import FieldInfo
from connector.crm.hubspot.answers import PropertyInfo
from connector.crm.hubspot.client import HubSpotApi
from connector.crm.hubspot.errors import HubSpotError

KEY_LABEL = "MMS message key"
KEY_DESCRIPTION = (
    "Written by the MMS-CRM connector: the key of the message (or conversation day) this record "
    "logs, so that a retry updates the record instead of creating a second one. Do not edit."
)
THREAD_LABEL = "MMS thread"
THREAD_DESCRIPTION = "Written by the MMS-CRM connector: the conversation this record belongs to."


def describe(api: HubSpotApi, object_name: str) -> dict[str, FieldInfo]:
    return {
        p.name: FieldInfo(
            name=p.name,
            type=p.type,
            writable=not p.read_only,
            unique=p.unique,
            external_id=p.unique,
        )
        for p in api.all_properties(object_name)
    }


def ensure_fields(
    api: HubSpotApi, object_name: str, key_field: str, thread_field: str | None
) -> list[str]:
    """Create what is missing; one line per property saying what was found or done."""
    existing = {p.name: p for p in api.all_properties(object_name)}
    group = group_for(object_name, existing.values())
    lines = [_ensure_key(api, object_name, key_field, existing.get(key_field), group)]
    if thread_field:
        found = existing.get(thread_field)
        lines.append(_ensure_thread(api, object_name, thread_field, found, group))
    return lines


def _ensure_key(
    api: HubSpotApi, object_name: str, name: str, found: PropertyInfo | None, group: str
) -> str:
    where = f"{object_name}.{name}"
    if found is not None:
        return _describe_existing_key(where, found)
    try:
        api.create_property(
            object_name,
            name=name,
            label=KEY_LABEL,
            group_name=group,
            description=KEY_DESCRIPTION,
            unique=True,
        )
    except HubSpotError as refused:
        if refused.status == 409:  # created meanwhile by a parallel run
            again = api.property_info(object_name, name)
            if again is not None:
                return _describe_existing_key(where, again)
        if refused.status != 400:
            raise
        _create_plain(api, object_name, name, KEY_LABEL, KEY_DESCRIPTION, group)
        return (
            f"{where}: created as text WITHOUT unique values, because HubSpot refused unique "
            f"values there ({refused.message}); the connector looks records up by this key "
            "before creating them (search lags a few seconds, so retries wait that long)"
        )
    return (
        f"{where}: created as text with unique values; HubSpot itself refuses a second record "
        "with the same key"
    )


def _describe_existing_key(where: str, found: PropertyInfo) -> str:
    if found.type != "string":
        return (
            f"{where}: exists but is of type {found.type!r}, not text; an admin must delete it "
            "(or pick another key property in the mapping) and run setup again"
        )
    if found.unique:
        return f"{where}: exists with unique values, nothing to do"
    return (
        f"{where}: exists WITHOUT unique values (HubSpot cannot make an existing property "
        "unique); the connector looks records up by key before creating them. For unique "
        "values, an admin may delete the property and run setup again"
    )


def _ensure_thread(
    api: HubSpotApi, object_name: str, name: str, found: PropertyInfo | None, group: str
) -> str:
    where = f"{object_name}.{name}"
    if found is not None:
        if found.type != "string":
            return f"{where}: exists but is of type {found.type!r}, not text; an admin must fix it"
        return f"{where}: exists, nothing to do"
    try:
        _create_plain(api, object_name, name, THREAD_LABEL, THREAD_DESCRIPTION, group)
    except HubSpotError as refused:
        if refused.status == 409:
            return f"{where}: exists, nothing to do"
        raise
    return f"{where}: created as text"


def _create_plain(
    api: HubSpotApi, object_name: str, name: str, label: str, description: str, group: str
) -> None:
    api.create_property(
        object_name,
        name=name,
        label=label,
        group_name=group,
        description=description,
        unique=False,
    )


def group_for(object_name: str, properties: Iterable[PropertyInfo]) -> str:
    """The property group HubSpot itself uses most on the object (names differ per object)."""
    groups = Counter(p.group_name for p in properties if p.hubspot_defined and p.group_name)
    if groups:
        return groups.most_common(1)[0][0]
    return object_name.rstrip("s") + "information"
