"""The connector's own media links: stable, signed, and useless to anyone who alters them.

A link names an attachment or an upload by id and carries an HMAC-SHA256 of that name under the
connector's secret, so it cannot be guessed or walked through by changing the number: knowing
one link tells nothing about any other. The link never expires by itself; the medium does
(retention), and then the link answers 410.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

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


def _signature(secret: bytes, kind: LinkKind, item_id: int) -> str:
    mac = hmac.new(secret, _DOMAIN + f"{kind.value}{item_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:_SIGNATURE_BYTES]).decode("ascii")


def sign(secret: bytes, kind: LinkKind, item_id: int) -> str:
    """The token for one attachment or upload: `a42.<signature>`."""
    if item_id < 1:
        raise ValueError("ids start at 1")
    return f"{kind.value}{item_id}.{_signature(secret, kind, item_id)}"


def verify(secret: bytes, token: str) -> LinkTarget | None:
    """What `token` points at, or None when it is malformed or its signature does not match."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return None
    kind, item_id = LinkKind(match.group(1)), int(match.group(2))
    expected = _signature(secret, kind, item_id)
    if not hmac.compare_digest(expected.encode("ascii"), match.group(3).encode("ascii")):
        return None
    return LinkTarget(kind=kind, id=item_id)


def media_url(public_url: str, token: str) -> str:
    """The absolute link written into CRM records and handed to providers."""
    return f"{public_url.rstrip('/')}/media/{token}"


def attachment_url(public_url: str, secret: bytes, attachment_id: int) -> str:
    return media_url(public_url, sign(secret, LinkKind.ATTACHMENT, attachment_id))


def upload_url(public_url: str, secret: bytes, upload_id: int) -> str:
    return media_url(public_url, sign(secret, LinkKind.UPLOAD, upload_id))


def conversation_url(public_url: str, secret: bytes, thread_id: int) -> str:
    """The "whole conversation" link written into CRM records: stable, like media links."""
    return f"{public_url.rstrip('/')}/conversations/{sign(secret, LinkKind.THREAD, thread_id)}"
