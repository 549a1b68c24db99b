"""Structured logs that never carry secrets or message bodies, and only masked phone numbers.

Every line goes through `_redact`: the connector's own structlog events and, through a
`ProcessorFormatter` on the root handler, the standard library's records too (uvicorn, alembic,
httpx, the SDKs), exception text included. Query strings are cut from every URL, because signed
media links carry their credentials there (`X-Amz-Signature=…`).
"""

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
_URL_QUERY = re.compile(r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"'<>]+)\?[^\s#\"'<>]*")
# SQLAlchemy appends a statement's bound values to its errors; engines hide them, and this drops
# them from any error text that was made elsewhere.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.DOTALL)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def scrub(text: str) -> str:
    """Free text as it may be logged: no query strings, bound values, credentials or numbers."""
    text = _URL_QUERY.sub(lambda m: m.group("url") + "?[redacted]", text)
    text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    text = _BEARER.sub(lambda m: m.group(1) + " [redacted]", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        lowered = key.lower()
        if lowered in _DROPPED or "token" in lowered or "secret" in lowered:
            event[key] = "[redacted]"
        elif lowered in _PHONE_KEYS and isinstance(event[key], str):
            event[key] = mask(event[key])
        elif isinstance(event[key], str):
            event[key] = scrub(event[key])
        elif key == "positional_args":
            event[key] = "[redacted]"
    return event


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # before `_redact`: exception text is redacted too
        _redact,
    ]


def configure(level: str = "INFO", *, json: bool | None = None) -> None:
    """Set up structlog and the stdlib's root handler once per process; JSON when not on a
    terminal (containers)."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*_shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
