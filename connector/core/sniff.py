"""The type of a file decided by its bytes, never by its name or declared content type."""

from __future__ import annotations

import puremagic

UNKNOWN_TYPE = "application/octet-stream"

# How many leading bytes callers keep for sniffing: enough for every signature we accept.
SNIFF_BYTES = 8192

_SYNONYMS = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
}


def canonical_type(mime: str | None) -> str | None:
    """`image/jpg` and `image/jpeg` are one type; so are other aliases of a format."""
    if not mime:
        return None
    mime = mime.split(";", 1)[0].strip().lower()
    return _SYNONYMS.get(mime, mime)


def sniff(head: bytes) -> str:
    """The MIME type of content starting with `head`; `application/octet-stream` when unknown."""
    if not head:
        return UNKNOWN_TYPE
    try:
        matches = puremagic.magic_string(head[:SNIFF_BYTES])
    except (puremagic.PureError, ValueError):
        return UNKNOWN_TYPE
    for match in matches:
        mime = canonical_type(match.mime_type)
        if mime:
            return mime
    return UNKNOWN_TYPE
