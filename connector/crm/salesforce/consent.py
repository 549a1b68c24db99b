"""A number's opt-out on its Salesforce Contact or Lead: `MMS_Opted_Out__c` (checkbox) and
`MMS_Opted_Out_At__c` (date/time), created on both objects by `mappings setup`.

Kept apart from the activity writes: a consent write finds the record the same way (cache, then
SOSL) but never creates one, and updates two fields through sObject Collections, whose per-record
answer says when the cached record is gone (deleted, merged, converted) so it is looked up again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import structlog

from connector.core import phone
from connector.core.errors import Permanent, Transient
from connector.crm.base import ConsentWrite, ConsentWriteResult, FieldInfo
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.contacts import ContactRequest, ContactResolver
from connector.crm.salesforce.errors import STALE_REFERENCE_CODES, from_record, record_code
from connector.crm.salesforce.setup import _CUSTOM_NAME, NewField, create_fields

log = structlog.get_logger(__name__)

PERSON_OBJECTS = ("Contact", "Lead")


def fields_of(write: ConsentWrite) -> dict[str, Any]:
    """The field values Salesforce takes: a boolean, and a date/time or null (cleared)."""
    values: dict[str, Any] = {write.opted_out_field: write.opted_out}
    if write.opted_out_at_field:
        at = write.opted_out_at if write.opted_out else None
        values[write.opted_out_at_field] = (
            at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if at is not None else None
        )
    return values


def write_consent(
    client: SalesforceClient, contacts: ContactResolver, write: ConsentWrite
) -> ConsentWriteResult:
    """Update the matched Contact or Lead; `skipped` when none has the number."""
    number, rule = write.lookup()
    outcome = contacts.resolve({number: ContactRequest(rule)})[number]
    if outcome.error is not None:
        raise outcome.error
    contact = outcome.contact
    if contact is None or contact.crm_object not in PERSON_OBJECTS:
        return ConsentWriteResult(
            skipped=outcome.skipped or f"no Contact or Lead has the number {phone.mask(number)}"
        )
    record = {"attributes": {"type": contact.crm_object}, "Id": contact.crm_id, **fields_of(write)}
    answers = client.call(
        f"{contact.crm_object} opt-out update (collections)",
        lambda sf: sf.restful(
            "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [record]}
        ),
    )
    answer: dict[str, Any] = answers[0] if isinstance(answers, list) and answers else {}
    if not answer.get("success"):
        errors = answer.get("errors") or []
        if record_code(errors) in STALE_REFERENCE_CODES:
            contacts.forget(number)
            raise Transient(
                f"the Salesforce {contact.crm_object} of {phone.mask(number)} no longer exists: "
                "it is looked up again",
                1.0,
            )
        raise from_record(errors, f"{contact.crm_object} opt-out update")
    log.info(
        "salesforce.consent_written",
        phone=phone.mask(number),
        record_id=contact.crm_id,
        opted_out=write.opted_out,
    )
    return ConsentWriteResult(contacts=(contact,))


# -- mappings setup -----------------------------------------------------------------------------


def ensure_fields(
    client: SalesforceClient,
    describe: Callable[[str], dict[str, FieldInfo]],
    objects: Sequence[str],
    opted_out_field: str,
    opted_out_at_field: str | None,
) -> list[str]:
    """Create the checkbox and the date/time field on each person object; safe to run twice."""
    wanted = [(opted_out_field, "Checkbox")]
    if opted_out_at_field:
        wanted.append((opted_out_at_field, "DateTime"))
    for name, _ in wanted:
        if not _CUSTOM_NAME.match(name):
            raise Permanent(
                f"{name!r} is not a Salesforce custom field name (letters, digits and _, "
                "ending in __c): fix the mapping's `consent`"
            )
    lines: list[str] = []
    missing: list[tuple[str, str, str]] = []  # (object, field, type)
    for object_name in dict.fromkeys(objects):
        if object_name not in PERSON_OBJECTS:
            lines.append(f"{object_name}: opt-outs are written on Contact and Lead only")
            continue
        visible = {name.lower(): info for name, info in describe(object_name).items()}
        for name, kind in wanted:
            info = visible.get(name.lower())
            expected = "boolean" if kind == "Checkbox" else "datetime"
            if info is None:
                missing.append((object_name, name, kind))
            elif info.type != expected:
                lines.append(
                    f"{object_name}.{info.name} exists but is of type {info.type!r}, not "
                    f"{kind}: an admin must fix it (or name another field in `consent`)"
                )
            else:
                lines.append(f"{object_name}.{info.name} already exists ({kind}): nothing to do")
    if not missing:
        return lines
    created = create_fields(
        client,
        describe,
        [
            NewField(
                sobject=object_name,
                full_name=f"{object_name}.{name}",
                type_=kind,
                what=kind,
                attributes={
                    "label": name.removesuffix("__c").replace("_", " "),
                    **({"defaultValue": "false"} if kind == "Checkbox" else {}),
                },
            )
            for object_name, name, kind in missing
        ],
        grant=[f"{object_name}.{name}" for object_name, name, _ in missing],
        purpose="opt-out field setup",
    )
    if created is None:
        return lines + manual_instructions(missing)
    return lines + created


def manual_instructions(missing: Sequence[tuple[str, str, str]]) -> list[str]:
    lines = [
        "The Salesforce integration user may not change the schema (Metadata API: "
        "INSUFFICIENT_ACCESS). Ask a Salesforce admin to create these fields, then run "
        "`mms-connector mappings setup --crm salesforce` again to check:"
    ]
    for object_name, name, kind in missing:
        label = name.removesuffix("__c").replace("_", " ")
        what = "Checkbox → Default Value Unchecked" if kind == "Checkbox" else "Date/Time"
        lines.append(
            f"  {object_name}.{name}: Setup → Object Manager → {object_name} → Fields & "
            f'Relationships → New → {what} → Field Label "{label}", Field Name '
            f'"{name.removesuffix("__c")}" → Next → make it Visible (not Read-Only) for the '
            "integration user's profile → Next → Save"
        )
    return lines
