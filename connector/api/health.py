"""Liveness, readiness and metrics for the operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from connector.api.deps import ConnectorDep, DatabaseDep
from connector.bootstrap import Connector
from connector.store import migrate, queue
from connector.sync.queue_metrics import exposition

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(connector: Connector) -> tuple[bool, dict[str, Any]]:
    """Ready means the database answers with the current schema. A paused CRM or a bad mapping
    keeps webhooks flowing, so it degrades the report instead of failing it."""
    report: dict[str, Any] = {"database": "ok"}
    try:
        with connector.database.read() as conn:
            conn.execute(text("SELECT 1"))
            report["jobs"] = queue.live_counts(conn)
            paused = queue.paused_targets(conn)
        if not migrate.is_current(connector.database):
            report["database"] = "schema is not current: run `mms-connector db upgrade`"
    except Exception as exc:
        report["database"] = f"unreachable: {type(exc).__name__}"
        return False, {"status": "unavailable", **report}
    settings = connector.settings
    report["crms"] = {
        "hubspot": _target_state(settings.hubspot.enabled, paused.get("hubspot")),
        "salesforce": _target_state(settings.salesforce.enabled, paused.get("salesforce")),
    }
    report["providers"] = {
        "aircall": _provider_state(
            settings.aircall.webhook_token is not None,
            settings.aircall.send_enabled,
            "CONNECTOR_AIRCALL_WEBHOOK_TOKEN",
            paused.get("aircall"),
        ),
        "cloudtalk": _provider_state(
            settings.cloudtalk.webhook_secret is not None,
            settings.cloudtalk.send_enabled,
            "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET",
            paused.get("cloudtalk"),
        ),
    }
    for name, check in connector.readiness_checks.items():
        report[name] = check()
    ready = report["database"] == "ok"
    misconfigured = any(state.startswith("misconfigured") for state in report["providers"].values())
    degraded = (
        bool(paused)
        or misconfigured
        or any(isinstance(v, dict) and v.get("ok") is False for v in report.values())
    )
    report = {"status": "degraded" if degraded else ("ok" if ready else "unavailable"), **report}
    return ready, report


def _target_state(enabled: bool, paused_reason: str | None) -> str:
    if not enabled:
        return "off (no credentials configured)"
    if paused_reason is not None:
        return f"paused: {paused_reason}"
    return "ok"


def _provider_state(
    webhooks: bool, sending: bool, webhook_variable: str, paused_reason: str | None
) -> str:
    """Sending without webhooks is a mistake: replies and delivery statuses arrive only by
    webhook. Webhooks without API credentials is a receive-only connector, which is fine."""
    if sending and not webhooks:
        return (
            f"misconfigured: API credentials are set but {webhook_variable} is not, so replies "
            "and delivery statuses cannot arrive"
        )
    return _target_state(webhooks, paused_reason)


@router.get(
    "/readyz",
    summary="The connector can take traffic; what is off, paused or misconfigured",
    responses={503: {"description": "The database is unreachable or its schema is old"}},
)
async def readyz(connector: ConnectorDep) -> JSONResponse:
    ready, report = await run_in_threadpool(readiness, connector)
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics(database: DatabaseDep, request: Request) -> Response:
    http = getattr(request.app.state, "http_metrics", None)
    more = [http] if http is not None else []
    return Response(exposition(database, *more), media_type=CONTENT_TYPE_LATEST)
