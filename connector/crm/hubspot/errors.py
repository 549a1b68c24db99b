"""The one error type of the HubSpot adapter, and which of our error classes each failure is.

The SDK raises a different, unrelated `ApiException` class per API package (401, 403, 404 and
5xx as subclasses of it), lets urllib3's errors escape when an answer is lost, and puts a
207's per-input failures in the answer. `HubSpotError` wraps the first two, `ItemError` the
third; both know the `connector.core.errors` class the worker acts on.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3.exceptions

from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    Permanent,
    Throttled,
    Transient,
)

# A daily allowance spent, or a portal being migrated, without a `Retry-After`: pause this long.
WHOLE_TARGET_PAUSE_SECONDS = 3600.0
LOCKED_WAIT_SECONDS = 2.0  # HubSpot: wait at least 2 s after a 423
REASON_MESSAGE_CHARS = 300  # HubSpot's message is kept in the reason, cut to this length

_NOT_APPLIED_STATUSES = frozenset({408, 423, 429, 503})  # the request certainly did nothing
# Gateway and server hiccups (HubSpot's edge answers some with HTML); worth a prompt repeat
# when nothing can have been applied (reads, or `maybe_applied` False).
_BRIEF_5XX = frozenset({500, 502, 503, 504})
_TRANSIENT_CATEGORIES = frozenset(
    {
        "RATE_LIMIT",
        "RATE_LIMITS",
        "LOCKED",
        "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
        "BAD_GATEWAY",
        "GATEWAY_TIMEOUT",
        "TIMEOUT",
    }
)
_CREDENTIAL_CATEGORIES = frozenset({"INVALID_AUTHENTICATION", "MISSING_SCOPES", "UNAUTHORIZED"})


@dataclass(frozen=True)
class ItemError:
    """One input's failure inside a 207 batch answer."""

    category: str
    message: str
    context: Mapping[str, list[str]] = field(default_factory=dict)
    sub_category: str = ""

    def as_connector_error(self) -> ConnectorError:
        reason = f"HubSpot refused it ({self.category}): {_cut(self.message)}"
        if self.category in _TRANSIENT_CATEGORIES:
            return Transient(reason)
        if self.category in _CREDENTIAL_CATEGORIES:
            return CredentialsError(reason)
        return Permanent(reason)


