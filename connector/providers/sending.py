"""What every provider sender takes and returns, and how a failed send is classified.

Sending is at-most-once: an MMS that reaches a customer twice is worse than one an
admin has to look at, and neither Aircall nor CloudTalk documents an idempotency key that would
make a resend harmless. So every failure is sorted by one question: *can the provider have acted
on this request?*

| What happened                                                 | Raised                    |
| ------------------------------------------------------------- | ------------------------- |
| Connection refused, DNS failure, connect or pool timeout,     | `Transient`: safe to      |
| proxy refused: the request never left                         | retry                     |
| 429, 503: the provider turned the request away unhandled      | `Transient(retry_after)`  |
| 400, 404, 409, 422, any other 4xx, a 3xx (never followed)     | `Permanent(its reason)`;  |
|                                                               | `RecipientOptedOut` when  |
|                                                               | it says "unsubscribed"    |
| 401, 403: credentials (or account access) refused             | `CredentialsError`        |
| Read timeout, read error, dropped connection, write timeout   | `OutcomeUnknown`: never   |
| or error once sending began                                   | resent automatically      |
| 500, 502, 504, 408, any other 5xx; a CloudTalk 2xx whose      | `OutcomeUnknown`          |
| `success` flag cannot be read                                 |                           |
| Our own per-minute budget is further away than `max_wait`     | `Transient(wait)`: no     |
|                                                               | request was made          |

Why 500/502/504 are `OutcomeUnknown` and not `Transient`: a 500 can be raised after the message
was queued at the carrier (CloudTalk documents only "Something went wrong"), and a 502/504 comes
from a gateway that may have forwarded the request before its upstream stopped answering. 503
is different: it is the answer of a service that is not taking requests (maintenance, overload),
so it is treated like a 429. 408 means the server stopped waiting for our request; behind a
gateway that cannot be told apart from a 504, so it is unknown too. A job whose send raised
`OutcomeUnknown` is never resent automatically: someone checks the provider's inbox first.

Senders never log message text, credentials or full phone numbers (`connector.core.phone.mask`),
and every reason they raise is safe to log and show to admins (numbers in provider messages are
masked too).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Self, runtime_checkable

import httpx

from connector import metrics
from connector.core import phone
from connector.core.consent import means_unsubscribed
from connector.core.errors import (
    ConnectorError,
    CredentialsError,
    OutcomeUnknown,
    Permanent,
    RecipientOptedOut,
    Transient,
)
from connector.core.model import DeliveryStatus
from connector.providers.ratelimit import BudgetExhausted, SendRate
from connector.store.budgets import BucketStore

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_AFTER",
    "USER_AGENT",
    "HttpSender",
    "OutboundMessage",
    "SendReceipt",
    "Sender",
    "failure_for_status",
    "json_body",
    "provider_message",
    "refusal",
    "reset_header_seconds",
    "retry_after_seconds",
    "safe_reason",
    "transport_failure",
]

# Connect fails fast (the request has not left, so retrying later is safe); read waits long,
# because a read timeout leaves the outcome unknown and a slow answer is better than that.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
# CloudTalk's edge refuses requests without a User-Agent; say who we are either way.
USER_AGENT = "mms-crm-connector"
# Longest pause a provider header may impose; a larger value is a misread unit, not a plan.
MAX_RETRY_AFTER = 3600.0

_STATUS_NEVER_HANDLED = frozenset({429, 503})
_STATUS_CREDENTIALS = frozenset({401, 403})
_REASON_LIMIT = 300
_LONG_NUMBER = re.compile(r"\+?\d[\d\s().\-]{6,18}\d")


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One MMS/SMS to send: from a company line to one recipient, text and media by URL.

    `provider_line_id` is the provider's own id of the line where it needs one (Aircall's number
    id); `media_urls` are public URLs the provider downloads. Limits (count, size, type) are the
    rule engine's job: senders pass on exactly what they are given.
    """

    line_number: str
    provider_line_id: str | None
    to: str
    text: str = ""
    media_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The provider accepted the message.

    `provider_message_id` is None when the provider returns none (CloudTalk never does);
    `raw_status` is the provider's own word for the status, when it gave one.
    """

    provider_message_id: str | None
    status: DeliveryStatus
    raw_status: str | None = None


@runtime_checkable
class Sender(Protocol):
    """Sends one message, or raises one of the core errors classified as above."""

    def send(self, message: OutboundMessage) -> SendReceipt: ...


def safe_reason(text: str) -> str:
    """`text` fit for logs and admins: phone-like digit runs masked, length bounded."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return phone.mask("+" + digits)

    cleaned = _LONG_NUMBER.sub(_mask, " ".join(text.split()))
    if len(cleaned) > _REASON_LIMIT:
        cleaned = cleaned[: _REASON_LIMIT - 1] + "…"
    return cleaned


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it has none or it is not JSON (an HTML error page)."""
    if not response.content:
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def provider_message(body: Any) -> str | None:
    """The human message in a provider's error body, wherever the provider put it.

    Aircall answers `{"message": ...}` or `{"error": ..., "troubleshoot": ...}`; CloudTalk wraps
    `{"status", "message"}` in `responseData`.
    """
    if isinstance(body, Mapping) and isinstance(body.get("responseData"), Mapping):
        body = body["responseData"]
    if isinstance(body, str):
        return body.strip() or None
    if not isinstance(body, Mapping):
        return None
    parts = []
    for key in ("message", "error", "errors", "troubleshoot", "data"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
        elif isinstance(value, list):
            parts.extend(str(item) for item in value if isinstance(item, str | int | float))
    return "; ".join(dict.fromkeys(parts)) or None


def _parse_retry_after(value: str, wall_clock: Callable[[], float]) -> float | None:
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - wall_clock()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def reset_header_seconds(value: str, wall_clock: Callable[[], float] = time.time) -> float | None:
    """Seconds until a provider's rate-limit reset header says the budget is back.

    CloudTalk documents `X-CloudTalkAPI-ResetTime` as a Unix timestamp; Aircall does not document
    the unit of `X-AircallApi-Reset`. So: at or above 1e11 is epoch milliseconds, at or above 1e9
    epoch seconds, anything smaller a number of seconds from now.
    """
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if number >= 1e11:
        seconds = number / 1000.0 - wall_clock()
    elif number >= 1e9:
        seconds = number - wall_clock()
    else:
        seconds = number
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def retry_after_seconds(
    response: httpx.Response,
    reset_headers: tuple[str, ...] = (),
    wall_clock: Callable[[], float] = time.time,
) -> float | None:
    """How long the provider asked us to wait: `Retry-After` first, then its own reset header."""
    header = response.headers.get("Retry-After")
    if header:
        seconds = _parse_retry_after(header, wall_clock)
        if seconds is not None:
            return seconds
    for name in reset_headers:
        value = response.headers.get(name)
        if value:
            seconds = reset_header_seconds(value, wall_clock)
            if seconds is not None:
                return seconds
    return None


def failure_for_status(
    provider: str, response: httpx.Response, retry_after: float | None
) -> ConnectorError:
    """The error for a non-2xx answer, following the table in this module's docstring."""
    status = response.status_code
    detail = provider_message(json_body(response)) or response.reason_phrase or "no reason given"
    reason = safe_reason(f"{provider} answered {status}: {detail}")
    if status in _STATUS_NEVER_HANDLED:
        return Transient(reason, retry_after)
    if status in _STATUS_CREDENTIALS:
        return CredentialsError(reason)
    if status == 408 or status >= 500:
        return OutcomeUnknown(
            f"{reason}; the message may have been sent, check {provider} before resending"
        )
    # 3xx (redirects are not followed: a POST must not be replayed elsewhere) and other 4xx.
    return refusal(reason)


