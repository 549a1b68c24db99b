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
from collections.abc import Callable, Sequence
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
_NO_ACCESS = object()


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

    created = client.call(
        "field setup (Metadata API)", lambda sf: _create(client, sf, container, specs, missing)
    )
    if created is _NO_ACCESS:
        return lines + manual_instructions(container, missing)
    assert isinstance(created, list)
    lines.extend(created)

    still_hidden = _hidden(describe(object_name), missing)
    if still_hidden and _assign_permission_set(client):
        still_hidden = _hidden(describe(object_name), still_hidden)
    for spec in missing:
        full = f"{container}.{spec.name}"
        if spec in still_hidden:
            lines.append(
                f"{full} is not visible to the integration user yet: assign the permission set "
                f"'{PERMISSION_SET_LABEL}' to it (Setup → Users → Permission Sets → "
                f"{PERMISSION_SET_LABEL} → Manage Assignments → Add Assignment), then run setup "
                "again"
            )
        else:
            lines.append(
                f"{full} is readable and writable by the integration user (permission set "
                f"'{PERMISSION_SET_LABEL}')"
            )
    return lines


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


def _create(
    client: SalesforceClient,
    sf: Salesforce,
    container: str,
    specs: list[FieldSpec],
    missing: list[FieldSpec],
) -> Any:
    """Create what is missing and grant access to every connector field; `_NO_ACCESS` when the
    user may not use the Metadata API."""
    mdapi = client.metadata(sf)
    lines: list[str] = []
    try:
        for spec in missing:
            full = f"{container}.{spec.name}"
            current = mdapi.CustomField.read([full])
            if getattr(current, "fullName", None):
                lines.append(f"{full} exists but the integration user could not see it")
                continue
            field = mdapi.CustomField(
                fullName=full,
                label=spec.label,
                type=mdapi.FieldType("Text"),
                length=255,
                externalId=True,
                unique=spec.unique,
                caseSensitive=spec.unique,
            )
            _save(partial(mdapi.CustomField.create, [field]), full, exists_ok=True)
            log.info("salesforce.field_created", field=full)
            lines.append(f"created {full}: {spec.kind}")
        grant_fields(mdapi, [f"{container}.{spec.name}" for spec in specs])
    except zeep.exceptions.Fault as fault:
        if str(fault.code or "").endswith("INSUFFICIENT_ACCESS"):
            log.warning("salesforce.metadata_denied")
            return _NO_ACCESS
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


def _hidden(fields: dict[str, FieldInfo], specs: list[FieldSpec]) -> list[FieldSpec]:
    visible = _by_lower_name(fields)
    return [spec for spec in specs if spec.name.lower() not in visible]