class HubSpotError(Exception):
    """A failed HubSpot call, from an SDK `ApiException` of any package or a urllib3 error.

    `status` is None when no HTTP answer came back. `maybe_applied` says whether HubSpot may
    have acted on the request anyway (a write whose answer was lost).
    """

    def __init__(
        self,
        operation: str,
        status: int | None,
        message: str,
        *,
        category: str | None = None,
        correlation_id: str | None = None,
        retry_after: float | None = None,
        policy: str | None = None,
        maybe_applied: bool = False,
        context: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{operation}: {status or 'no answer'} {category or ''} {message}")
        self.operation = operation
        self.status = status
        self.message = message
        self.category = category
        self.correlation_id = correlation_id
        self.retry_after = retry_after
        self.policy = policy
        self.maybe_applied = maybe_applied
        self.context = dict(context or {})
        self.headers = headers or {}
        # No answer within the timeout: HubSpot (or the way to it) is slow, and asking again at
        # once would only wait as long again.
        self.timed_out = False

    @property
    def is_rate_limit(self) -> bool:
        return self.status == 429 and self.policy != "DAILY"

    @property
    def worth_repeating_now(self) -> bool:
        """A brief failure HubSpot certainly did not act on: a lost connection before anything
        was applied, or a 5xx to a read or a 503. Repeated within the call, a moment later,
        instead of sending the whole batch back to the queue for seconds or minutes."""
        if self.maybe_applied or self.timed_out or self.status in (429, 423):
            return False
        return self.status is None or self.status == 503 or self.status in _BRIEF_5XX

    @property
    def concerns_every_record(self) -> bool:
        """Credentials refused or the portal's whole allowance gone: no record can be written."""
        return self.status in (401, 403, 477) or (self.status == 429 and self.policy == "DAILY")

    @property
    def refused_input(self) -> bool:
        """HubSpot looked at the request and refused what it carried (a 4xx about the data):
        in a batch, some input is to blame, and splitting the batch finds which."""
        return self.status in (400, 404, 409, 413, 422)

    def as_connector_error(self) -> ConnectorError:
        """The `connector.core.errors` class the worker understands.

        A write whose answer was lost is `Transient`, not `OutcomeUnknown`: the adapter looks
        such records up by key before creating them again, so repeating it is safe.
        """
        reason = self.reason()
        status = self.status
        if status is None or status == 0:
            return Transient(reason, self.retry_after)
        if status in (401, 403):
            return CredentialsError(reason)
        if (status == 429 and self.policy == "DAILY") or status == 477:
            return Throttled(reason, self.retry_after or WHOLE_TARGET_PAUSE_SECONDS)
        if status == 423:
            return Transient(reason, max(self.retry_after or 0.0, LOCKED_WAIT_SECONDS))
        if status in _NOT_APPLIED_STATUSES:
            return Transient(reason, self.retry_after)
        if status >= 500:
            return Transient(reason, self.retry_after)
        return Permanent(reason)

    def reason(self) -> str:
        """Safe for admins and logs: status, category, HubSpot's message (cut), correlation id."""
        if self.status in (None, 0):
            head = f"HubSpot {self.operation}: no answer ({self.message})"
            if self.maybe_applied:
                head += "; it may have been applied: the next attempt looks it up first"
            return head
        parts = [f"HubSpot {self.operation} answered {self.status}"]
        if self.category:
            parts.append(self.category)
        text = " ".join(parts)
        if self.message:
            text += f": {_cut(self.message)}"
        if self.correlation_id:
            text += f" (correlationId {self.correlation_id})"
        return text

    @classmethod
    def from_exception(cls, exc: BaseException, operation: str, *, writes: bool) -> HubSpotError:
        """Wrap an SDK or transport exception; anything else is a bug and is re-raised."""
        if _is_sdk_api_exception(exc):
            return cls._from_api_exception(exc, operation, writes=writes)
        if _is_sdk_client_side_error(exc):
            return cls(operation, 400, f"the SDK refused the request: {exc}", category="CLIENT")
        transport = _transport_failure(exc)
        if transport is None:
            raise exc
        sent, description = transport
        error = cls(operation, None, description, maybe_applied=writes and sent)
        error.timed_out = _timed_out(exc)
        return error

    @classmethod
    def _from_api_exception(cls, exc: Any, operation: str, *, writes: bool) -> HubSpotError:
        status = int(getattr(exc, "status", 0) or 0)
        headers = header_map(getattr(exc, "headers", None))
        raw = getattr(exc, "body", None)
        body = _json_object(raw)
        message = str(body.get("message") or "") if body else _plain_text(raw, exc)
        category = body.get("category") or body.get("errorType") if body else None
        correlation = (body.get("correlationId") if body else None) or headers.get(
            "x-hubspot-correlation-id"
        )
        context = body.get("context") if body and isinstance(body.get("context"), dict) else None
        return cls(
            operation,
            status or None,
            message,
            category=str(category) if category else None,
            correlation_id=str(correlation) if correlation else None,
            retry_after=_retry_after(headers.get("retry-after")),
            policy=str(body["policyName"]) if body and body.get("policyName") else None,
            # a 4xx refused the request; a 5xx may come after the work was done (502/504 are
            # HubSpot's "processing limits"); status 0 is a TLS failure before anything was sent
            maybe_applied=writes and status >= 500 and status not in _NOT_APPLIED_STATUSES,
            context=context,
            headers=headers,
        )


def _is_sdk_api_exception(exc: BaseException) -> bool:
    """An `ApiException` of any SDK package: the packages share no base class."""
    return any(
        cls.__name__ == "ApiException" and cls.__module__.startswith("hubspot.")
        for cls in type(exc).__mro__
    )


def _is_sdk_client_side_error(exc: BaseException) -> bool:
    return any(
        cls.__name__ == "OpenApiException" and cls.__module__.startswith("hubspot.")
        for cls in type(exc).__mro__
    )


def _transport_failure(exc: BaseException) -> tuple[bool, str] | None:
    """(whether the request may have reached HubSpot, what happened) for a lost answer."""
    root: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        root = exc.reason
    name = type(root).__name__
    if isinstance(
        root, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.SSLError
    ):  # NewConnectionError and NameResolutionError included: nothing was sent
        return False, f"could not connect ({name})"
    if isinstance(root, urllib3.exceptions.ReadTimeoutError):
        return True, "timed out waiting for the answer"
    if isinstance(
        root,
        urllib3.exceptions.HTTPError | http.client.HTTPException | ConnectionError | TimeoutError,
    ):
        return True, f"the connection failed ({name})"
    return None


def _timed_out(exc: BaseException) -> bool:
    root = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
    # urllib3's NewConnectionError (refused, unreachable) subclasses ConnectTimeoutError.
    if isinstance(root, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(root, urllib3.exceptions.TimeoutError | TimeoutError)


def header_map(raw: Any) -> dict[str, str]:
    """Headers with lower-case names (urllib3's HTTPHeaderDict, a dict, or None)."""
    if not raw:
        return {}
    items = raw.items() if hasattr(raw, "items") else raw
    return {str(k).lower(): str(v) for k, v in items}


def _json_object(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str) or not raw.strip().startswith("{"):
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _plain_text(raw: Any, exc: Any) -> str:
    """A non-JSON error (HubSpot's edge answers some 502/504 with HTML): its reason phrase."""
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason)
    return "non-JSON answer" if raw else ""


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _cut(text: str) -> str:
    return text if len(text) <= REASON_MESSAGE_CHARS else text[: REASON_MESSAGE_CHARS - 1] + "…"
