"""Rendering the embedded pages: autoescaping templates, versioned assets, the security headers.

Every page answers with a Content-Security-Policy that allows this origin only (no inline script
or style), lets the CRMs frame it (`frame-ancestors`), sends no Referer (page links are
credentials) and is never cached.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import phonenumbers
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from connector.config import Settings

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static"

# Who may frame the pages: HubSpot (app cards, iframe modals) and Salesforce (Lightning,
# Visualforce, Experience Cloud). `CONNECTOR_FRAME_ANCESTORS` (space-separated CSP sources)
# replaces this list.
DEFAULT_FRAME_ANCESTORS = (
    "'self'",
    "https://*.hubspot.com",
    "https://*.hubspotqa.com",
    "https://*.force.com",
    "https://*.salesforce.com",
    "https://*.visualforce.com",
    "https://*.salesforce-setup.com",
    "https://*.site.com",
)

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # message text is customer content: every value is escaped
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@functools.cache
def asset_version() -> str:
    """A digest of the static files, so a new release is never served from a stale cache."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def asset(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={asset_version()}"


def display_number(e164: str) -> str:
    """`+1 415-555-2671`: how people read a number (the E.164 text when it does not parse)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


_environment.globals["asset"] = asset
_environment.filters["number"] = display_number


def frame_ancestors(settings: Settings) -> str:
    configured = settings.frame_ancestors
    if configured and configured.strip():
        return " ".join(configured.split())
    return " ".join(DEFAULT_FRAME_ANCESTORS)


def security_headers(settings: Settings) -> dict[str, str]:
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors(settings)}",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def render(template: str, **context: Any) -> str:
    """The template's HTML (`page` wraps it in a response with the headers)."""
    return _environment.get_template(template).render(**context)


def page(
    settings: Settings, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return HTMLResponse(
        render(template, **context),
        status_code=status_code,
        headers=security_headers(settings),
    )


def link_problem(settings: Settings, *, status_code: int, title: str, detail: str) -> HTMLResponse:
    """The page a person sees when a link cannot be used, saying what to do about it."""
    return page(settings, "link_problem.html", status_code=status_code, title=title, detail=detail)
