"""Send an SMS/MMS through CloudTalk's `POST /api/sms/send.json`.

Request: Basic auth `key_id:key_secret`, JSON `{"sender", "recipient", "message",
"images_by_url": [urls]}` (both numbers E.164; `images_by_url` left out when there is no
medium). CloudTalk downloads each image itself. Its API takes at most 5 URLs (the app allows
10); that cap belongs to the rule engine, which knows the provider policy, so this module sends
exactly what it is given and a list CloudTalk refuses comes back as its own error.

Why the answer needs more than a status code: CloudTalk answers 200 even when it did not send,
with `{"responseData": {"success": false, "data": "<reason>"}}`. The documented reasons are
`SMS send failed`, `Not allowed country.`, `Unknown number`, `Limit exceeded` and
`Bad number configuration`. A `success: false` says the message was *not* sent, so it is a
plain failure, never an unknown outcome:

| `data` (reason)                                              | Raised                      |
| ------------------------------------------------------------ | --------------------------- |
| `Limit exceeded`                                             | `Transient` (try later)     |
| `Insufficient Funds`, `Not allowed country.`, `Unknown       | `Permanent` (CloudTalk's    |
| number`, `Bad number configuration`, `SMS send failed`, or   | reason kept)                |
| any reason not listed (retrying blind could only repeat it)  |                             |
| a reason saying the recipient unsubscribed / opted out       | `RecipientOptedOut`         |
| a 200 whose `success` cannot be read                         | `OutcomeUnknown`            |

HTTP errors follow `connector.providers.sending`, with one CloudTalk meaning: a 403 whose
message is `Insufficient Funds` is the account's balance, not its credentials, so it is
`Permanent` with that text (other 403s, e.g. the edge's HTML refusal, and 401 are
`CredentialsError`). A 429 honours `Retry-After`, else `X-CloudTalkAPI-ResetTime` (a Unix
timestamp), and pauses every thread sharing the sender.

CloudTalk returns no message id, so receipts carry `provider_message_id=None`. Its success
means CloudTalk took the message for sending and documents no later per-message callback for
API sends, so the receipt says `sent`; a workflow status event may still advance it.

UNCONFIRMED: whether `success` may arrive as the string `"true"` (the spec's example writes
`true|false`; both are read), whether the 200 is always wrapped in `responseData` (the schema
shows it bare; both are read), and the exact spelling of every reason (compared without case
and trailing period).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connector.core.errors import (
    ConnectorError,
    OutcomeUnknown,
    Permanent,
    Transient,
)
from connector.core.model import DeliveryStatus, Provider
from connector.providers.sending import (
    HttpSender,
    OutboundMessage,
    SendReceipt,
    json_body,
    provider_message,
    refusal,
    safe_reason,
)

__all__ = ["ACCEPTED_STATUS", "CloudTalkSender"]

ACCEPTED_STATUS = DeliveryStatus.SENT
SEND_PATH = "/api/sms/send.json"

# Reasons after which trying again later can succeed; every other `success: false` is permanent.
_TRANSIENT_REASONS = frozenset({"limit exceeded"})
_INSUFFICIENT_FUNDS = "insufficient funds"
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _normalised(reason: str) -> str:
    return " ".join(reason.split()).rstrip(".").strip().lower()


def _read_success(value: Any) -> bool | None:
    """`success` as a bool: JSON true/false, or the strings the spec's example suggests."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return None


class CloudTalkSender(HttpSender):
    """Sends messages from CloudTalk numbers; several worker threads may share one instance."""

    provider = Provider.CLOUDTALK
    provider_name = "CloudTalk"
    reset_headers = ("X-CloudTalkAPI-ResetTime",)
    remaining_headers = ("X-CloudTalkAPI-Remaining",)
    default_base_url = "https://my.cloudtalk.io"  # the host, without `/api`
    default_requests_per_minute = 60.0

    @property
    def url(self) -> str:
        return f"{self.base_url}{SEND_PATH}"

    @staticmethod
    def payload(message: OutboundMessage) -> dict[str, Any]:
        """The JSON body CloudTalk receives: exactly the text and URLs given, none capped."""
        body: dict[str, Any] = {
            "sender": message.line_number,
            "recipient": message.to,
            "message": message.text,
        }
        if message.media_urls:
            body["images_by_url"] = list(message.media_urls)
        return body

    def send(self, message: OutboundMessage) -> SendReceipt:
        response = self._post(message, self.url, self.payload(message))
        body = json_body(response)
        inner = body.get("responseData", body) if isinstance(body, Mapping) else None
        if not isinstance(inner, Mapping):
            inner = {}
        success = _read_success(inner.get("success"))
        if success is None:
            raise self._fail(
                message,
                OutcomeUnknown(
                    f"CloudTalk answered {response.status_code} without a readable success flag; "
                    "the message may have been sent, check CloudTalk before resending"
                ),
            )
        if not success:
            raise self._fail(message, self._refusal(inner))
        self._log.info("%s: accepted (HTTP %d)", self._describe(message), response.status_code)
        return SendReceipt(provider_message_id=None, status=ACCEPTED_STATUS, raw_status=None)

    @staticmethod
    def _refusal(inner: Mapping[str, Any]) -> ConnectorError:
        """The error for a 200 with `success: false`: CloudTalk did not send the message."""
        data = inner.get("data")
        reason = data.strip() if isinstance(data, str) and data.strip() else None
        reason = reason or provider_message(inner) or "SMS send failed"
        text = safe_reason(f"CloudTalk refused the message: {reason}")
        if _normalised(reason) in _TRANSIENT_REASONS:
            return Transient(text)
        return refusal(text)

    def _failure(self, response: httpx.Response, retry_after: float | None) -> ConnectorError:
        if response.status_code == 403:
            detail = provider_message(json_body(response)) or ""
            if _INSUFFICIENT_FUNDS in _normalised(detail):
                return Permanent(safe_reason(f"CloudTalk answered 403: {detail}"))
        return super()._failure(response, retry_after)
