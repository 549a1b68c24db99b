"""`mms-connector mappings setup --crm salesforce`: the External ID fields idempotency needs.

Upserts need a field holding the record key (Text(255), External ID, Unique, case-sensitive) and,
when the mapping names one, a thread field (Text(255), External ID so it is indexed). Task and
Event custom fields live on Activity. The Metadata API (through simple-salesforce's `mdapi`)
creates them and grants the integration user access through a permission set, because a field
created that way is invisible to every profile. A field that is already there is left alone,
so running setup twice changes nothing; a user without the permission gets, instead, exactly
what an admin must create by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import structlog
import zeep.exceptions
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from connector.core.errors import ConnectorError, Permanent
from connector.crm.base import FieldInfo
from connector.crm.salesforce.client import SalesforceClient

log = structlog.get_logger(__name__)

PERMISSION_SET = "MMS_Connector"
PERMISSION_SET_LABEL = "MMS Connector"
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*__c$")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    unique: bool

    @property
    def label(self) -> str:
        return self.name.removesuffix("__c").replace("_", " ")

    @property
    def kind(self) -> str:
        return "Text(255), External ID" + (", Unique (case-sensitive)" if self.unique else "")


def container_of(object_name: str) -> str:
    """Where the Metadata API keeps an object's custom fields (Task/Event: Activity)."""
    return "Activity" if object_name in ("Task", "Event") else object_name


def ensure_fields(
    client: SalesforceClient,
    describe: Callable[[str], dict[str, FieldInfo]],
    object_name: str,
    key_field: str,
    thread_field: str | None,
) -> list[str]:
    container = container_of(object_name)
    specs = [FieldSpec(key_field, unique=True)]
    if thread_field:
        specs.append(FieldSpec(thread_field, unique=False))
    lines: list[str] = []
    for spec in specs:
        if not _CUSTOM_NAME.match(spec.name):
            raise Permanent(
                f"{spec.name!r} is not a Salesforce custom field name (letters, digits and _, "
                "ending in __c): fix the mapping"
            )
    visible = _by_lower_name(describe(object_name))
    missing: list[FieldSpec] = []
    for spec in specs:
        info = visible.get(spec.name.lower())
        if info is None:
            missing.append(spec)
        elif spec.unique and not (info.external_id and info.unique):
            lines.append(
                f"{container}.{info.name} exists but is not an External ID marked Unique: an "
                "admin must edit it (Setup → Object Manager → Activity → Fields & Relationships "
                f"→ {spec.label} → Edit → tick External ID and Unique)"
            )
        else:
            lines.append(f"{container}.{info.name} already exists ({spec.kind}): nothing to do")
    if not missing:
        return lines

    created = create_fields(
        client,
        describe,
        [
            NewField(
                sobject=object_name,
                full_name=f"{container}.{spec.name}",
                type_="Text",
                what=spec.kind,
                attributes={
                    "label": spec.label,
                    "length": 255,
                    "externalId": True,
                    "unique": spec.unique,
                    "caseSensitive": spec.unique,
                },
            )
            for spec in missing
        ],
        grant=[f"{container}.{spec.name}" for spec in specs],
        purpose="field setup",
    )
    if created is None:
        return lines + manual_instructions(container, missing)
    return lines + created


def manual_instructions(container: str, specs: list[FieldSpec]) -> list[str]:
    """What an admin creates by hand when the integration user may not change the schema."""
    lines = [
        "The Salesforce integration user may not change the schema (Metadata API: "
        "INSUFFICIENT_ACCESS). Ask a Salesforce admin to create these fields, then run "
        "`mms-connector mappings setup --crm salesforce` again to check:"
    ]
    for spec in specs:
        ticks = (
            'tick "Unique" with "Treat \\"ABC\\" and \\"abc\\" as different values (case '
            'sensitive)" and tick "External ID"'
            if spec.unique
            else 'tick "External ID" (not Unique)'
        )
        lines.append(
            f"  {container}.{spec.name}: Setup → Object Manager → {container} → Fields & "
            f'Relationships → New → Text → Next → Field Label "{spec.label}", Length 255, '
            f'Field Name "{spec.name.removesuffix("__c")}", {ticks} → Next → make it Visible '
            "(not Read-Only) for the integration user's profile → Next → Save"
        )
    return lines


@dataclass(frozen=True)
class NewField:
    """A custom field to create: the object it is described on (`sobject`), its Metadata API
    name (`Activity.MMS_Key__c`), its field type, how the report names it, its attributes."""

    sobject: str
    full_name: str
    type_: str
    what: str
    attributes: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.full_name.split(".", 1)[1]


