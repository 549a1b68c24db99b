"""The shape of `mappings/*.yaml` as pydantic models: what an admin may write, and nothing else.

Unknown settings are refused (a typo must not silently do nothing), and every field value is a
literal or a Jinja template; the templates themselves are compiled by the loader, which knows
where in the file each one is written.
"""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from connector.core import phone
from connector.core.model import Line, Provider


class Crm(enum.StrEnum):
    HUBSPOT = "hubspot"
    SALESFORCE = "salesforce"


class Granularity(enum.StrEnum):
    """One record per message, or one per thread per day that is updated as messages arrive."""

    MESSAGE = "message"
    CONVERSATION_DAY = "conversation_day"


class NoMatchAction(enum.StrEnum):
    CREATE = "create"
    SKIP = "skip"
    UNASSOCIATED = "unassociated"


FieldValue = str | int | float | bool | None


def describe_value(value: Any) -> str:
    """How an error names what the admin wrote: `a list`, `'hourly'`, `12`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return "a date (quote it to keep it as text)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    return repr(value)


def _field_value(value: Any) -> FieldValue:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise PydanticCustomError(
        "field_value",
        "expected a template string or literal, got {got}",
        {"got": describe_value(value)},
    )


def _id_text(value: Any) -> Any:
    # Owner and line ids are numeric in HubSpot and Aircall; admins will not quote them.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


TargetValue = Annotated[FieldValue, PlainValidator(_field_value)]
IdText = Annotated[str, BeforeValidator(_id_text), Field(min_length=1)]
Name = Annotated[str, Field(min_length=1)]

_SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Idempotency(_Model):
    """The CRM fields the connector writes so a retry updates instead of duplicating."""

    key_field: Name = Field(description="unique field holding the record key")
    thread_field: Name | None = Field(default=None, description="field holding the thread key")


class PhoneMatch(_Model):
    object: Name
    phone_fields: list[Name] = Field(min_length=1)


class NoMatch(_Model):
    action: NoMatchAction
    object: Name | None = None
    fields: dict[str, TargetValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _create_needs_an_object(self) -> NoMatch:
        if self.action is NoMatchAction.CREATE and (self.object is None or not self.fields):
            raise PydanticCustomError(
                "no_match_create",
                "`create` needs `object` (what to create) and `fields` (what to set)",
            )
        if self.action is not NoMatchAction.CREATE and (self.object or self.fields):
            raise PydanticCustomError(
                "no_match_other",
                "`object` and `fields` apply only to `action: create`, not `{action}`",
                {"action": self.action.value},
            )
        return self


class ContactRule(_Model):
    match: list[PhoneMatch] = Field(min_length=1)
    on_no_match: NoMatch


class OwnerRule(_Model):
    """`line`: the line's owner in lines.yaml (else `default`); `fixed`: always `default`."""

    source: Literal["line", "fixed", "none"] = "line"
    default: IdText | None = None

    @model_validator(mode="after")
    def _fixed_needs_default(self) -> OwnerRule:
        if self.source == "fixed" and self.default is None:
            raise PydanticCustomError("owner_fixed", "`source: fixed` needs `default`")
        return self


class HubSpotAssociations(_Model):
    company: bool = False
    open_deals: bool = False


class SalesforceAssociations(_Model):
    what_id: str = Field(
        default="none",
        description="none, account (the Contact's AccountId), or a record id",
    )

    @field_validator("what_id")
    @classmethod
    def _what_id(cls, value: str) -> str:
        if value in ("none", "account") or _SALESFORCE_ID.match(value):
            return value
        raise PydanticCustomError(
            "what_id",
            "expected 'none', 'account' or a 15/18-character record id, got {got}",
            {"got": describe_value(value)},
        )


class ConsentFields(_Model):
    """Where a number's opt-out is written on its matched contact (`mappings setup` creates
    them): a checkbox, and the date and time of the opt-out (cleared on opt-in)."""

    opted_out_field: Name = Field(description="boolean field: the number opted out")
    opted_out_at_field: Name | None = Field(
        default=None, description="date-time field: when it opted out"
    )


class CrmMappingFile(_Model):
    """What both CRM files share; each CRM adds its own associations and object names."""

    crm: ClassVar[Crm]
    # The fields the connector writes itself, never through `fields`.
    owner_field: ClassVar[str]
    link_fields: ClassVar[tuple[str, ...]] = ()
    match_objects: ClassVar[tuple[str, ...]]
    create_objects: ClassVar[tuple[str, ...]]

    object: Name
    granularity: Granularity = Granularity.MESSAGE
    timezone: str = "UTC"
    idempotency: Idempotency
    contact: ContactRule
    owner: OwnerRule = Field(default_factory=OwnerRule)
    create_only: list[Name] = Field(default_factory=list)
    consent: ConsentFields | None = None
    field_limits: dict[str, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    fields: dict[str, TargetValue] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone",
                "expected an IANA time zone such as 'UTC' or 'America/New_York', got {got}",
                {"got": describe_value(value)},
            ) from None
        return value


class HubSpotMappingFile(CrmMappingFile):
    crm: ClassVar[Crm] = Crm.HUBSPOT
    owner_field: ClassVar[str] = "hubspot_owner_id"
    match_objects: ClassVar[tuple[str, ...]] = ("contacts", "companies")
    create_objects: ClassVar[tuple[str, ...]] = ("contacts",)

    object: Literal["communications", "notes"] = "communications"
    associations: HubSpotAssociations = Field(default_factory=HubSpotAssociations)


class SalesforceMappingFile(CrmMappingFile):
    crm: ClassVar[Crm] = Crm.SALESFORCE
    owner_field: ClassVar[str] = "OwnerId"
    link_fields: ClassVar[tuple[str, ...]] = ("WhoId", "WhatId")
    match_objects: ClassVar[tuple[str, ...]] = ("Contact", "Lead")
    create_objects: ClassVar[tuple[str, ...]] = ("Contact", "Lead")

    object: Name = "Task"
    associations: SalesforceAssociations = Field(default_factory=SalesforceAssociations)


MAPPING_FILE_MODELS: dict[Crm, type[CrmMappingFile]] = {
    Crm.HUBSPOT: HubSpotMappingFile,
    Crm.SALESFORCE: SalesforceMappingFile,
}


def _e164(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        normalized = phone.normalize(value)
    except phone.InvalidPhoneNumber:
        normalized = None
    if normalized is None or not value.strip().startswith("+"):
        raise PydanticCustomError(
            "e164",
            "expected a phone number in E.164 form such as +14155550100, got {got}",
            {"got": describe_value(value)},
        )
    return normalized


class LineEntry(_Model):
    """One of the company's lines, and who owns its conversations in each CRM."""

    number: Annotated[str, BeforeValidator(_e164)]
    provider: Provider
    label: str = ""
    mms_capable: bool = False
    provider_line_id: IdText | None = None
    owners: dict[Crm, IdText] = Field(default_factory=dict)

    def to_line(self) -> Line:
        return Line(
            number=self.number,
            provider=self.provider,
            mms_capable=self.mms_capable,
            label=self.label,
            provider_line_id=self.provider_line_id,
        )

    def owner(self, crm: Crm) -> str | None:
        return self.owners.get(crm)


class LinesFile(_Model):
    lines: list[LineEntry] = Field(min_length=1)
