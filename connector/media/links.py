"""The connector's own media links: stable, signed, and useless to anyone who alters them.

A link names an attachment or an upload by id and carries an HMAC-SHA256 of that name under the
connector's secret, so it cannot be guessed or walked through by changing the number: knowing
one link tells nothing about any other. The link never expires by itself; the medium does
(retention), and then the link answers 410.

Links are written into CRM records, so their format never changes and a rotated key does not
break them: a link is signed with the ring's current key and accepted under any of its keys
(`KeyRing`, `CONNECTOR_PREVIOUS_SECRET_KEYS`).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

from connector.core.keys import KeyRing

_DOMAIN = b"mms-connector/media-link/v1\x00"
_SIGNATURE_BYTES = 18  # 144 bits: unguessable, and a multiple of 3 so base64 has no padding
# Matched whole (`fullmatch`): `$` would also accept a trailing newline, a second spelling.
_TOKEN = re.compile(r"([aut])([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{24})")


class LinkKind(enum.StrEnum):
    ATTACHMENT = "a"
    UPLOAD = "u"
    THREAD = "t"


@dataclass(frozen=True)
class LinkTarget:
    """What a valid token points at."""

    kind: LinkKind
    id: int


def _signature(key: bytes, kind: LinkKind, item_id: int) -> str:
    mac = hmac.new(key, _DOMAIN + f"{kind.value}{item_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_SIGNATURE_BYTES]).decode("ascii")


def sign(keys: KeyRing, kind: LinkKind, item_id: int) -> str:
    """The token for one attachment or upload: `a42.<signature>`, under the current key only."""
    if item_id < 1:
        raise ValueError("ids start at 1")
    return f"{kind.value}{item_id}.{_signature(keys.current, kind, item_id)}"


def verify(keys: KeyRing, token: str) -> LinkTarget | None:
    """What `token` points at, or None when it is malformed or no key of the ring signed it."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    kind, item_id = LinkKind(match.group(1)), int(match.group(2))
    given = match.group(3).encode("ascii")
    for key in keys.verifying:
        if hmac.compare_digest(_signature(key, kind, item_id).encode("ascii"), given):
            return LinkTarget(kind=kind, id=item_id)
    return None


def media_url(public_url: str, token: str) -> str:
    """The absolute link written into CRM records and handed to providers."""
    return f"{public_url.rstrip('/')}/media/{token}"


def attachment_url(public_url: str, keys: KeyRing, attachment_id: int) -> str:
    return media_url(public_url, sign(keys, LinkKind.ATTACHMENT, attachment_id))


def upload_url(public_url: str, keys: KeyRing, upload_id: int) -> str:
    return media_url(public_url, sign(keys, LinkKind.UPLOAD, upload_id))


def conversation_url(public_url: str, keys: KeyRing, thread_id: int) -> str:
    """The "whole conversation" link written into CRM records: stable, like media links."""
    return f"{public_url.rstrip('/')}/conversations/{sign(keys, LinkKind.THREAD, thread_id)}"
