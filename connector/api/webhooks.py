"""Provider webhooks: answered 2xx only once the event is committed, never 5xx for a CRM."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from connector.api.deps import ConnectorDep
from connector.core.events import MalformedEvent, WebhookRejected
from connector.core.model import Provider
from connector.store.conversations import Outcome
from connector.sync import inbound
from connector.sync.ingest_writer import IngestWriter

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def _payload(request: Request) -> Any:
    body = await request.body()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the body is not JSON: {exc}") from None


async def _receive(request: Request, connector: ConnectorDep, provider: Provider) -> JSONResponse:
    payload = await _payload(request)
    try:
        # Authenticating and parsing are pure and quick: no thread needed to refuse a webhook.
        event = inbound.authenticate(connector.settings, provider, request.headers, payload)
    except WebhookRejected as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    except MalformedEvent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    writer: IngestWriter = request.app.state.ingest_writer
    result = inbound.counted(provider, await writer.write(event, payload, connector.crms))
    code = status.HTTP_202_ACCEPTED if result.outcome is Outcome.ACCEPTED else status.HTTP_200_OK
    return JSONResponse(
        {"status": result.outcome.value, "message_id": result.message_id}, status_code=code
    )


@router.post("/aircall", summary="Aircall message events")
async def aircall_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.AIRCALL)


@router.post("/cloudtalk", summary="CloudTalk workflow 'API Request' events")
async def cloudtalk_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.CLOUDTALK)
