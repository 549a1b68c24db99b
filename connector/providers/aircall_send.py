"""Send an SMS/MMS through Aircall's "send message in agent conversation" (native) endpoint.

Why native and not proxy mode (`/messages/send`): a native send appears in the agent's Aircall
inbox and fires the `message.sent` / `message.status_updated` webhooks the connector already
ingests, so the sent message and its later statuses reach the CRM by the same path as every
other message. Proxy mode needs per-number configuration, disables messaging in the Aircall apps
for that number, and fires no webhooks (providers.md §1.2).

Request: `POST {base}/v1/numbers/{number_id}/messages/native/send`, Basic auth
`api_id:api_token`, JSON `{"to", "body", "mediaUrl": [urls]}` (the media key is left out when
there is no medium). The answer is the message object at the top level; its `id` (a string) is
what the status webhooks carry, and its `status` is `pending`.

UNCONFIRMED, hence options rather than constants: the media key (`mediaUrl` per a third-party
Python SDK and most callers, `media_url` per one other client) is `media_field`; the
rate limit (120/min in the current reference, 60/min in older material) is
`requests_per_minute`. Aircall documents no send-specific error bodies, so reasons are read from
`message`, `error` or `troubleshoot`, whichever is present. Failures are classified by
`connector.providers.sending` (at-most-once: unknown outcomes are never retried blindly).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connector.core.errors import Permanent
from connector.core.model import DeliveryStatus, Provider
from connector.core.phone import mask
from connector.providers.payload import status_from_word
from connector.providers.sending import (
    HttpSender,
    OutboundMessage,
    SendReceipt,
    json_body,
)

__all__ = ["AircallSender"]


class AircallSender(HttpSender):
    """Sends messages from Aircall numbers; several worker threads may share one instance."""

    provider = Provider.AIRCALL
    provider_name = "Aircall"
    reset_headers = ("X-AircallApi-Reset",)
    remaining_headers = ("X-AircallApi-Remaining",)
    default_base_url = "https://api.aircall.io"  # the API root, without `/v1`
    default_requests_per_minute = 120.0

    def __init__(self, *args: Any, media_field: str = "mediaUrl", **kwargs: Any) -> None:
        """`media_field` names the JSON key of the media URLs: `mediaUrl` in Aircall's native
        send as documented by SDKs, `media_url` in other sources (unconfirmed), so it is a
        setting rather than a literal."""
        super().__init__(*args, **kwargs)
        self.media_field = media_field

    def url_for(self, number_id: str) -> str:
        return f"{self.base_url}/v1/numbers/{quote(number_id, safe='')}/messages/native/send"

    def payload(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON body Aircall receives: exactly the text and URLs given."""
        body: dict[str, Any] = {"to": message.to, "body": message.text}
        if message.media_urls:
            body[self.media_field] = list(message.media_urls)
        return body

    def send(self, message: OutboundMessage) -> SendReceipt:
        number_id = (message.provider_line_id or "").strip()
        if not number_id:
            raise Permanent(
                f"line {mask(message.line_number)} has no Aircall number id "
                "(provider_line_id in mappings/lines.yaml); nothing was sent"
            )
        response = self._post(message, self.url_for(number_id), self.payload(message))
        receipt = self._receipt(json_body(response))
        if receipt.provider_message_id is None:
            self._log.warning(
                "%s: accepted (HTTP %d) but no message id: its status webhooks cannot be matched",
                self._describe(message),
                response.status_code,
            )
        else:
            self._log.info(
                "%s: accepted (HTTP %d) id=%s status=%s",
                self._describe(message),
                response.status_code,
                receipt.provider_message_id,
                receipt.raw_status,
            )
        return receipt

    @staticmethod
    def _receipt(body: Any) -> SendReceipt:
        """The message object Aircall answered with (top level; a `message` wrapper is read too).

        A 2xx without an id still means accepted: raising would make the worker treat a message
        Aircall took as unsent.
        """
        message: Mapping[str, Any] = {}
        if isinstance(body, Mapping):
            wrapped = body.get("message")
            message = wrapped if isinstance(wrapped, Mapping) else body
        raw_id = message.get("id")
        message_id = None
        if isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
            message_id = str(raw_id).strip() or None
        word = message.get("status")
        raw_status = word.strip() or None if isinstance(word, str) else None
        status = status_from_word(raw_status) if raw_status else DeliveryStatus.QUEUED
        return SendReceipt(provider_message_id=message_id, status=status, raw_status=raw_status)
