"""A number's opt-out on its HubSpot contact: `mms_opted_out` (bool) and `mms_opted_out_at`.

Kept apart from the activity writes: a consent write finds the contact the same way (cache,
then search) but never creates one, and updates two properties of one contact. `ensure_fields`
creates the two properties on contacts for `mappings setup`; running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

import structlog

from connector.core import phone
from connector.core.model import CrmContact
from connector.crm.base import ConsentWrite, ConsentWriteResult
from connector.crm.hubspot.answers import PropertyInfo
from connector.crm.hubspot.batches import Halt, SplitBudget
from connector.crm.hubspot.client import HubSpotApi
from connector.crm.hubspot.contacts import ContactResolver
from connector.crm.hubspot.errors import HubSpotError
from connector.crm.hubspot.fields import group_for

log = structlog.get_logger(__name__)

CONTACTS = "contacts"
OPTED_OUT_LABEL = "MMS opted out"
OPTED_OUT_DESCRIPTION = (
    "Written by the MMS-CRM connector: this contact's number opted out of text messages "
    "(replied STOP, or an admin marked it). Unticking it here re-subscribes no one: only the "
    "contact's START or an admin action in the connector does."
)
OPTED_OUT_AT_LABEL = "MMS opted out at"
OPTED_OUT_AT_DESCRIPTION = (
    "Written by the MMS-CRM connector: when this contact's number opted out of text messages "
    "(empty once it opted back in)."
)
_BOOL_OPTIONS = (("Yes", "true"), ("No", "false"))


def properties_of(write: ConsentWrite) -> dict[str, str]:
    """The property values HubSpot takes: `true`/`false`, an ISO datetime or "" (cleared)."""
    values = {write.opted_out_field: "true" if write.opted_out else "false"}
    if write.opted_out_at_field:
        at = write.opted_out_at if write.opted_out else None
        values[write.opted_out_at_field] = (
            at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
            if at is not None
            else ""
        )
    return values


def write_consent(
    api: HubSpotApi, contacts: ContactResolver, write: ConsentWrite
) -> ConsentWriteResult:
    """Update the matched contact; `skipped` when no contact has the number."""
    number, rule = write.lookup()
    try:
        resolution = contacts.resolve({number: rule}, SplitBudget(0))[number]
    except Halt as halt:
        raise halt.error from None
    if resolution.error is not None:
        raise resolution.error
    contact = resolution.contact
    if contact is None or contact.crm_object != CONTACTS:
        return ConsentWriteResult(
            skipped=resolution.skipped or f"no contact has the number {phone.mask(number)}"
        )
    try:
        answer = api.batch_update(CONTACTS, [(contact.crm_id, properties_of(write))])
    except HubSpotError as failure:
        if failure.status == 404:
            contacts.cache.forget("hubspot", number)  # merged or deleted: look it up again
        raise failure.as_connector_error() from failure
    if answer.errors:
        raise answer.errors[0].as_connector_error()
    log.info(
        "hubspot.consent_written",
        phone=phone.mask(number),
        contact_id=contact.crm_id,
        opted_out=write.opted_out,
    )
    return ConsentWriteResult(contacts=(CrmContact(crm_object=CONTACTS, crm_id=contact.crm_id),))


def ensure_fields(
    api: HubSpotApi, objects: Sequence[str], opted_out_field: str, opted_out_at_field: str | None
) -> list[str]:
    """Create the two properties on contacts; one line per property saying what was done."""
    lines: list[str] = []
    for object_name in dict.fromkeys(objects):
        if object_name != CONTACTS:
            lines.append(f"{object_name}: opt-outs are written on contacts only, nothing to do")
            continue
        existing = {p.name: p for p in api.all_properties(object_name)}
        group = group_for(object_name, existing.values())
        wanted = [(opted_out_field, "bool", "booleancheckbox", OPTED_OUT_LABEL)]
        if opted_out_at_field:
            wanted.append((opted_out_at_field, "datetime", "date", OPTED_OUT_AT_LABEL))
        for name, type_, field_type, label in wanted:
            lines.append(
                _ensure(api, object_name, name, type_, field_type, label, existing.get(name), group)
            )
    return lines


def _ensure(
    api: HubSpotApi,
    object_name: str,
    name: str,
    type_: str,
    field_type: str,
    label: str,
    found: PropertyInfo | None,
    group: str,
) -> str:
    where = f"{object_name}.{name}"
    if found is not None:
        if found.type != type_:
            return (
                f"{where}: exists but is of type {found.type!r}, not {type_!r}; an admin must "
                "delete it (or name another property in the mapping's `consent`) and run setup "
                "again"
            )
        return f"{where}: exists, nothing to do"
    description = OPTED_OUT_DESCRIPTION if type_ == "bool" else OPTED_OUT_AT_DESCRIPTION
    try:
        api.create_property(
            object_name,
            name=name,
            label=label,
            group_name=group,
            description=description,
            unique=False,
            type_=type_,
            field_type=field_type,
            options=_BOOL_OPTIONS if type_ == "bool" else (),
        )
    except HubSpotError as refused:
        if refused.status == 409:  # created meanwhile by a parallel run
            return f"{where}: exists, nothing to do"
        raise
    return f"{where}: created ({'checkbox' if type_ == 'bool' else 'date and time'})"
