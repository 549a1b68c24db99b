"""HubSpot's request signature v3: how the connector knows a card's request came from HubSpot.

A HubSpot app card calls the connector with `hubspot.fetch()`. HubSpot adds the portal, the user
and the app to the query string (`portalId`, `userId`, `userEmail`, `appId`) and signs the whole
request with the app's client secret: `X-HubSpot-Signature-v3` is the base64 HMAC-SHA256 of
method + URI + body + `X-HubSpot-Request-Timestamp` (milliseconds). So no token sits in HubSpot,
and whatever the signed URI says (the record in the path, the portal and user in the query) can
be believed. A request older than 5 minutes is a replay; one dated further ahead than that is
not believed either. The HMAC itself is the SDK's (`hubspot.utils.signature`).
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from hubspot.utils.signature import Signature

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE = timedelta(minutes=5)

# HubSpot signs the URI with these escapes decoded (its request-validation guide lists them);
# every other escape stays as sent.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED), re.IGNORECASE)


class SignatureRejected(Exception):
    """Not a request HubSpot signed for this app, now; the text says which check failed."""


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: without a fragment, the listed escapes decoded."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], url.split("#", 1)[0])


def sign_v3(secret: str, *, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The signature HubSpot would send for this request (what `verify_v3` recomputes)."""
    return str(
        Signature.get_signature(
            secret,
            body.decode("utf-8"),
            "v3",
            http_uri=signed_uri(url),
            http_method=method.upper(),
            timestamp=timestamp,
        )
    )


def verify_v3(
    secret: str,
    *,
    method: str,
    url: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: datetime | None = None,
) -> None:
    """Raise `SignatureRejected` unless HubSpot signed exactly this request within 5 minutes.

    `url` is the full URL HubSpot called (the connector's public address, path and raw query).
    """
    if not signature or not timestamp:
        raise SignatureRejected("the request is not signed by HubSpot")
    if not timestamp.isdigit() or len(timestamp) > 16:
        raise SignatureRejected("the request's timestamp is not a time")
    sent = datetime.fromtimestamp(int(timestamp) / 1000, UTC)
    moment = now or datetime.now(UTC)
    if moment - sent > MAX_AGE:
        raise SignatureRejected("the signed request is older than 5 minutes")
    if sent - moment > MAX_AGE:
        raise SignatureRejected("the signed request is dated in the future")
    try:
        expected = sign_v3(secret, method=method, url=url, body=body, timestamp=timestamp)
    except UnicodeDecodeError:
        raise SignatureRejected("the request's body is not text") from None
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8")):
        raise SignatureRejected("the request's signature does not match it")
