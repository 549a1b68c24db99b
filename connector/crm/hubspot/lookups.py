"""Finding records HubSpot already holds, by the connector's key property.

With unique values the key is read directly (consistent at once); without, it is searched,
which lags writes by a few seconds (see `records.py` for how the writer allows for that).
"""

from __future__ import annotations

import structlog

from connector.crm.hubspot.batches import SplitBudget, chunks, run_batches
from connector.crm.hubspot.client import HubSpotApi
from connector.crm.hubspot.contacts import SEARCH_PAGES_MAX
from connector.crm.hubspot.matching import IN_VALUES_MAX

log = structlog.get_logger(__name__)


def read_keys(api: HubSpotApi, object_type: str, key_field: str, keys: list[str]) -> dict[str, str]:
    """Ids by key, read by the unique key property (strongly consistent, 100 keys a call)."""
    outcomes = run_batches(
        keys,
        lambda chunk: api.batch_read(object_type, chunk, [key_field], id_property=key_field),
        item_key=lambda key: key,
        result_key=lambda obj: obj.properties.get(key_field),
        error_keys=lambda e: e.context.get("ids", []),
        budget=SplitBudget(0),
        writes=False,
    )
    for outcome in outcomes:
        if outcome.call_error is not None:
            raise outcome.call_error
    return {o.item: o.obj.id for o in outcomes if o.obj is not None}


def search_keys(
    api: HubSpotApi, object_type: str, key_field: str, keys: list[str]
) -> dict[str, str]:
    """Ids by key, searched (search lags writes by seconds); of duplicates, the oldest."""
    ids: dict[str, list[str]] = {}
    for chunk in chunks(sorted(set(keys)), IN_VALUES_MAX):
        after: str | None = None
        for _ in range(SEARCH_PAGES_MAX):
            page, after = api.search(
                object_type,
                [[{"propertyName": key_field, "operator": "IN", "values": chunk}]],
                [key_field],
                after=after,
            )
            for obj in page:
                key = obj.properties.get(key_field)
                if key:
                    ids.setdefault(key, []).append(obj.id)
            if after is None:
                break
    picked = {}
    for key, found in ids.items():
        ordered = sorted(found, key=lambda i: (len(i), i))  # numeric order: oldest first
        if len(ordered) > 1:
            log.warning("hubspot.duplicate_records", key=key, count=len(ordered))
        picked[key] = ordered[0]
    return picked
