"""The FastAPI application: routers per area, the embedded worker in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from connector import __version__
from connector.api import (
    admin,
    consent,
    health,
    jobs,
    media,
    messages,
    pages,
    records,
    uploads,
    webhooks,
)
from connector.api.observability import instrument
from connector.bootstrap import Connector
from connector.core.model import Provider
from connector.sync.ingest_writer import IngestWriter


def create_app(connector: Connector, *, embedded_worker: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = connector.worker() if embedded_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            app.state.ingest_writer.stop()
            if worker is not None:
                worker.stop()

    about: dict[str, Any] = {
        "title": "MMS-CRM connector",
        "version": __version__,
        "description": (
            "Receives Aircall and CloudTalk MMS events, keeps the conversations, writes them "
            "into HubSpot and Salesforce, and sends MMS from CRM records."
        ),
        "lifespan": lifespan,
    }
    if connector.settings.api_docs:
        # Swagger UI's script and style come from this process (fastapi-offline ships them),
        # never from a CDN; no ReDoc, which would load web fonts from elsewhere.
        app = FastAPIOffline(docs_url="/docs", redoc_url=None, static_url="/docs-assets", **about)
    else:
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, **about)
    app.state.connector = connector
    app.state.ingest_writer = IngestWriter(
        connector.database,
        keywords={p: connector.settings.policy(p).keywords for p in Provider},
    )
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(admin.router)  # before jobs: `/v1/jobs/retry-dead`
    app.include_router(jobs.router)
    app.include_router(media.router)
    app.include_router(uploads.router)
    app.include_router(messages.router)
    app.include_router(consent.router)
    app.include_router(pages.router)
    app.include_router(records.router)
    pages.mount_static(app)
    instrument(app)
    return app
