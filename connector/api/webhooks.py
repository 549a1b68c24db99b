"""Provider webhooks: answered 2xx only once the event is committed, never 5xx for a CRM."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from connector.api.deps import ConnectorDep
from connector.core.events import MalformedEvent, WebhookRejected
from connector.core.model import Provider
from connector.store.conversations import Outcome
from connector.sync import inbound

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

T = TypeVar("T")


async def _payload(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the body is not JSON: {exc}") from None


async def _receive(request: Request, connector: ConnectorDep, provider: Provider) -> JSONResponse:
    payload = await _payload(request)
    try:
        result = await anyio.to_thread.run_sync(
            _bound(
                inbound.receive,
                connector.settings,
                connector.database,
                connector.crms,
                provider,
                dict(request.headers),
                payload,
            ),
            limiter=_writers(request, connector),
        )
    except WebhookRejected as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    except MalformedEvent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    code = status.HTTP_202_ACCEPTED if result.outcome is Outcome.ACCEPTED else status.HTTP_200_OK
    return JSONResponse(
        {"status": result.outcome.value, "message_id": result.message_id}, status_code=code
    )


def _bound(function: Callable[..., T], *args: Any) -> Callable[[], T]:
    return lambda: function(*args)


def _writers(request: Request, connector: ConnectorDep) -> anyio.CapacityLimiter:
    """Threads that may write webhooks at once. SQLite has one writer: more threads would only
    queue on its lock and thrash the GIL; PostgreSQL gets as many as its connection pool."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "webhook_writers", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(2 if connector.database.is_sqlite else 10)
        state.webhook_writers = limiter
    return limiter


@router.post("/aircall", summary="Aircall message events")
async def aircall_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.AIRCALL)


@router.post("/cloudtalk", summary="CloudTalk workflow 'API Request' events")
async def cloudtalk_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.CLOUDTALK)
