"""A webhook body as the routes may trust it: bounded while it streams, then JSON that is plain
Unicode text and shallow.

Nothing here authenticates: these checks run before the Aircall token (which travels in the body)
can be read, so they must cost little and refuse early. The declared `Content-Length` is checked
before a byte is read, and the bytes are counted as they arrive, so an endless chunked body is cut
off at the limit instead of being buffered (`CONNECTOR_MAX_WEBHOOK_BYTES`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, status

# Provider bodies are three or four levels deep; deeper is an attack on the parser's recursion.
MAX_DEPTH = 32
_PATH_SHOWN = 120  # characters of a field's path quoted in an error


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the body is larger than {limit} bytes (CONNECTOR_MAX_WEBHOOK_BYTES)",
        headers={"Connection": "close"},
    )


def check_declared_length(request: Request, limit: int) -> None:
    """Refuse by the declared length alone, before any of the body is read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Content-Length is not a number")
    if int(declared) > limit:
        raise too_large(limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as more than `limit` bytes have arrived."""
    check_declared_length(request, limit)
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise too_large(limit)
    return bytes(received)


def parse_json(body: bytes) -> Any:
    """The JSON value of `body`: 400 when it is not JSON or nests too deep, 422 naming the field
    when a string holds a lone UTF-16 surrogate (valid JSON, but no Unicode text can hold it:
    it could be neither stored nor compared)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"the body is not JSON: {exc}") from None
    screen(value)
    return value


def screen(value: Any) -> None:
    """Walk the parsed body without recursion: depth and surrogates, anywhere in it."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(node, str):
            if _has_surrogate(node):
                raise _surrogate(path or "body")
        elif isinstance(node, dict):
            for key, item in node.items():
                if _has_surrogate(key):
                    raise _surrogate(f"{path or 'body'} (a key)")
                stack.append((item, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node))


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _too_deep() -> HTTPException:
    return HTTPException(
        status.HTTP_400_BAD_REQUEST, f"the body is nested deeper than {MAX_DEPTH} levels"
    )


def _surrogate(path: str) -> HTTPException:
    shown = path if len(path) <= _PATH_SHOWN else path[:_PATH_SHOWN] + "…"
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        f"{shown}: holds a lone UTF-16 surrogate, which is not Unicode text",
    )
