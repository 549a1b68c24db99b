"""Short-lived signed links that open the composer inside a CRM record, with no API token.

A CRM-side integration asks `POST /v1/compose-links` (behind the bearer token) for a link; the
link carries the CRM, the record and the recipient, signed with the connector's secret and
expiring after a while, so the browser holding it can only send to that recipient, from that
record, until then.

Tokens are itsdangerous's `URLSafeTimedSerializer` (`<payload>.<signed at>.<signature>`,
HMAC-SHA256) with a salt per purpose (`PagePurpose`): a token signed for one page is refused by
every other, and a media link (an HMAC under a domain string of its own) never passes for a page
link. The current key of the ring signs and every key verifies, so a composer open while the key
is rotated keeps working. Tokens of the first, hand-made format (`p1.`) are no longer accepted:
they lived 12 hours at most.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from connector.core.keys import KeyRing

_MAX_TOKEN_CHARS = 2048
# Matched whole (`fullmatch`): `$` would also accept a trailing newline. A payload that
# itsdangerous compressed starts with a dot.
_TOKEN = re.compile(r"\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")
# How far ahead of this process's clock another replica's may be: a link it signed "in the
# future" by up to this much is still accepted, not refused the moment it is opened.
_CLOCK_SKEW = 30

DEFAULT_TTL = timedelta(hours=1)
MAX_TTL = timedelta(hours=12)


class PageLinkInvalid(ValueError):
    """Not a link this connector signed (malformed, altered, or signed with another secret)."""


class PageLinkExpired(PageLinkInvalid):
    """A genuine link whose time is up: the CRM record opens a fresh one."""


class _ClockSigner(TimestampSigner):
    """itsdangerous's timestamp signer reading a given time, so a caller (a test) can say when
    a link is signed and when it is opened."""

    def __init__(self, *args: Any, clock: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return self._clock


@dataclass(frozen=True)
class PagePurpose:
    """One kind of page link. Its name salts the signing key, so a token signed for one purpose
    is worthless to every other even when the claims would read the same."""

    name: str

    def _serializer(self, keys: KeyRing, clock: int) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            keys.oldest_first,  # itsdangerous signs with the last, verifies with every one
            salt=f"mms-connector/page-link/{self.name}",
            signer=_ClockSigner,
            signer_kwargs={"clock": clock, "digest_method": hashlib.sha256},
        )

    def sign(
        self,
        keys: KeyRing,
        claims: Mapping[str, str],
        *,
        ttl: timedelta = DEFAULT_TTL,
        now: datetime | None = None,
    ) -> tuple[str, datetime]:
        """A token carrying `claims` and when it expires: `ttl` from `now`, in whole seconds."""
        seconds = int(ttl.total_seconds())
        if not seconds >= 1 or ttl > MAX_TTL:
            raise ValueError(f"a page link lives between 1 second and {MAX_TTL}")
        signed_at = int((now or datetime.now(UTC)).timestamp())
        token = self._serializer(keys, signed_at).dumps({**claims, "ttl": seconds})
        return token, datetime.fromtimestamp(signed_at + seconds, UTC)

    def verify(
        self, keys: KeyRing, token: str, *, now: datetime | None = None
    ) -> tuple[dict[str, Any], datetime]:
        """The claims of a genuine, unexpired token of this purpose and when it expires;
        `PageLinkInvalid` or `PageLinkExpired` otherwise.

        itsdangerous checks the signature (in constant time) before it reads the payload or the
        time, so "expired" is only ever said of a genuine link. `max_age` bounds every link by
        `MAX_TTL`; the link's own lifetime, carried in the signed payload, ends it sooner.
        """
        match = _TOKEN.fullmatch(token) if len(token) <= _MAX_TOKEN_CHARS else None
        if match is None or not _canonical(match.group(1)):
            raise PageLinkInvalid("the link is not valid")
        moment = now or datetime.now(UTC)
        # The clock is read `_CLOCK_SKEW` ahead, and `max_age` widened by as much: a token is
        # then refused only when signed more than `_CLOCK_SKEW` after `moment`, or older than
        # `MAX_TTL`.
        longest = int(MAX_TTL.total_seconds()) + _CLOCK_SKEW
        serializer = self._serializer(keys, int(moment.timestamp()) + _CLOCK_SKEW)
        try:
            body, signed_at = serializer.loads(token, max_age=longest, return_timestamp=True)
        except SignatureExpired as exc:
            if exc.date_signed is not None and exc.date_signed > moment:
                raise PageLinkInvalid("the link is not valid") from None
            raise PageLinkExpired("the link has expired") from None
        except BadData:
            raise PageLinkInvalid("the link is not valid") from None
        seconds = body.get("ttl") if isinstance(body, dict) else None
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 1:
            raise PageLinkInvalid("the link is not valid")
        expires_at: datetime = signed_at + timedelta(seconds=seconds)
        if moment >= expires_at:
            raise PageLinkExpired("the link has expired")
        return {k: v for k, v in body.items() if k != "ttl"}, expires_at


def _canonical(signature: str) -> bool:
    """One signature, one spelling: base64's last character carries bits that decoding
    ignores, and itsdangerous compares the decoded bytes, which would accept four spellings."""
    try:
        return base64_encode(base64_decode(signature)).decode("ascii") == signature
    except BadData:
        return False


COMPOSE = PagePurpose("compose")


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


def sign_compose(
    keys: KeyRing,
    record: CrmRecord,
    to: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> tuple[str, ComposeGrant]:
    """A composer token and what it grants; it expires `ttl` from `now` (whole seconds)."""
    claims = {"s": record.system, "o": record.object, "r": record.record_id, "to": to}
    token, expires_at = COMPOSE.sign(keys, claims, ttl=ttl, now=now)
    return token, ComposeGrant(record=record, to=to, expires_at=expires_at)


def verify_compose(keys: KeyRing, token: str, *, now: datetime | None = None) -> ComposeGrant:
    """What a composer token grants; `PageLinkInvalid` or `PageLinkExpired` otherwise."""
    claims, expires_at = COMPOSE.verify(keys, token, now=now)
    try:
        return ComposeGrant(
            record=CrmRecord(
                system=str(claims["s"]), object=str(claims["o"]), record_id=str(claims["r"])
            ),
            to=str(claims["to"]),
            expires_at=expires_at,
        )
    except KeyError:
        raise PageLinkInvalid("the link is not valid") from None


def compose_url(public_url: str, token: str) -> str:
    """The composer's address, as the CRM record's iframe opens it."""
    return f"{public_url.rstrip('/')}/compose?token={token}"
