"""The providers' admin APIs (webhooks, numbers) as the set-up commands and the doctor call them.

Unlike sending, nothing here is at-most-once: every call reads, or writes a webhook whose state
the next run reads back, so a failure is simply reported. Errors are the core ones, so the CLI and
the doctor say the same thing: `CredentialsError` when the provider refuses the API key (401/403),
`Transient` when it cannot be reached or asks us to slow down (429, 5xx), `Permanent` otherwise,
each with the provider's own words (phone numbers masked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import httpx

from connector.core.errors import ConnectorError, CredentialsError, Permanent, Transient
from connector.providers.sending import (
    USER_AGENT,
    json_body,
    provider_message,
    retry_after_seconds,
    safe_reason,
)

ADMIN_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)


class AdminApi:
    """Basic-auth JSON calls to one provider's API; one instance per command, closed after."""

    provider_name = "provider"
    credentials_hint = "its API credentials"

    def __init__(
        self,
        user: str,
        password: str,
        base_url: str,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            auth=(user, password),
            timeout=ADMIN_TIMEOUT,
            transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """The JSON answer of a 2xx, or the classified error of anything else."""
        url = path_or_url if "://" in path_or_url else f"{self.base_url}{path_or_url}"
        try:
            response = self._client.request(method, url, params=params, json=json)
        except httpx.TransportError as exc:
            detail = type(exc).__name__
            raise Transient(
                f"could not reach {self.provider_name} at {self.base_url} ({detail})"
            ) from None
        if response.is_success:
            return json_body(response)
        raise self._failure(response)

    def _failure(self, response: httpx.Response) -> ConnectorError:
        status = response.status_code
        detail = provider_message(json_body(response)) or response.reason_phrase or "no reason"
        reason = safe_reason(f"{self.provider_name} answered {status}: {detail}")
        if status in (401, 403):
            return CredentialsError(f"{reason} (check {self.credentials_hint})")
        if status == 429 or status >= 500:
            return Transient(reason, retry_after_seconds(response))
        return Permanent(reason)


def read_list(body: Any, key: str, provider: str) -> list[Mapping[str, Any]]:
    """`body[key]` as a list of objects, or a `Permanent` naming what the answer lacked."""
    items = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise Permanent(f"{provider} answered without a `{key}` list")
    return [item for item in items if isinstance(item, Mapping)]


def text_of(value: Any) -> str | None:
    """An id or name as text (providers send ids as numbers or strings)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None