def create_fields(
    client: SalesforceClient,
    describe: Callable[[str], dict[str, FieldInfo]],
    fields: Sequence[NewField],
    *,
    grant: Sequence[str],
    purpose: str,
) -> list[str] | None:
    """Create `fields`, grant the connector's permission set read and edit on `grant`, and say
    which the integration user can use now. None when it may not use the Metadata API: the
    caller then says what an admin creates by hand."""
    created = client.call(
        f"{purpose} (Metadata API)", lambda sf: _create(client, sf, fields, grant)
    )
    if created is None:
        return None
    lines = list(created)
    hidden = _hidden(describe, fields)
    if hidden and _assign_permission_set(client):
        hidden = _hidden(describe, hidden)
    for field in fields:
        if field in hidden:
            lines.append(
                f"{field.full_name} is not visible to the integration user yet: assign the "
                f"permission set '{PERMISSION_SET_LABEL}' to it (Setup → Users → Permission Sets → "
                f"{PERMISSION_SET_LABEL} → Manage Assignments → Add Assignment), then run setup "
                "again"
            )
        else:
            lines.append(
                f"{field.full_name} is readable and writable by the integration user "
                f"(permission set '{PERMISSION_SET_LABEL}')"
            )
    return lines


def _create(
    client: SalesforceClient, sf: Salesforce, fields: Sequence[NewField], grant: Sequence[str]
) -> list[str] | None:
    mdapi = client.metadata(sf)
    lines: list[str] = []
    try:
        for field in fields:
            current = mdapi.CustomField.read([field.full_name])
            if getattr(current, "fullName", None):
                lines.append(f"{field.full_name} exists but the integration user could not see it")
                continue
            custom = mdapi.CustomField(
                fullName=field.full_name, type=mdapi.FieldType(field.type_), **field.attributes
            )
            _save(partial(mdapi.CustomField.create, [custom]), field.full_name, exists_ok=True)
            log.info("salesforce.field_created", field=field.full_name)
            lines.append(f"created {field.full_name}: {field.what}")
        grant_fields(mdapi, grant)
    except zeep.exceptions.Fault as fault:
        if str(fault.code or "").endswith("INSUFFICIENT_ACCESS"):
            log.warning("salesforce.metadata_denied")
            return None
        raise
    return lines


def grant_fields(mdapi: Any, fields: Sequence[str]) -> None:
    """Add read and edit access to these fields to the connector's permission set (an upsert:
    permissions it already grants stay)."""
    grant = mdapi.PermissionSet(
        fullName=PERMISSION_SET,
        label=PERMISSION_SET_LABEL,
        fieldPermissions=[
            mdapi.PermissionSetFieldPermissions(field=field, readable=True, editable=True)
            for field in fields
        ],
    )
    _save(lambda: mdapi.PermissionSet.upsert([grant]), PERMISSION_SET, exists_ok=False)


def _save(operation: Callable[[], None], full_name: str, *, exists_ok: bool) -> None:
    """simple-salesforce reports a refused component as a bare `Exception` with the codes."""
    try:
        operation()
    except zeep.exceptions.Error:
        raise
    except Exception as exc:
        text = str(exc)
        if exists_ok and "DUPLICATE_DEVELOPER_NAME" in text:
            return  # created meanwhile (another run): what we wanted
        raise Permanent(f"Salesforce Metadata API refused {full_name}: {text.strip()}") from None


def _assign_permission_set(client: SalesforceClient) -> bool:
    """Best effort: assign the permission set to the integration user (needs its id)."""
    user_id = client.user_id
    if not user_id:
        return False

    def assign(sf: Salesforce) -> bool:
        found = sf.query(
            format_soql("SELECT Id FROM PermissionSet WHERE Name = {}", PERMISSION_SET)
        )
        records = found.get("records") or []
        if not records:
            return False
        sf.restful(
            "sobjects/PermissionSetAssignment",
            method="POST",
            json={"AssigneeId": user_id, "PermissionSetId": records[0]["Id"]},
        )
        return True

    try:
        return bool(client.call("permission set assignment", assign))
    except ConnectorError as exc:
        log.info("salesforce.permission_set_not_assigned", reason=exc.reason)
        return False


def _by_lower_name(fields: dict[str, FieldInfo]) -> dict[str, FieldInfo]:
    return {name.lower(): info for name, info in fields.items()}


def _hidden(
    describe: Callable[[str], dict[str, FieldInfo]], fields: Sequence[NewField]
) -> list[NewField]:
    """Of the fields created, those the integration user cannot see yet."""
    hidden: list[NewField] = []
    for sobject in dict.fromkeys(field.sobject for field in fields):
        visible = _by_lower_name(describe(sobject))
        hidden += [f for f in fields if f.sobject == sobject and f.name.lower() not in visible]
    return hidden
