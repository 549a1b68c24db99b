"""Readers for untrusted provider JSON, shared by every provider module.

Each one either returns a typed value or raises `MalformedEvent` whose message names the field
(`data.id is required`, `timestamp: not a date`), never KeyError or TypeError, so Aircall and
CloudTalk answer bad payloads with the same words.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from connector.core import phone
from connector.core.events import MalformedEvent
from connector.core.model import DeliveryStatus

__all__ = [
    "CARRIER_STATUSES",
    "attachment_name",
    "content_digest",
    "read_id",
    "read_instant",
    "read_mapping",
    "read_optional_instant",
    "read_optional_str",
    "read_phone",
    "read_str",
    "read_text",
    "read_url",
    "status_from_word",
]

# The words providers use for a message's progress. Aircall documents no list (seen: `pending` on
# a send response, `received` inbound) and CloudTalk's workflow attributes are not published, so
# this is the usual carrier vocabulary. Any other word is UNKNOWN: it never moves a message past
# `sent`, and parsers keep the raw word in the event id.
CARRIER_STATUSES: Mapping[str, DeliveryStatus] = {
    "pending": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "received": DeliveryStatus.RECEIVED,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.NOT_SENT,
    "undelivered": DeliveryStatus.NOT_SENT,
    "rejected": DeliveryStatus.NOT_SENT,
    "canceled": DeliveryStatus.NOT_SENT,
    "cancelled": DeliveryStatus.NOT_SENT,
    "expired": DeliveryStatus.NOT_SENT,
    "error": DeliveryStatus.NOT_SENT,
}

# Lengths the store's columns hold. An event id joins provider, event (`MAX_EVENT`), message id
# (`MAX_ID`) and status word (`MAX_STATUS`) and must stay within 255 characters.
MAX_FIELD = 255
MAX_ID = 128
MAX_EVENT = 64
MAX_STATUS = 32
MAX_URL = 8192

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An epoch number at or above 1e11 is read as milliseconds: as seconds it would be the year 5138,
# as milliseconds it is March 1973, before any message either provider can report.
_MILLISECONDS_FROM = 100_000_000_000
_NUMERIC = re.compile(r"\d+(\.\d+)?")
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


def read_mapping(value: Any, path: str) -> Mapping[str, Any]:
    """`value` as a JSON object; absent or null is `{path} is required`."""
    if value is None:
        raise MalformedEvent(f"{path} is required")
    if not isinstance(value, Mapping):
        raise MalformedEvent(f"{path}: not an object")
    return value


def read_optional_str(value: Any, path: str, max_length: int = MAX_FIELD) -> str | None:
    """A string, or None for absent, null or blank. A NUL character or more than `max_length`
    characters is refused: no database column keeps either (PostgreSQL text cannot hold NUL)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{path}: not a string")
    if "\x00" in value:
        raise MalformedEvent(f"{path}: contains a NUL character")
    text = value.strip()
    if len(text) > max_length:
        raise MalformedEvent(f"{path}: longer than {max_length} characters")
    return text or None


def read_str(value: Any, path: str, max_length: int = MAX_FIELD) -> str:
    text = read_optional_str(value, path, max_length)
    if text is None:
        raise MalformedEvent(f"{path} is required")
    return text


def read_text(value: Any, path: str) -> str:
    """A message body: null or absent is the empty text (an MMS may carry media only). NUL
    characters are dropped rather than refused: they carry nothing a reader could see, and
    refusing would lose the message (the provider retries, then gives up)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"{path}: not a string")
    return value.replace("\x00", "")


def read_url(value: Any, path: str) -> str:
    """An absolute http(s) URL: where a worker will fetch a medium from."""
    url = read_str(value, path, MAX_URL)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise MalformedEvent(f"{path}: not a URL")
    return url


def read_id(value: Any, path: str) -> str:
    """A provider identifier: a string, or an integer some payloads send instead."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        if len(text) > MAX_ID:
            raise MalformedEvent(f"{path}: longer than {MAX_ID} characters")
        return text
    return read_str(value, path, MAX_ID)


def read_instant(value: Any, path: str) -> datetime:
    """A timezone-aware UTC instant from ISO-8601 text, epoch seconds or epoch milliseconds.

    Providers send all three (Aircall's envelope uses seconds, its send responses milliseconds,
    other sources ISO strings; CloudTalk `2018-01-10 12:34:56`). ISO text without an offset is
    UTC, as both providers document their times.
    """
    instant = read_optional_instant(value, path)
    if instant is None:
        raise MalformedEvent(f"{path} is required")
    return instant


def read_optional_instant(value: Any, path: str) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return _to_instant(value)
    except (ValueError, OverflowError) as exc:
        raise MalformedEvent(f"{path}: not a date") from exc


def _to_instant(value: Any) -> datetime:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a date")
    if isinstance(value, int):
        return _from_epoch(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return _from_epoch(value)
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC.fullmatch(text):
            return _from_epoch(float(text) if "." in text else int(text))
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise ValueError("not a date")


def _from_epoch(number: float) -> datetime:
    if number < 0:
        raise ValueError("before 1970")
    if number >= _MILLISECONDS_FROM:
        return _EPOCH + timedelta(milliseconds=number)
    return _EPOCH + timedelta(seconds=number)


def read_phone(value: Any, path: str) -> str:
    """E.164 form of a phone number field.

    Accepts E.164 (`+15551234567`), formatted international text (`+1 555-123-4567`), and the
    international digits without `+` that both providers send in places (Aircall `raw_digits`
    `13023063029`, CloudTalk workflow numbers as JSON numbers `393936815798`). A payload carries no
    region, so a national number (`(555) 123-4567`) cannot be read and is refused.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        raw = str(value)
    elif isinstance(value, str):
        raw = value.strip()
    elif value is None:
        raise MalformedEvent(f"{path} is required")
    else:
        raise MalformedEvent(f"{path}: not a phone number")
    if not raw:
        raise MalformedEvent(f"{path} is required")
    digits = _PHONE_PUNCTUATION.sub("", raw)
    if digits.startswith("00"):
        raw = "+" + digits[2:]
    elif digits.isdigit():
        raw = "+" + digits
    try:
        return phone.normalize(raw)
    except phone.InvalidPhoneNumber as exc:
        # The number itself stays out of the message: it is personal data and ends up in logs.
        raise MalformedEvent(f"{path}: not a phone number") from exc


def status_from_word(word: str) -> DeliveryStatus:
    """A provider's status word as a `DeliveryStatus`; unknown words are UNKNOWN."""
    return CARRIER_STATUSES.get(word.strip().lower(), DeliveryStatus.UNKNOWN)


def attachment_name(url: str, index: int) -> str:
    """A medium's name when the provider gives none: the URL's last path segment, else a counter."""
    last_segment = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    cleaned = last_segment.replace("\x00", "")[-MAX_FIELD:]  # keep the extension
    return cleaned or f"attachment-{index + 1}"


def content_digest(parts: Sequence[Any] | Mapping[str, Any]) -> str:
    """A short stable digest of JSON-like content, for ids a provider does not give us."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
