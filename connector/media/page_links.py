"""Short-lived signed links that open the composer inside a CRM record, with no API token.

A CRM-side integration asks `POST /v1/compose-links` (behind the bearer token) for a link; the
link carries the CRM, the record and the recipient, signed with the connector's secret and
expiring after a while, so the browser holding it can only send to that recipient, from that
record, until then. The signature is HMAC-SHA256 under a domain string of its own: a media link
can never pass for a page link, nor the other way round.

Token: `p1.<payload>.<signature>`, both parts unpadded base64url; the payload is compact JSON.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DOMAIN = b"mms-connector/page-link/v1\x00"
_VERSION = "p1"
_MAX_TOKEN_CHARS = 2048
# Matched whole (`fullmatch`): `$` would also accept a trailing newline.
_PART = re.compile(r"[A-Za-z0-9_-]+")

DEFAULT_TTL = timedelta(hours=1)
MAX_TTL = timedelta(hours=12)


class PageLinkInvalid(ValueError):
    """Not a link this connector signed (malformed, altered, or signed with another secret)."""


class PageLinkExpired(PageLinkInvalid):
    """A genuine link whose time is up: the CRM record opens a fresh one."""


@dataclass(frozen=True)
class CrmRecord:
    """The CRM record a composer was opened from (a HubSpot contact, a Salesforce Contact...)."""

    system: str
    object: str
    record_id: str


@dataclass(frozen=True)
class ComposeGrant:
    """What a composer link allows: sending to `to`, on behalf of `record`, until `expires_at`."""

    record: CrmRecord
    to: str
    expires_at: datetime

    @property
    def draft_key(self) -> str:
        """Names this composer's draft in the browser session: one per record and recipient."""
        r = self.record
        return f"{r.system}:{r.object}:{r.record_id}:{self.to}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: any character outside the alphabet is an error, and a spelling whose unused low
    bits are set (several texts decode to the same bytes) is refused, so one value has one text."""
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(data) != text:
        raise ValueError("not the canonical spelling")
    return data


def _signature(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, _DOMAIN + f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest()


def sign_compose(
    secret: bytes,
    record: CrmRecord,
    to: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> tuple[str, ComposeGrant]:
    """A composer token and what it grants; it expires `ttl` from `now` (whole seconds)."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"a page link lives between 1 second and {MAX_TTL}")
    moment = now or datetime.now(UTC)
    expires = int((moment + ttl).timestamp())
    body = {
        "k": "compose",
        "s": record.system,
        "o": record.object,
        "r": record.record_id,
        "to": to,
        "exp": expires,
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    token = f"{_VERSION}.{payload}.{_b64(_signature(secret, payload))}"
    grant = ComposeGrant(record=record, to=to, expires_at=datetime.fromtimestamp(expires, UTC))
    return token, grant


def verify_compose(secret: bytes, token: str, *, now: datetime | None = None) -> ComposeGrant:
    """What a composer token grants; `PageLinkInvalid` or `PageLinkExpired` otherwise.

    The signature is checked (in constant time) before anything in the payload is believed, so
    "expired" is only ever said of a genuine link.
    """
    if len(token) > _MAX_TOKEN_CHARS:
        raise PageLinkInvalid("the link is not valid")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not all(_PART.fullmatch(p) for p in parts[1:]):
        raise PageLinkInvalid("the link is not valid")
    _, payload, signature = parts
    # The texts are compared, not the decoded bytes: base64's last character carries bits that
    # decoding ignores, so comparing bytes would accept four spellings of one signature.
    expected = _b64(_signature(secret, payload))
    if not hmac.compare_digest(signature.encode("ascii"), expected.encode("ascii")):
        raise PageLinkInvalid("the link is not valid")
    try:
        body = json.loads(_unb64(payload))
        grant = ComposeGrant(
            record=CrmRecord(
                system=str(body["s"]), object=str(body["o"]), record_id=str(body["r"])
            ),
            to=str(body["to"]),
            expires_at=datetime.fromtimestamp(int(body["exp"]), UTC),
        )
        kind = body["k"]
    except (ValueError, KeyError, TypeError, OverflowError, OSError):
        raise PageLinkInvalid("the link is not valid") from None
    if kind != "compose":
        raise PageLinkInvalid("the link is not valid")
    if (now or datetime.now(UTC)) >= grant.expires_at:
        raise PageLinkExpired("the link has expired")
    return grant


def compose_url(public_url: str, token: str) -> str:
    """The composer's address, as the CRM record's iframe opens it."""
    return f"{public_url.rstrip('/')}/compose?token={token}"
