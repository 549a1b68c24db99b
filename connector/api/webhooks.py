"""Provider webhooks: answered 2xx only once the event is committed, never 5xx for a CRM.

What a stranger can send is bounded before it costs anything: CloudTalk's header secret is
checked before the body is read, every body is refused past `CONNECTOR_MAX_WEBHOOK_BYTES` while it
streams, and only shallow JSON of plain Unicode text reaches the parsers (`webhook_body`).
Aircall's token travels in the body, so it is checked once the bounded body is parsed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from connector.api.deps import ConnectorDep, ErrorOut
from connector.api.webhook_body import parse_json, read_body
from connector.core.events import MalformedEvent, WebhookRejected
from connector.core.model import Provider
from connector.providers.cloudtalk import AUTH_HEADER, RECEIVED_BODY_TEMPLATE
from connector.store.conversations import Outcome
from connector.sync import inbound
from connector.sync.ingest_writer import IngestWriter

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


class WebhookOut(BaseModel):
    status: str
    message_id: int | None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookOut, "description": "A duplicate, or an event acknowledged and ignored"},
    202: {"model": WebhookOut, "description": "Committed"},
    400: {"model": ErrorOut, "description": "Not JSON, or nested too deep"},
    401: {"model": ErrorOut, "description": "Not authentic"},
    413: {"model": ErrorOut, "description": "Larger than CONNECTOR_MAX_WEBHOOK_BYTES"},
    422: {"model": ErrorOut, "description": "Malformed: the reason names the field"},
}


def _body_doc(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "additionalProperties": True},
                    "example": example,
                }
            },
        }
    }


_AIRCALL_EXAMPLE = {
    "resource": "message",
    "event": "message.received",
    "timestamp": 1777629600,
    "token": "<the webhook's token>",
    "data": {
        "id": "1779973182949pqnihpvazdyw6336",
        "direction": "inbound",
        "status": "received",
        "channel": None,
        "body": "Photo of the damage attached",
        "external_number": "+15551234567",
        "number": {"e164_digits": "+13125550100"},
        "media_details": [
            {
                "file_name": "IMG_0042.jpg",
                "file_type": "image/jpeg",
                "presigned_url": "https://…",
            }
        ],
        "created_at": "2026-05-01T09:59:58Z",
    },
}
_CLOUDTALK_EXAMPLE = {
    "event": "message.received",
    "message_id": "884422",
    "internal_number": "+13125550100",
    "external_number": "+15551234567",
    "text": "Here is the photo",
    "media_urls": ["https://…/photo.png"],
    "created_at": "2026-05-01 09:59:58",
}


def _reject(provider: Provider, exc: WebhookRejected) -> HTTPException:
    inbound.count_refusal(provider, "rejected")
    return HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc))


async def _receive(request: Request, connector: ConnectorDep, provider: Provider) -> JSONResponse:
    settings = connector.settings
    try:
        # Whatever can be judged from the headers alone is, before a byte of the body is read.
        inbound.check_headers(settings, provider, request.headers)
    except WebhookRejected as exc:
        raise _reject(provider, exc) from None
    payload = parse_json(await read_body(request, settings.max_webhook_bytes))
    try:
        # Authenticating and parsing are pure and quick: no thread needed to refuse a webhook.
        event = inbound.authenticate(settings, provider, request.headers, payload)
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


@router.post(
    "/aircall",
    summary="Aircall message events",
    description="Aircall's webhook body; its `token` authenticates it.",
    responses=_RESPONSES,
    openapi_extra=_body_doc("An Aircall webhook delivery", _AIRCALL_EXAMPLE),
)
async def aircall_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.AIRCALL)


@router.post(
    "/cloudtalk",
    summary="CloudTalk workflow 'API Request' events",
    description=(
        f"Authenticated by the `{AUTH_HEADER}` header. The body a workflow builds (keys "
        f"remappable with CONNECTOR_CLOUDTALK_FIELD_MAP):\n\n```json\n{RECEIVED_BODY_TEMPLATE}```"
    ),
    responses=_RESPONSES,
    openapi_extra=_body_doc("A CloudTalk workflow body", _CLOUDTALK_EXAMPLE),
)
async def cloudtalk_webhook(request: Request, connector: ConnectorDep) -> JSONResponse:
    return await _receive(request, connector, Provider.CLOUDTALK)
