"""What HubSpot's answers carry, as small dataclasses: no SDK model leaks past `client.py`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.crm.hubspot.errors import ItemError


@dataclass(frozen=True)
class CrmObject:
    """One HubSpot object as an answer carried it."""

    id: str
    properties: Mapping[str, str | None] = field(default_factory=dict)
    trace_id: str | None = None
    # to-type -> [(id, association type name)], when associations were asked for
    associations: Mapping[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchAnswer:
    """A batch call's answer: 2xx results, and the per-input errors of a 207."""

    results: list[CrmObject]
    errors: list[ItemError]


@dataclass(frozen=True)
class AssociationAnswer:
    """A v4 association batch read: from id -> [(to id, association type ids)], and the
    per-input errors of a 207 (HubSpot reports an object without associations as one)."""

    results: Mapping[str, list[tuple[str, tuple[int, ...]]]]
    errors: list[ItemError]


@dataclass(frozen=True)
class CreateInput:
    properties: Mapping[str, str]
    associations: Sequence[tuple[str, int]] = ()  # (to id, association type id)
    trace_id: str | None = None


@dataclass(frozen=True)
class PropertyInfo:
    name: str
    type: str
    field_type: str
    group_name: str
    unique: bool
    read_only: bool
    hubspot_defined: bool


@dataclass
class CallStats:
    """What the adapter spent, for the benchmark and the logs."""

    calls: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    rate_limit_wait_seconds: float = 0.0


def object_of(model: Any) -> CrmObject:
    associations: dict[str, list[tuple[str, str]]] = {}
    for to_type, collection in (getattr(model, "associations", None) or {}).items():
        associations[to_type] = [
            (str(a.id), str(a.type or "")) for a in getattr(collection, "results", None) or []
        ]
    return CrmObject(
        id=str(model.id),
        properties=dict(model.properties or {}),
        trace_id=getattr(model, "object_write_trace_id", None),
        associations=associations,
    )


def item_errors_of(model: Any) -> list[ItemError]:
    return [
        ItemError(
            category=str(e.category or ""),
            message=str(e.message or ""),
            context={str(k): [str(x) for x in v or []] for k, v in (e.context or {}).items()},
            sub_category=str(getattr(e, "sub_category", None) or ""),
        )
        for e in getattr(model, "errors", None) or []
    ]


def batch_answer_of(model: Any) -> BatchAnswer:
    return BatchAnswer([object_of(r) for r in model.results or []], item_errors_of(model))


def association_answer_of(model: Any) -> AssociationAnswer:
    results: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for row in model.results or []:
        from_id = str(row._from.id)
        results.setdefault(from_id, []).extend(
            (
                str(to.to_object_id),
                tuple(int(t.type_id) for t in to.association_types or [] if t.type_id is not None),
            )
            for to in row.to or []
        )
    return AssociationAnswer(results, item_errors_of(model))


def property_of(model: Any) -> PropertyInfo:
    metadata = getattr(model, "modification_metadata", None)
    return PropertyInfo(
        name=str(model.name),
        type=str(model.type or ""),
        field_type=str(model.field_type or ""),
        group_name=str(model.group_name or ""),
        unique=bool(getattr(model, "has_unique_value", False)),
        read_only=bool(getattr(metadata, "read_only_value", False)),
        hubspot_defined=bool(getattr(model, "hubspot_defined", False)),
    )
