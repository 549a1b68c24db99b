"""Serving a medium kept in a remote store (S3): byte ranges, or a redirect to the bucket.

The folder store's files go out through Starlette's `FileResponse`, which already answers ranges;
this gives a remote store the same answers (one range is honoured: 206 with `Content-Range`, 416
`bytes */size` when it cannot be satisfied; several ranges get the whole file, as RFC 9110
allows), reading only the bytes asked for. With `CONNECTOR_MEDIA_REDIRECT` the link answers 302
to a presigned URL instead, so the bytes never pass through the API.
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import Request, Response, status
from fastapi.responses import PlainTextResponse, RedirectResponse, StreamingResponse

from connector.core.catalogue import MEDIA_UNAVAILABLE_TEXT
from connector.media.downloads import Medium
from connector.media.store import BlobMissing, MediaStore, read_chunks

# Long enough to start a download, short enough that a leaked URL soon stops working.
PRESIGNED_SECONDS = 300
STORE_RETRY_SECONDS = 30
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The half-open range `[start, stop)` a `Range` header asks for; None for the whole file
    (no header, several ranges, another unit or a malformed one: all ignored, RFC 9110 14.2)."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    stop = size if not last else min(int(last) + 1, size)
    return start, stop


def serve_remote(
    store: MediaStore,
    medium: Medium,
    request: Request,
    headers: dict[str, str],
    *,
    redirect: bool,
) -> Response:
    if redirect:
        url = store.presigned_url(
            medium.content_hash,
            expires_in=PRESIGNED_SECONDS,
            content_type=medium.content_type,
            content_disposition=medium.content_disposition,
        )
        if url is not None:
            return RedirectResponse(
                url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"}
            )
    size = medium.size
    if size is None:
        blob = store.stat(medium.content_hash)
        if blob is None:
            return unavailable()
        size = blob.size
    headers = {
        **headers,
        "Accept-Ranges": "bytes",
        "Content-Disposition": medium.content_disposition,
    }
    wanted = byte_range(request.headers.get("range"), size)
    if wanted == "unsatisfiable":
        return Response(
            status_code=416,  # Range Not Satisfiable
            headers={**headers, "Content-Range": f"bytes */{size}"},
        )
    start, stop = wanted if wanted is not None else (0, size)
    code = status.HTTP_200_OK
    if wanted is not None:
        code = status.HTTP_206_PARTIAL_CONTENT
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status_code=code, headers=headers, media_type=medium.content_type)
    try:
        body = store.open(medium.content_hash, start, None if wanted is None else stop)
    except BlobMissing:
        return unavailable()
    except OSError:
        return unavailable(status.HTTP_503_SERVICE_UNAVAILABLE)
    return StreamingResponse(
        read_chunks(body), status_code=code, media_type=medium.content_type, headers=headers
    )


def unavailable(code: int = status.HTTP_410_GONE) -> PlainTextResponse:
    """The rule's text: 410 when the medium is gone, 503 (retry later) when the store is down."""
    headers = {"Cache-Control": "no-store"}
    if code == status.HTTP_503_SERVICE_UNAVAILABLE:
        headers["Retry-After"] = str(STORE_RETRY_SECONDS)
    return PlainTextResponse(MEDIA_UNAVAILABLE_TEXT, status_code=code, headers=headers)
