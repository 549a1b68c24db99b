"""A message (or a thread's day) rendered into the exact record a CRM receives.

The record carries what the adapters need beside the mapped fields (`connector.crm.base`'s
`RecordWrite`): the idempotency key and thread key with their fields, the owner, the contact
rule with its creation fields rendered, the extra associations and the create-only fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from connector.mapping.context import RenderContext, thread_key
from connector.mapping.model import CrmMapping
from connector.mapping.schema import (
    Crm,
    FieldValue,
    HubSpotMappingFile,
    SalesforceMappingFile,
)
from connector.mapping.templates import ELLIPSIS, fit

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ContactPlan:
    """How the adapter finds the record's contact; the field names of `crm.base.ContactRule`."""

    objects: tuple[str, ...]
    phone_fields: Mapping[str, tuple[str, ...]]
    on_no_match: str
    create_object: str | None = None
    create_fields: Mapping[str, FieldValue] = field(default_factory=dict)


@dataclass(frozen=True)
class AssociationPlan:
    """Extra links besides the contact; the field names of `crm.base.Associations`."""

    company: bool = False
    open_deals: bool = False
    what_id: str | None = None


@dataclass(frozen=True)
class CrmRecord:
    """One activity record for one CRM, as rendered from the admin's mapping."""

    crm: Crm
    object_name: str
    key_field: str
    key: str
    thread_field: str | None
    thread_key: str
    fields: Mapping[str, FieldValue]
    owner_field: str
    owner_id: str | None
    contact_phone: str
    contact_rule: ContactPlan
    associations: AssociationPlan
    create_only: frozenset[str] = frozenset()

    def payload(self) -> dict[str, FieldValue]:
        """The record's properties as the CRM stores them on creation: the mapped fields,
        the owner and the connector's idempotency fields."""
        body: dict[str, FieldValue] = dict(self.fields)
        if self.owner_id:
            body[self.owner_field] = self.owner_id
        if self.thread_field:
            body[self.thread_field] = self.thread_key
        body[self.key_field] = self.key
        return body

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data, for `mappings preview` and logs of tests."""
        rule = self.contact_rule
        return {
            "crm": self.crm.value,
            "object": self.object_name,
            "id_property": self.key_field,
            "key": self.key,
            "properties": self.payload(),
            "create_only": sorted(self.create_only),
            "contact": {
                "phone": self.contact_phone,
                "match": {obj: list(rule.phone_fields[obj]) for obj in rule.objects},
                "on_no_match": rule.on_no_match,
                "create": (
                    {"object": rule.create_object, "properties": dict(rule.create_fields)}
                    if rule.on_no_match == "create"
                    else None
                ),
            },
            "associations": {
                "company": self.associations.company,
                "open_deals": self.associations.open_deals,
                "what_id": self.associations.what_id,
            },
        }


@dataclass(frozen=True)
class RenderedFields:
    """Field values exactly as the templates produce them, before any length limit."""

    fields: dict[str, FieldValue]
    create_fields: dict[str, FieldValue]


def render_fields(mapping: CrmMapping, context: RenderContext) -> RenderedFields:
    """Render the record's fields and the new contact's fields; `RenderError` on failure."""
    data = {**context.data, "granularity": mapping.granularity.value}
    return RenderedFields(
        fields={t.target: t.render(data) for t in mapping.fields},
        create_fields={t.target: t.render(data) for t in mapping.new_contact_fields},
    )


def render_record(mapping: CrmMapping, context: RenderContext) -> CrmRecord:
    """The record `context` produces under `mapping`; `RenderError` names the template at fault.

    A value longer than its field holds is cut (and logged): the CRM would refuse the whole
    record, and `mappings check` has already told the admin to end the template with `fit`.
    """
    rendered = render_fields(mapping, context)
    no_match = mapping.spec.contact.on_no_match
    return CrmRecord(
        crm=mapping.crm,
        object_name=mapping.object_name,
        key_field=mapping.key_field,
        key=mapping.record_key(context.message),
        thread_field=mapping.thread_field,
        thread_key=thread_key(context.message),
        fields=_within_limits(mapping, rendered.fields, mapping.object_name),
        owner_field=mapping.owner_field,
        owner_id=mapping.owner_for(context.owners),
        contact_phone=context.message.other_party,
        contact_rule=ContactPlan(
            objects=tuple(m.object for m in mapping.spec.contact.match),
            phone_fields={m.object: tuple(m.phone_fields) for m in mapping.spec.contact.match},
            on_no_match=no_match.action.value,
            create_object=no_match.object,
            create_fields=_within_limits(mapping, rendered.create_fields, no_match.object),
        ),
        associations=association_plan(mapping),
        create_only=mapping.create_only,
    )


def association_plan(mapping: CrmMapping) -> AssociationPlan:
    spec = mapping.spec
    if isinstance(spec, HubSpotMappingFile):
        return AssociationPlan(
            company=spec.associations.company, open_deals=spec.associations.open_deals
        )
    if isinstance(spec, SalesforceMappingFile):
        what = spec.associations.what_id
        return AssociationPlan(what_id=None if what == "none" else what)
    return AssociationPlan()


def _within_limits(
    mapping: CrmMapping, values: Mapping[str, FieldValue], object_name: str | None
) -> dict[str, FieldValue]:
    kept: dict[str, FieldValue] = {}
    for name, value in values.items():
        limit = mapping.limit_for(name, object_name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            log.warning(
                "mapping_value_cut",
                crm=mapping.crm.value,
                field=name,
                length=len(value),
                limit=limit,
            )
            value = fit(value, limit, ELLIPSIS)
        kept[name] = value
    return kept
