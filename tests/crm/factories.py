"""CRM-neutral builders of what the sync hands an adapter, for every CRM adapter's tests.

Each builder starts from defaults and takes what a test changes; keys are fresh unless given, so
tests never collide by accident. CRM-specific defaults (object names, field names) belong in the
adapter's own test kit, which calls these.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from connector.crm.base import ContactRule, RecordWrite

NUMBER = "+14155550100"  # the other party of a conversation, E.164
LINE = "+13125550100"  # the company's line

_keys = itertools.count(1)


def new_key(prefix: str = "aircall:msg") -> str:
    """A message key as the core builds them: provider and provider message id."""
    return f"{prefix}-{next(_keys):06d}"


def contact_rule(
    objects: tuple[str, ...],
    phone_fields: Mapping[str, tuple[str, ...]],
    *,
    on_no_match: str = "create",
    create_object: str | None = None,
    create_fields: Mapping[str, Any] | None = None,
) -> ContactRule:
    return ContactRule(
        objects=objects,
        phone_fields=dict(phone_fields),
        on_no_match=on_no_match,
        create_object=create_object,
        create_fields=dict(create_fields or {}),
    )


def record_write(
    *,
    object_name: str,
    key_field: str,
    fields: Mapping[str, Any],
    contact_rule: ContactRule,
    **overrides: Any,
) -> RecordWrite:
    """A record for `NUMBER` in thread `thread-1`, with a fresh key unless `key=` is given."""
    values: dict[str, Any] = {
        "key": new_key(),
        "thread_key": "thread-1",
        "object_name": object_name,
        "fields": dict(fields),
        "contact_phone": NUMBER,
        "contact_rule": contact_rule,
        "key_field": key_field,
    }
    values.update(overrides)
    return RecordWrite(**values)
