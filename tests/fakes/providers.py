"""Loopback fakes of the provider admin APIs the set-up commands and the doctor call.

Real HTTP servers on 127.0.0.1 (uvicorn in a thread), so the CLI run in-process by typer's
CliRunner and a `mms-connector` subprocess talk to them the same way. Shapes follow the providers'
documentation:

Aircall (`https://api.aircall.io`, Basic `api_id:api_token`; 401 `{"message": "Unauthorized"}`
without credentials, 403 `{"message": "Forbidden"}` with wrong ones):

* `GET /v1/webhooks` → `{"webhooks": [...], "meta": {...}}`; a webhook made in the Dashboard
  (`add_webhook(dashboard=True)`) shows no `token` in the list, only in `GET /v1/webhooks/{id}`.
* `POST /v1/webhooks {url, custom_name, events}` → 201 `{"webhook": {webhook_id, direct_link,
  created_at, custom_name, url, active, events, token}}`; no or empty `events` subscribes to every
  event; 400 for a missing or non-https url, an unknown event, or past 100 webhooks.
* `GET/PUT/DELETE /v1/webhooks/{webhook_id}`; a PUT without `events` resets them to every event.
* `GET /v1/numbers?page&per_page` (per_page 1..50, default 20) → `{"numbers": [{id, direct_link,
  name, digits, country, time_zone, ...}], "meta": {count, total, current_page, per_page,
  next_page_link, previous_page_link}}`.

CloudTalk (`https://my.cloudtalk.io/api`, Basic `key_id:secret`):

* `GET /api/numbers/index.json?limit&page` → `{"responseData": {itemsCount, pageCount,
  pageNumber, limit, data: [{"CallNumber": {id, country_code, area_code, internal_name,
  caller_id_e164, is_redirected, connected_to, source_id}}]}}`, `caller_id_e164` a JSON number
  without `+` as in CloudTalk's own example.

`calls` lists every request as `(method, path)`, so a test can say "the second run wrote nothing".
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# Aircall's events, messaging and a sample of the others (an empty list subscribes to all).
AIRCALL_EVENTS = (
    "call.created",
    "call.answered",
    "call.hungup",
    "call.ended",
    "contact.created",
    "user.connected",
    "number.created",
    "message.sent",
    "message.received",
    "message.status_updated",
    "group_message.sent",
    "group_message.received",
    "group_message.status_updated",
)
MAX_WEBHOOKS = 100


class _Loopback:
    """Serve a Starlette app on 127.0.0.1 in a daemon thread."""

    name = "fake"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.RLock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.url = ""

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def start(self) -> Any:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5.0)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def writes(self) -> list[tuple[str, str]]:
        with self._lock:
            return [call for call in self.calls if call[0] != "GET"]

    def _basic(self, request: Request) -> tuple[str, str] | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        with contextlib.suppress(ValueError):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user, password
        return None

    def _handler(
        self, check: Callable[[Request], Response | None], handle: Callable[[Request, Any], Any]
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.calls.append((request.method, request.url.path))
            refused = check(request)
            if refused is not None:
                return refused
            try:
                body = await request.json() if request.method in ("POST", "PUT") else None
            except ValueError:
                return JSONResponse({"message": "Bad Request"}, status_code=400)
            with self._lock:
                return handle(request, body)  # type: ignore[no-any-return]

        return endpoint


class FakeAircall(_Loopback):
    name = "fake-aircall"

    def __init__(self, api_id: str = "api-id", api_token: str = "api-token") -> None:
        super().__init__()
        self.api_id = api_id
        self.api_token = api_token
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._dashboard: set[str] = set()
        self.numbers: list[dict[str, Any]] = []
        self._next_number = 1284757

    # -- seeding --------------------------------------------------------------------------------

    def add_number(self, digits: str, name: str, country: str = "US") -> int:
        with self._lock:
            number_id = self._next_number
            self._next_number += 1
            self.numbers.append(
                {
                    "id": number_id,
                    "direct_link": f"{self.url}/v1/numbers/{number_id}",
                    "name": name,
                    "digits": digits,
                    "created_at": "2026-01-05T10:00:00.000Z",
                    "country": country,
                    "time_zone": "America/New_York",
                    "open": True,
                    "availability_status": "open",
                    "is_ivr": False,
                    "live_recording_activated": False,
                    "users": [],
                    "priority": None,
                }
            )
            return number_id

    def remove_number(self, number_id: int) -> None:
        with self._lock:
            self.numbers = [n for n in self.numbers if n["id"] != number_id]

    def add_webhook(
        self,
        url: str,
        events: list[str] | None = None,
        *,
        dashboard: bool = False,
        active: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            hook = self._make(url, "Webhook", events or list(AIRCALL_EVENTS))
            hook["active"] = active
            if dashboard:
                self._dashboard.add(hook["webhook_id"])
            return dict(hook)

    # -- the API --------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        h = self._handler
        return [
            Route("/v1/webhooks", h(self._auth, self._list_webhooks), methods=["GET"]),
            Route("/v1/webhooks", h(self._auth, self._create_webhook), methods=["POST"]),
            Route("/v1/webhooks/{id}", h(self._auth, self._get_webhook), methods=["GET"]),
            Route("/v1/webhooks/{id}", h(self._auth, self._put_webhook), methods=["PUT"]),
            Route("/v1/webhooks/{id}", h(self._auth, self._delete_webhook), methods=["DELETE"]),
            Route("/v1/numbers", h(self._auth, self._list_numbers), methods=["GET"]),
        ]

    def _auth(self, request: Request) -> Response | None:
        credentials = self._basic(request)
        if credentials is None:
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        if credentials != (self.api_id, self.api_token):
            return JSONResponse({"message": "Forbidden"}, status_code=403)
        return None

    def _make(self, url: str, name: str, events: list[str]) -> dict[str, Any]:
        webhook_id = str(uuid.uuid4())
        hook = {
            "webhook_id": webhook_id,
            "direct_link": f"{self.url}/v1/webhooks/{webhook_id}",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "custom_name": name,
            "url": url,
            "active": True,
            "events": list(events),
            "token": uuid.uuid4().hex,
        }
        self.webhooks[webhook_id] = hook
        return hook

    def _bad_events(self, events: Any) -> str | None:
        if events is None:
            return None
        if not isinstance(events, list) or any(e not in AIRCALL_EVENTS for e in events):
            return "Invalid events"
        return None

    def _page(self, request: Request, key: str, items: list[dict[str, Any]], path: str) -> Response:
        try:
            page = int(request.query_params.get("page", "1"))
            per_page = int(request.query_params.get("per_page", "20"))
        except ValueError:
            return JSONResponse({"message": "Bad Request"}, status_code=400)
        if not 1 <= per_page <= 50 or page < 1:
            return JSONResponse({"message": "per_page must be between 1 and 50"}, status_code=400)
        chunk = items[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(items)
        meta = {
            "count": len(chunk),
            "total": len(items),
            "current_page": page,
            "per_page": per_page,
            "next_page_link": f"{self.url}{path}?page={page + 1}&per_page={per_page}"
            if more
            else None,
            "previous_page_link": f"{self.url}{path}?page={page - 1}&per_page={per_page}"
            if page > 1
            else None,
        }
        return JSONResponse({key: chunk, "meta": meta})

    def _listed(self, hook: dict[str, Any]) -> dict[str, Any]:
        shown = dict(hook)
        if hook["webhook_id"] in self._dashboard:
            shown.pop("token")
        return shown

    def _list_webhooks(self, request: Request, _body: Any) -> Response:
        items = [self._listed(hook) for hook in self.webhooks.values()]
        return self._page(request, "webhooks", items, "/v1/webhooks")

    def _create_webhook(self, _request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or not body.get("url"):
            return JSONResponse({"message": "url is required"}, status_code=400)
        if not str(body["url"]).startswith("https://"):
            return JSONResponse({"message": "url must be https"}, status_code=400)
        problem = self._bad_events(body.get("events"))
        if problem:
            return JSONResponse({"message": problem}, status_code=400)
        if len(self.webhooks) >= MAX_WEBHOOKS:
            return JSONResponse({"message": "Webhooks limit reached"}, status_code=400)
        events = body.get("events") or list(AIRCALL_EVENTS)
        hook = self._make(body["url"], body.get("custom_name") or "Webhook", events)
        return JSONResponse({"webhook": hook}, status_code=201)

    def _find(self, request: Request) -> dict[str, Any] | None:
        return self.webhooks.get(request.path_params["id"])

    def _get_webhook(self, request: Request, _body: Any) -> Response:
        hook = self._find(request)
        if hook is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return JSONResponse({"webhook": hook})

    def _put_webhook(self, request: Request, body: Any) -> Response:
        hook = self._find(request)
        if hook is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        body = body if isinstance(body, dict) else {}
        problem = self._bad_events(body.get("events"))
        if problem:
            return JSONResponse({"message": problem}, status_code=400)
        action = request.query_params.get("events_action")
        events = body.get("events")
        if action == "add":
            hook["events"] = list(dict.fromkeys([*hook["events"], *(events or [])]))
        elif action == "remove":
            hook["events"] = [e for e in hook["events"] if e not in (events or [])]
        else:
            hook["events"] = list(events) if events else list(AIRCALL_EVENTS)
        for key in ("url", "custom_name", "active"):
            if key in body:
                hook[key] = body[key]
        return JSONResponse({"webhook": hook})

    def _delete_webhook(self, request: Request, _body: Any) -> Response:
        if self.webhooks.pop(request.path_params["id"], None) is None:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        return Response(status_code=204)

    def _list_numbers(self, request: Request, _body: Any) -> Response:
        return self._page(request, "numbers", list(self.numbers), "/v1/numbers")


class FakeCloudTalk(_Loopback):
    name = "fake-cloudtalk"

    def __init__(self, key_id: str = "key-id", secret: str = "key-secret") -> None:
        super().__init__()
        self.key_id = key_id
        self.secret = secret
        self.numbers: list[dict[str, Any]] = []
        self._next_id = 123

    def add_number(self, e164: str, internal_name: str) -> int:
        with self._lock:
            number_id = self._next_id
            self._next_id += 1
            digits = e164.lstrip("+")
            self.numbers.append(
                {
                    "id": str(number_id),
                    "country_code": digits[:1],
                    "area_code": digits[1:4],
                    "internal_name": internal_name,
                    "caller_id_e164": int(digits),
                    "is_redirected": False,
                    "connected_to": "1",
                    "source_id": "4",
                }
            )
            return number_id

    def remove_number(self, number_id: int) -> None:
        with self._lock:
            self.numbers = [n for n in self.numbers if n["id"] != str(number_id)]

    def routes(self) -> list[Route]:
        return [
            Route(
                "/api/numbers/index.json",
                self._handler(self._auth, self._list_numbers),
                methods=["GET"],
            )
        ]

    def _auth(self, request: Request) -> Response | None:
        if self._basic(request) != (self.key_id, self.secret):
            return JSONResponse(
                {"responseData": {"status": 401, "message": "Unauthorized"}}, status_code=401
            )
        return None

    def _list_numbers(self, request: Request, _body: Any) -> Response:
        limit = int(request.query_params.get("limit", "10"))
        page = int(request.query_params.get("page", "1"))
        if not 1 <= limit <= 1000:
            return JSONResponse(
                {"responseData": {"status": 406, "message": "Invalid input data."}},
                status_code=406,
            )
        chunk = self.numbers[(page - 1) * limit : page * limit]
        page_count = max(1, -(-len(self.numbers) // limit))
        return JSONResponse(
            {
                "responseData": {
                    "itemsCount": len(self.numbers),
                    "pageCount": page_count,
                    "pageNumber": page,
                    "limit": limit,
                    "data": [{"CallNumber": number} for number in chunk],
                }
            }
        )


@pytest.fixture
def fake_aircall() -> Iterator[FakeAircall]:
    with FakeAircall() as fake:
        yield fake


@pytest.fixture
def fake_cloudtalk() -> Iterator[FakeCloudTalk]:
    with FakeCloudTalk() as fake:
        yield fake
