"""`POST /v1/uploads`: keep files for a later send and say what the rules think of each.

The body is read as a stream by the media service (never through the framework's form parser,
which would buffer the whole upload before any cap applies).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from connector.api.deps import (
    AUTH_RESPONSES,
    ConnectorDep,
    ErrorOut,
    SendScope,
    ValidationErrorsOut,
)
from connector.bootstrap import Connector
from connector.core.catalogue import Refusal
from connector.core.model import Provider
from connector.media.store import StoreUnavailable
from connector.media.uploads import MalformedUpload, UploadRefused, UploadResult, receive_uploads

router = APIRouter(
    prefix="/v1/uploads", tags=["uploads"], dependencies=[SendScope], responses=AUTH_RESPONSES
)


class RefusalOut(BaseModel):
    code: str
    message: str
    index: int | None = None

    @classmethod
    def of(cls, refusal: Refusal) -> RefusalOut:
        return cls(code=refusal.code.value, message=refusal.message, index=refusal.index)


class VerdictOut(BaseModel):
    ok: bool
    errors: list[RefusalOut]


class UploadOut(BaseModel):
    index: int
    name: str
    sniffed_type: str
    size: int
    kept: bool
    upload_id: int | None
    url: str | None
    verdicts: dict[str, VerdictOut]

    @classmethod
    def of(cls, result: UploadResult) -> UploadOut:
        return cls(
            index=result.index,
            name=result.name,
            sniffed_type=result.sniffed_type,
            size=result.size,
            kept=result.kept,
            upload_id=result.upload_id,
            url=result.url,
            verdicts={
                provider.value: VerdictOut(
                    ok=verdict.ok,
                    errors=[
                        RefusalOut.of(e.model_copy(update={"index": result.index}))
                        for e in verdict.errors
                    ],
                )
                for provider, verdict in result.verdicts.items()
            },
        )


class UploadsOut(BaseModel):
    files: list[UploadOut]


class RefusalsOut(BaseModel):
    errors: list[RefusalOut]


async def keep_uploads(
    request: Request, connector: Connector, provider: Provider | None
) -> list[UploadResult]:
    """The multipart body's files, streamed to disk under the cap and judged for `provider`
    (the API and the composer both upload through here)."""
    length = request.headers.get("content-length")
    try:
        return await receive_uploads(
            request.stream(),
            request.headers.get("content-type"),
            int(length) if length and length.isdigit() else None,
            rules=connector.upload_rules,
            database=connector.database,
            store=connector.media_store,
            secret=connector.secret,
            provider=provider,
        )
    except StoreUnavailable:  # a bucket that does not answer: nothing was recorded, try later
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the media store is unavailable; try again shortly",
            headers={"Retry-After": "30"},
        ) from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadsOut,
    summary="Upload files (multipart) for a later send",
    description=(
        "Each file part is kept if some provider's policy accepts it (its `upload_id` then goes "
        "in a send's `media`); every file gets its sniffed type, size and per-provider verdict. "
        "`provider` limits the verdicts (and the size cap) to one provider."
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                    }
                }
            },
            "required": True,
        }
    },
    responses={
        400: {"model": ErrorOut, "description": "Not a multipart body of files"},
        413: {"model": RefusalsOut, "description": "A file exceeds the largest allowed size"},
        422: {
            "model": RefusalsOut | ValidationErrorsOut,
            "description": "More files than a message may carry, or a bad `provider`",
        },
    },
)
async def upload(
    request: Request,
    connector: ConnectorDep,
    provider: Provider | None = Query(None, description="Judge for this provider only"),
) -> UploadsOut | JSONResponse:
    try:
        results = await keep_uploads(request, connector, provider)
    except MalformedUpload as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except UploadRefused as exc:
        return JSONResponse(
            RefusalsOut(errors=[RefusalOut.of(r) for r in exc.refusals]).model_dump(),
            status_code=exc.status,
            headers={"Connection": "close"},
        )
    return UploadsOut(files=[UploadOut.of(result) for result in results])
