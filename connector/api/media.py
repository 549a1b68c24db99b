"""The connector's media links and the archive downloads.

`GET /media/{token}` is what CRM records link to and what providers fetch for a send: it needs
no bearer token (the signed token is the credential) and answers the rule's exact text with
410 whenever the medium cannot be served, whatever the reason (503 with the same text only while
a remote media store does not answer).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse

from connector.api.deps import (
    AUTH_RESPONSES,
    DatabaseDep,
    MediaStoreDep,
    ReadScope,
    RowId,
    SecretDep,
    SettingsDep,
    not_found,
)
from connector.api.media_remote import serve_remote
from connector.api.media_remote import unavailable as remote_unavailable
from connector.core.catalogue import MEDIA_UNAVAILABLE_TEXT
from connector.media import archive
from connector.media.downloads import Medium, find_medium
from connector.media.store import MediaStore

router = APIRouter(tags=["media"])

_CACHE = "private, max-age=3600"


def _unavailable() -> PlainTextResponse:
    return PlainTextResponse(
        MEDIA_UNAVAILABLE_TEXT,
        status_code=status.HTTP_410_GONE,
        headers={"Cache-Control": "no-store"},
    )


def _headers(medium: Medium) -> dict[str, str]:
    return {
        "ETag": medium.etag,
        "Cache-Control": _CACHE,
        "X-Content-Type-Options": "nosniff",
    }


@router.get(
    "/media/{token}",
    summary="A stored medium, by its signed link",
    responses={410: {"description": MEDIA_UNAVAILABLE_TEXT}},
    response_class=Response,
)
@router.head("/media/{token}", include_in_schema=False, response_class=Response)
def get_medium(
    token: str,
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    secret: SecretDep,
    store: MediaStoreDep,
) -> Response:
    try:
        medium = find_medium(database, store, secret, token)
    except OSError:  # the store is down (a remote one): not a verdict on the medium
        return remote_unavailable(status.HTTP_503_SERVICE_UNAVAILABLE)
    if medium is None:
        return _unavailable()
    headers = _headers(medium)
    if medium.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    if medium.path is not None:
        try:
            stat = medium.path.stat()
        except FileNotFoundError:
            return _unavailable()
        return FileResponse(
            medium.path,
            media_type=medium.content_type,
            filename=medium.filename,
            content_disposition_type="inline",
            stat_result=stat,
            headers=headers,
        )
    return serve_remote(
        store,
        medium,
        request,
        headers,
        redirect=settings.media.redirect,
    )


def _zip(found: archive.Archive | None, store: MediaStore, what: str) -> StreamingResponse:
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")
    return StreamingResponse(
        archive.stream_zip(store, found.entries),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/v1/messages/{message_id}/media.zip",
    summary="Every medium of a message in one zip",
    dependencies=[ReadScope],
    response_class=StreamingResponse,
    responses={**AUTH_RESPONSES, **not_found("message")},
)
def message_media_zip(
    message_id: RowId, database: DatabaseDep, settings: SettingsDep, store: MediaStoreDep
) -> StreamingResponse:
    found = archive.message_archive(database, message_id, max_bytes=settings.media.max_zip_bytes)
    return _zip(found, store, "message")


@router.get(
    "/v1/threads/{thread_id}/media.zip",
    summary="Every medium of a conversation in one zip",
    dependencies=[ReadScope],
    response_class=StreamingResponse,
    responses={**AUTH_RESPONSES, **not_found("thread")},
)
def thread_media_zip(
    thread_id: RowId, database: DatabaseDep, settings: SettingsDep, store: MediaStoreDep
) -> StreamingResponse:
    found = archive.thread_archive(database, thread_id, max_bytes=settings.media.max_zip_bytes)
    return _zip(found, store, "thread")
