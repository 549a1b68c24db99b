"""File names a sender chose, made safe to hand back in headers and archives.

The name comes from a webhook or an upload, so it may hold paths, control characters, quotes or
an extension that lies about the content; what we serve is named after what the bytes are.
"""

from __future__ import annotations

import re
import unicodedata

_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
}
_EQUIVALENT = {".jpeg": ".jpg", ".jpe": ".jpg"}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')
MAX_NAME_CHARS = 120


def safe_filename(name: str | None, content_type: str | None, fallback: str = "media") -> str:
    """A plain file name (no folders, no control or quoting characters) whose extension is the
    one of `content_type` when that type is known."""
    base = unicodedata.normalize("NFC", name or "")
    base = base.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" ._") or fallback
    stem, dot, extension = base.rpartition(".")
    if not dot or not (extension.isascii() and extension.isalnum() and len(extension) <= 5):
        stem, extension = base, ""  # no extension, or "report.final": keep it all as the stem
    wanted = _EXTENSIONS.get(content_type or "")
    current = _EQUIVALENT.get(f".{extension.lower()}", f".{extension.lower()}")
    if wanted is not None and current != wanted:
        extension = wanted[1:]
    stem = stem[: MAX_NAME_CHARS - len(extension) - 1] or fallback
    return f"{stem}.{extension}" if extension else stem
