"""The pages a CRM record embeds: the composer and the conversation, with their own assets.

Both are served by the connector itself (no CDN, no external asset) under a Content-Security-Policy
that allows only this origin's scripts, styles and images, and lets only the CRMs frame them
(`pages_render`). `create_app` includes `router` and calls `mount_static`.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from connector.api import pages_compose, pages_conversation
from connector.api.pages_render import STATIC_DIR, STATIC_PREFIX

router = APIRouter()
router.include_router(pages_compose.links_router)
# The pages and the composer's own API are for the pages' scripts, not for integrations: they
# stay out of the OpenAPI document.
router.include_router(pages_compose.router, include_in_schema=False)
router.include_router(pages_conversation.router, include_in_schema=False)


def mount_static(app: FastAPI) -> None:
    """Serve the pages' scripts and styles from this process (`/static/...`)."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