def refusal(reason: str) -> Permanent:
    """A provider's refusal to send: `RecipientOptedOut` when its words say the recipient
    unsubscribed (neither provider documents such an error, so only unambiguous wordings are
    matched: `connector.core.consent.means_unsubscribed`), else a plain `Permanent`."""
    if means_unsubscribed(reason):
        return RecipientOptedOut(reason)
    return Permanent(reason)


def transport_failure(provider: str, exc: httpx.TransportError) -> ConnectorError:
    """The error for a request that got no HTTP answer, by whether it can have left.

    The order matters: `ConnectTimeout` and `PoolTimeout` are `TimeoutException`s like
    `ReadTimeout`, and `ConnectError` is a `NetworkError` like `ReadError`.
    """
    detail = safe_reason(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Transient(f"could not reach {provider} ({detail}); nothing was sent")
    if isinstance(exc, httpx.ProxyError):
        return Transient(
            f"the proxy to {provider} refused the request ({detail}); nothing was sent"
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return Permanent(f"the request to {provider} could not be made ({detail})")
    # ReadTimeout, ReadError, WriteTimeout, WriteError, RemoteProtocolError, and anything newer.
    return OutcomeUnknown(
        f"no answer from {provider} after the request was sent ({detail}); "
        f"the message may have been sent, check {provider} before resending"
    )


class HttpSender:
    """What both senders share: Basic auth over one httpx client, the per-minute budget, and
    the classification above. Subclasses build the URL and body and read the 2xx answer.

    Several worker threads may share one instance: httpx clients are thread-safe and so is the
    limiter. A `client` passed in is used as given (auth, headers and timeout are set per
    request) and not closed here; without one the sender owns its own.
    """

    provider_name = "provider"
    reset_headers: tuple[str, ...] = ()
    # The header of an answer that says how many requests the account has left.
    remaining_headers: tuple[str, ...] = ()
    default_base_url = ""
    default_requests_per_minute = 60.0
    # Pause every thread this long after a 429 that names no reset time: the budget is per minute.
    default_pause = 60.0

    def __init__(
        self,
        username: str,
        password: str,
        base_url: str | None = None,
        *,
        requests_per_minute: float | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
        limiter: SendRate | None = None,
        budgets: BucketStore | None = None,
        max_wait: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not username or not password:
            raise ValueError(f"{self.provider_name} credentials are required")
        self._auth = httpx.BasicAuth(username, password)
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        requests_per_minute = requests_per_minute or self.default_requests_per_minute
        self._timeout = timeout
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=timeout)
        self._wall_clock = wall_clock
        # The account's budget: in `budgets` (shared by every process) when given.
        self.limiter = limiter or SendRate(
            requests_per_minute,
            store=budgets,
            key=self.provider_name.lower(),
            clock=clock,
            sleep=sleep,
            remaining_headers=self.remaining_headers,
            reset=self._reset_seconds,
        )
        self._max_wait = max_wait
        self._log = logging.getLogger(type(self).__module__)
        self._label = self.provider_name.lower()  # as `connector_webhook_events_total` names it

    def __repr__(self) -> str:  # never the credentials
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _describe(self, message: OutboundMessage) -> str:
        return (
            f"{self.provider_name} send line={phone.mask(message.line_number)} "
            f"to={phone.mask(message.to)} media={len(message.media_urls)}"
        )

    def _reset_seconds(self, headers: Mapping[str, str]) -> float | None:
        """Seconds until the provider's reset header says its budget is back."""
        for name in self.reset_headers:
            value = headers.get(name)
            if value:
                seconds = reset_header_seconds(value, self._wall_clock)
                if seconds is not None:
                    return seconds
        return None

    def _failure(self, response: httpx.Response, retry_after: float | None) -> ConnectorError:
        """The error for a non-2xx answer; a provider with its own meanings overrides this."""
        return failure_for_status(self.provider_name, response, retry_after)

    def _fail(self, message: OutboundMessage, error: ConnectorError) -> ConnectorError:
        self._log.warning("%s: %s: %s", self._describe(message), type(error).__name__, error.reason)
        return error

    def _post(
        self, message: OutboundMessage, url: str, payload: Mapping[str, Any]
    ) -> httpx.Response:
        """POST once, after the budget allows; a 2xx answer, or the classified error raised."""
        try:
            self.limiter.acquire(max_wait=self._max_wait)
        except BudgetExhausted as exc:
            raise Transient(
                f"{self.provider_name} send budget is spent for now; nothing was sent",
                exc.wait_seconds,
            ) from None
        try:
            response = self._client.post(
                url,
                json=payload,
                auth=self._auth,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                timeout=self._timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as exc:
            metrics.PROVIDER_CALLS.labels(provider=self._label, status="no_answer").inc()
            raise self._fail(message, transport_failure(self.provider_name, exc)) from exc
        metrics.PROVIDER_CALLS.labels(provider=self._label, status=str(response.status_code)).inc()
        if response.is_success:
            self.limiter.observe(response.headers)
            return response
        retry_after = None
        if response.status_code in _STATUS_NEVER_HANDLED:
            retry_after = retry_after_seconds(response, self.reset_headers, self._wall_clock)
            if response.status_code == 429:
                self.limiter.defer(retry_after if retry_after is not None else self.default_pause)
        raise self._fail(message, self._failure(response, retry_after))
