"""Per-request observability: a request id, one access log line, and HTTP metrics.

- `X-Request-ID` (asgi-correlation-id): taken from the caller when it is a UUID, else made
  here; it is echoed on the answer and bound into every log line of the request, the
  standard library's (httpx, SDKs) included.
- One `http.request` line per request, after its answer (streams included): method, the
  route's template, status, duration and request id. Never the concrete path or the query: media
  and page links carry their signed tokens there, and consent routes a phone number. Probes
  and scrapes log at debug, so they do not drown the rest.
- `connector_http_requests_total` and `connector_http_request_duration_seconds`
  (prometheus-fastapi-instrumentator), labelled by route template: bounded cardinality.
"""

from __future__ import annotations

import time

import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("connector.access")

REQUEST_ID_HEADER = "X-Request-ID"
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Seconds; webhooks answer in milliseconds, zip downloads may take minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AccessLog:
    """Binds the request id for the request's logs and writes its access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers: an exception escaping it is answered 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=correlation_id.get()):
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = get_route_name(HTTPConnection(scope), should_include_root_path=False)
                write = log.debug if route in QUIET_ROUTES else log.info
                write(
                    "http.request",
                    method=scope["method"],
                    path=route or "(no route)",
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                    request_id=correlation_id.get(),
                )


def instrument(app: FastAPI) -> None:
    """Add the request id, the access log and the HTTP metrics to `app` (outermost first).

    The HTTP metrics live in a registry of the app's own (`app.state.http_metrics`), which
    `/metrics` renders: a process holds one app, and the tests many."""
    registry = CollectorRegistry(auto_describe=True)
    Instrumentator(
        should_group_status_codes=False,
        should_group_untemplated=True,  # every unknown path is one "none" series
        excluded_handlers=["/metrics"],
        registry=registry,
    ).instrument(app, metric_namespace="connector", latency_lowr_buckets=LATENCY_BUCKETS)
    app.state.http_metrics = registry
    app.add_middleware(AccessLog)
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER)
