"""The send API and the message views: `/v1/messages`, `/v1/threads/{id}`, `/v1/lines`.

Each route calls one function of `connector.sync.outbound` and translates its answer to HTTP:
a send the rules refuse is 422 with the catalogue's exact texts, an accepted one 202.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from connector.api.deps import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    ConnectorDep,
    ErrorOut,
    ReadScope,
    RowId,
    SendScope,
    ValidationErrorsOut,
    not_found,
)
from connector.api.uploads import RefusalOut, RefusalsOut
from connector.core.model import DeliveryStatus, Provider
from connector.sync import outbound
from connector.sync.outbound import (
    LineOffer,
    MessageView,
    SendCheck,
    SendRequest,
    SendResult,
    ThreadView,
)

router = APIRouter(prefix="/v1", tags=["messages"], responses=AUTH_RESPONSES)


class SendOut(BaseModel):
    message_id: int
    status: DeliveryStatus
    status_label: str
    dropped: list[RefusalOut] = Field(description="Media left out (`drop`), with their errors.")

    @classmethod
    def of(cls, result: SendResult) -> SendOut:
        return cls(
            message_id=result.message_id,
            status=result.status,
            status_label=result.status.label,
            dropped=[RefusalOut.of(r) for r in result.dropped],
        )


class LineOut(BaseModel):
    number: str
    provider: Provider
    label: str
    mms_capable: bool


class MediumOut(BaseModel):
    index: int
    name: str
    sniffed_type: str
    size: int
    upload_id: int | None = Field(description='Send it again as `{"upload_id"}`: no download.')
    ok: bool
    errors: list[RefusalOut]


class ValidateOut(BaseModel):
    sendable: bool = Field(description="`POST /v1/messages` would accept this body as it is.")
    ok: bool = Field(description="Nothing to refuse, not even a file.")
    on_invalid_media: Literal["reject", "drop"]
    errors: list[RefusalOut]
    dropped: list[RefusalOut] = Field(description="What `drop` would leave out.")
    to: str | None = Field(description="The recipient in E.164, when it is a number.")
    line: LineOut | None
    media: list[MediumOut]
    total_bytes: int
    max_total_bytes: int
    max_files: int

    @classmethod
    def of(cls, checked: SendCheck, request: SendRequest) -> ValidateOut:
        verdict = checked.verdict
        entry = checked.line
        return cls(
            sendable=checked.sendable,
            ok=verdict.ok,
            on_invalid_media=request.on_invalid_media,
            errors=[RefusalOut.of(r) for r in checked.errors],
            dropped=[RefusalOut.of(r) for r in checked.dropped],
            to=checked.to,
            line=LineOut(
                number=entry.number,
                provider=entry.provider,
                label=entry.label,
                mms_capable=entry.mms_capable,
            )
            if entry is not None
            else None,
            media=[
                MediumOut(
                    index=m.index,
                    name=m.name,
                    sniffed_type=m.sniffed_type,
                    size=m.size,
                    upload_id=m.upload_id,
                    ok=m.ok,
                    errors=[RefusalOut.of(e) for e in m.errors],
                )
                for m in checked.media
            ],
            total_bytes=verdict.total_bytes,
            max_total_bytes=verdict.max_total_bytes,
            max_files=verdict.max_files,
        )


@router.post(
    "/messages",
    dependencies=[SendScope],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SendOut,
    summary="Send an MMS (or SMS) from a line",
    description=(
        "Checked by the same rules as the provider apps, then queued for the line's "
        "provider: the answer is the message id and status (`queued`). With "
        "`on_invalid_media=drop` the valid media are sent and `dropped` lists the others with "
        "their errors. A refusal is 422 with every reason, in the catalogue's exact words."
    ),
    responses={
        **BODY_RESPONSES,
        422: {
            "model": RefusalsOut | ValidationErrorsOut,
            "description": "The rules refuse the send (`errors`), or the body is malformed",
        },
    },
)
def send(body: SendRequest, connector: ConnectorDep, response: Response) -> SendOut | JSONResponse:
    try:
        result = outbound.submit(connector, body)
    except outbound.SendRefused as exc:
        return JSONResponse(
            RefusalsOut(errors=[RefusalOut.of(r) for r in exc.errors]).model_dump(),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    response.headers["Location"] = f"/v1/messages/{result.message_id}"
    return SendOut.of(result)


@router.post(
    "/messages/validate",
    dependencies=[SendScope],
    responses=BODY_RESPONSES,
    response_model=ValidateOut,
    summary="Check a send without sending it",
    description=(
        "The verdict `POST /v1/messages` would reach on the same body. URL media are fetched "
        "once and kept: each kept medium's `upload_id` can replace its URL in the send."
    ),
)
def validate(body: SendRequest, connector: ConnectorDep) -> ValidateOut:
    return ValidateOut.of(outbound.check(connector, body), body)


@router.get(
    "/messages",
    dependencies=[ReadScope],
    response_model=list[MessageView],
    summary="The connector's own sends in a status (by default: unknown, to check and retry)",
)
def sends_to_check(
    connector: ConnectorDep,
    status_: list[DeliveryStatus] = Query(default=[DeliveryStatus.UNKNOWN], alias="status"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[MessageView]:
    return outbound.sends_to_check(connector, status_, limit)


@router.get(
    "/messages/{message_id}",
    dependencies=[ReadScope],
    response_model=MessageView,
    summary="A message: status, media links, thread, CRM records",
    responses=not_found("message"),
)
def get_message(message_id: RowId, connector: ConnectorDep) -> MessageView:
    view = outbound.message_view(connector, message_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no message {message_id}")
    return view


@router.post(
    "/messages/{message_id}/retry",
    dependencies=[SendScope],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SendOut,
    summary="Send again a message whose outcome is unknown (or that was not sent)",
    description=(
        "Never done automatically: the earlier attempt may have reached the recipient, so check "
        "the provider's inbox first. 409 for any other status."
    ),
    responses={
        **not_found("message"),
        409: {
            "model": ErrorOut,
            "description": "Not a send of this connector, or not Unknown / Not sent",
        },
    },
)
def retry(message_id: RowId, connector: ConnectorDep) -> SendOut:
    try:
        return SendOut.of(outbound.retry_send(connector, message_id))
    except outbound.MessageNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except outbound.NotRetryable as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.get(
    "/threads/{thread_id}",
    dependencies=[ReadScope],
    response_model=ThreadView,
    summary="A conversation: its messages in the order they were sent",
    responses=not_found("thread"),
)
def get_thread(thread_id: RowId, connector: ConnectorDep) -> ThreadView:
    view = outbound.thread_view(connector, thread_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no thread {thread_id}")
    return view


@router.get(
    "/lines",
    dependencies=[ReadScope],
    response_model=list[LineOffer],
    summary="The lines a send may come from, their MMS badge and their provider's limits",
)
def lines(connector: ConnectorDep) -> list[LineOffer]:
    return outbound.offered_lines(connector)
