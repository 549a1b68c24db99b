"""CloudTalk's API for set-up: the company's numbers (`GET /api/numbers/index.json`).

The answer is CloudTalk's collection envelope, `{"responseData": {"itemsCount", "pageCount",
"pageNumber", "limit", "data": [{"CallNumber": {id, internal_name, caller_id_e164, ...}}]}}`,
pages of up to 1000 (`limit`, `page`). The published spec names the wrapper `CallNumber` and a
client seen in the wild reads `Number`; both are read, and a bare object too. `caller_id_e164` is
"E.164" but the spec's own example carries it as a JSON number without `+`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.core.errors import Permanent
from connector.core.events import MalformedEvent
from connector.core.model import Provider
from connector.core.provider_numbers import ProviderNumber
from connector.providers.admin_http import AdminApi, read_list, text_of
from connector.providers.payload import read_phone

NUMBERS_PATH = "/api/numbers/index.json"
PAGE_LIMIT = 1000
MAX_PAGES = 100
_WRAPPERS = ("CallNumber", "Number")


class CloudTalkAdmin(AdminApi):
    provider_name = "CloudTalk"
    credentials_hint = "CONNECTOR_CLOUDTALK_API_KEY_ID and CONNECTOR_CLOUDTALK_API_KEY_SECRET"

    def numbers(self) -> list[ProviderNumber]:
        found: list[ProviderNumber] = []
        for page in range(1, MAX_PAGES + 1):
            body = self.call("GET", NUMBERS_PATH, params={"limit": PAGE_LIMIT, "page": page})
            inner = body.get("responseData", body) if isinstance(body, Mapping) else None
            found += [_number(item) for item in read_list(inner, "data", self.provider_name)]
            page_count = inner.get("pageCount") if isinstance(inner, Mapping) else None
            if not isinstance(page_count, int) or page >= page_count:
                return found
        raise Permanent(f"CloudTalk kept answering more pages of numbers after {MAX_PAGES}")


def _number(item: Mapping[str, Any]) -> ProviderNumber:
    inner: Any = next((item[k] for k in _WRAPPERS if isinstance(item.get(k), Mapping)), item)
    line_id = text_of(inner.get("id"))
    if line_id is None:
        raise Permanent("CloudTalk listed a number without an id")
    try:
        number = read_phone(inner.get("caller_id_e164"), "caller_id_e164")
    except MalformedEvent as exc:
        raise Permanent(f"CloudTalk listed number {line_id}: {exc}") from None
    label = text_of(inner.get("internal_name")) or ""
    return ProviderNumber(Provider.CLOUDTALK, number, line_id, label)
