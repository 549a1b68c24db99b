"""Structured logs that never carry secrets or message bodies, and only masked phone numbers."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from connector.core.phone import mask

_DROPPED = frozenset(
    {"text", "body", "message_body", "token", "password", "secret", "authorization", "payload"}
)
_PHONE_KEYS = frozenset({"phone", "to", "from_", "from", "number", "line", "other_party"})
_PHONE_IN_TEXT = re.compile(r"\+\d{7,15}")


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        lowered = key.lower()
        if lowered in _DROPPED or "token" in lowered or "secret" in lowered:
            event[key] = "[redacted]"
        elif lowered in _PHONE_KEYS and isinstance(event[key], str):
            event[key] = mask(event[key])
        elif isinstance(event[key], str):
            event[key] = _PHONE_IN_TEXT.sub(lambda m: mask(m.group(0)), event[key])
    return event


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog once per process; JSON when not on a terminal (containers)."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        cache_logger_on_first_use=True,
    )
