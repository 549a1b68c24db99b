"""`/v1/messages` as a CRM integration sees it: every refusal of the MMS rules in its exact words,
HTTP status, `drop` and `reject`, uploads and URLs, and the views of what was sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connector.api.app import create_app
from connector.bootstrap import Connector
from connector.core import catalogue
from connector.store.conversations import AttachmentState
from connector.store.tables import attachments, jobs, messages, threads, uploads
from connector.sync.outbound import media as outbound_media
from tests.fakes.media_host import HostileMediaHost
from tests.media.factories import KB, MB, file_bytes, gif, jpeg, pdf, png, receive, settle
from tests.sync.test_outbound_kit import (
    AIRCALL_LINE,
    AU_LANDLINE,
    AU_LINE,
    CA_MOBILE,
    CLOUDTALK_AU_LINE,
    CLOUDTALK_LINE,
    JM_MOBILE,
    NO_MMS_LINE,
    UNLISTED_LINE,
    US_MOBILE,
    build_connector,
    keep_upload,
)

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}
MEDIA_HOST = "https://media.example.com"


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Connector]:
    built = build_connector(tmp_path)
    yield built
    built.close()


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def count(connector: Connector, table: Any) -> int:
    with connector.database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def nothing_sent(connector: Connector) -> bool:
    return all(count(connector, table) == 0 for table in (threads, messages, attachments, jobs))


def body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"from": AIRCALL_LINE, "to": US_MOBILE, "text": "Your quote"}
    values.update(overrides)
    return values


def uploaded(connector: Connector, *files: bytes) -> list[dict[str, int]]:
    return [{"upload_id": keep_upload(connector, content)} for content in files]


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/messages"),
        ("post", "/v1/messages/validate"),
        ("get", "/v1/messages/1"),
        ("post", "/v1/messages/1/retry"),
        ("get", "/v1/messages"),
        ("get", "/v1/threads/1"),
        ("get", "/v1/lines"),
    ],
)
def test_every_route_needs_an_api_token(client: TestClient, method: str, path: str) -> None:
    kwargs: dict[str, Any] = {"json": body()} if method == "post" else {}
    assert getattr(client, method)(path, **kwargs).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert getattr(client, method)(path, headers=wrong, **kwargs).status_code == 401


# -- every refusal, in the catalogue's exact words ---------------------------------------------

TOO_MANY_5 = "You can only upload up to 5 files. Please remove some files and try again"
TOO_MANY_10 = "You can only upload up to 10 files. Please remove some files and try again"
TOO_LARGE_5MB = (
    "Your file size exceeds the limit of 5 MB. Please reduce the file size and try again"
)
TOO_LARGE_600KB = (
    "Your file size exceeds the limit of 600 KB. Please reduce the file size and try again"
)
TOTAL_5MB = (
    "Your total file size exceeds the limit of 5 MB. Please reduce the file size and try again"
)
FORMATS_AIRCALL = "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS"
FORMATS_CLOUDTALK = "Only jpg, jpeg, png, or gif files are allowed for MMS"
UNKNOWN = "Sorry, the problem has occurred. Please try again later"
UNAVAILABLE = "Some media is unavailable due to an error"


def _refusal(code: str, message: str, index: int | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "index": index}


REFUSALS: list[Any] = [
    pytest.param(
        {"from": UNLISTED_LINE},
        [],
        {},
        [
            _refusal(
                "line_not_listed",
                "The line +13125550199 is not one of this connector's lines (mappings/lines.yaml).",
            )
        ],
        id="line not in lines.yaml",
    ),
    pytest.param(
        {"to": "call me maybe"},
        [],
        {},
        [
            _refusal(
                "number_not_eligible",
                "MMS is only available between numbers in AU, CA, US; "
                "the recipient call me maybe is not.",
            )
        ],
        id="recipient that is not a phone number",
    ),
    pytest.param(
        {"from": CLOUDTALK_LINE, "to": JM_MOBILE},
        [png()],
        {},
        [
            _refusal(
                "number_not_eligible",
                "MMS is only available between numbers in CA, US; the recipient +18765550123 "
                "is not.",
            )
        ],
        id="CloudTalk: a +1 876 Jamaica recipient",
    ),
    pytest.param(
        {"from": CLOUDTALK_AU_LINE, "to": CA_MOBILE},
        [png()],
        {},
        [
            _refusal(
                "number_not_eligible",
                "MMS is only available between numbers in CA, US; the line +61491570157 is not.",
            )
        ],
        id="CloudTalk: a line outside US/CA",
    ),
    pytest.param(
        {"from": NO_MMS_LINE},
        [png()],
        {},
        [
            _refusal(
                "line_not_mms_capable",
                "The line +13125550111 cannot send MMS. Choose a line with the SMS MMS badge, "
                "or remove the attachments.",
            )
        ],
        id="line without the SMS MMS badge",
    ),
    pytest.param(
        {"from": AU_LINE, "to": AU_LANDLINE},
        [png()],
        {},
        [
            _refusal(
                "recipient_not_mms_capable",
                "The recipient +61291234567 cannot receive MMS (it is a landline).",
            )
        ],
        id="landline recipient",
    ),
    pytest.param(
        {"from": CLOUDTALK_LINE},
        [],
        {"cloudtalk_account_state": "trial"},
        [
            _refusal(
                "account_disabled",
                "SMS and MMS are disabled because the account is on a trial plan. "
                "Contact your administrator.",
            )
        ],
        id="CloudTalk trial account: even SMS",
    ),
    pytest.param(
        {"from": CLOUDTALK_LINE},
        [png()],
        {"cloudtalk_account_state": "no_credit"},
        [
            _refusal(
                "account_disabled",
                "SMS and MMS are disabled because the account has run out of credit. "
                "Contact your administrator.",
            )
        ],
        id="CloudTalk account without credit",
    ),
    pytest.param(
        {"from": CLOUDTALK_LINE},
        [png(KB)] * 6,
        {},
        [_refusal("too_many_files", TOO_MANY_5, 5)],
        id="CloudTalk's send API: 5 files",
    ),
    pytest.param(
        {},
        [png(KB)] * 11,
        {},
        [_refusal("too_many_files", TOO_MANY_10, 10)],
        id="Aircall: 10 files",
    ),
    pytest.param(
        {},
        [png(), pdf(700 * KB)],
        {},
        [_refusal("file_too_large", TOO_LARGE_600KB, 1)],
        id="Aircall: a PDF over 600 KB",
    ),
    pytest.param(
        {},
        [jpeg(5 * MB + 1)],
        {},
        [_refusal("file_too_large", TOO_LARGE_5MB, 0)],
        id="an image over 5 MB",
    ),
    pytest.param(
        {},
        [png(2 * MB), gif(2 * MB), jpeg(2 * MB)],
        {},
        [_refusal("total_too_large", TOTAL_5MB, 2)],
        id="over 5 MB in total",
    ),
    pytest.param(
        {},
        [file_bytes("elf")],
        {},
        [_refusal("unsupported_format", FORMATS_AIRCALL, 0)],
        id="Aircall: an executable renamed .png",
    ),
    pytest.param(
        {"from": CLOUDTALK_LINE},
        [png(), pdf()],
        {},
        [_refusal("unsupported_format", FORMATS_CLOUDTALK, 1)],
        id="CloudTalk: no PDF",
    ),
    pytest.param(
        {},
        [b""],
        {},
        [_refusal("unknown_error", UNKNOWN, 0)],
        id="an empty file",
    ),
    pytest.param(
        {"text": "   "},
        [],
        {},
        [_refusal("message_empty", "The message is empty. Write a text or attach a file.")],
        id="no text and no media",
    ),
]


@pytest.mark.parametrize(("change", "files", "settings_change", "expected"), REFUSALS)
def test_each_refusal_answers_422_with_the_catalogues_exact_text_and_stores_nothing(
    tmp_path: Path,
    change: dict[str, Any],
    files: list[bytes],
    settings_change: dict[str, Any],
    expected: list[dict[str, Any]],
) -> None:
    connector = build_connector(tmp_path, **settings_change)
    request = body(media=uploaded(connector, *files), **change)
    with TestClient(create_app(connector)) as client:
        sent = client.post("/v1/messages", json=request, headers=AUTH)
        checked = client.post("/v1/messages/validate", json=request, headers=AUTH)

    assert sent.status_code == 422
    assert sent.json() == {"errors": expected}
    assert checked.status_code == 200
    assert checked.json()["sendable"] is False
    assert checked.json()["errors"] == expected
    assert nothing_sent(connector)
    connector.close()


def test_an_upload_id_that_is_not_kept_is_unavailable(
    client: TestClient, connector: Connector
) -> None:
    response = client.post("/v1/messages", json=body(media=[{"upload_id": 999}]), headers=AUTH)

    assert response.status_code == 422
    assert response.json() == {"errors": [_refusal("media_unavailable", UNAVAILABLE, 0)]}
    assert nothing_sent(connector)


def test_every_refusal_is_listed_at_once(client: TestClient, connector: Connector) -> None:
    media = uploaded(connector, file_bytes("elf"), pdf(700 * KB))

    response = client.post(
        "/v1/messages",
        json=body(**{"from": NO_MMS_LINE, "to": JM_MOBILE, "media": media}),
        headers=AUTH,
    )

    codes = [(e["code"], e["index"]) for e in response.json()["errors"]]
    assert codes == [
        ("line_not_mms_capable", None),
        ("number_not_eligible", None),
        ("unsupported_format", 0),
        ("file_too_large", 1),
    ]


def test_a_malformed_body_is_refused_before_any_rule(client: TestClient) -> None:
    both = {"url": f"{MEDIA_HOST}/a.png", "upload_id": 1}
    assert client.post("/v1/messages", json=body(media=[both]), headers=AUTH).status_code == 422
    assert client.post("/v1/messages", json={"to": US_MOBILE}, headers=AUTH).status_code == 422
    bad_origin = body(crm={"system": "pipedrive", "object": "Person", "record_id": "1"})
    assert client.post("/v1/messages", json=bad_origin, headers=AUTH).status_code == 422


# -- reject and drop ---------------------------------------------------------------------------


def test_reject_is_the_default_and_sends_nothing_when_one_medium_is_invalid(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, png(), file_bytes("elf"))

    response = client.post("/v1/messages", json=body(media=media), headers=AUTH)

    assert response.status_code == 422
    assert response.json() == {"errors": [_refusal("unsupported_format", FORMATS_AIRCALL, 1)]}
    assert nothing_sent(connector)


def test_drop_sends_the_valid_media_and_lists_each_dropped_one_with_its_error(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, png(), file_bytes("elf"), jpeg(), pdf(700 * KB))

    response = client.post(
        "/v1/messages", json=body(media=media, on_invalid_media="drop"), headers=AUTH
    )

    assert response.status_code == 202
    answer = response.json()
    assert answer["status"] == "queued"
    assert answer["dropped"] == [
        _refusal("unsupported_format", FORMATS_AIRCALL, 1),
        _refusal("file_too_large", TOO_LARGE_600KB, 3),
    ]
    assert response.headers["location"] == f"/v1/messages/{answer['message_id']}"
    shown = client.get(f"/v1/messages/{answer['message_id']}", headers=AUTH).json()
    assert [a["content_type"] for a in shown["attachments"]] == ["image/png", "image/jpeg"]


def test_drop_with_nothing_left_to_send_is_refused(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, file_bytes("elf"))

    response = client.post(
        "/v1/messages",
        json=body(text="", media=media, on_invalid_media="drop"),
        headers=AUTH,
    )

    assert response.status_code == 422
    assert [e["code"] for e in response.json()["errors"]] == [
        "message_empty",
        "unsupported_format",
    ]
    assert nothing_sent(connector)


def test_drop_still_refuses_what_is_not_about_a_file(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, png(), file_bytes("elf"))

    response = client.post(
        "/v1/messages",
        json=body(**{"from": NO_MMS_LINE, "media": media, "on_invalid_media": "drop"}),
        headers=AUTH,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "line_not_mms_capable"


def test_validate_answers_what_drop_would_leave_out_without_sending(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, png(), file_bytes("elf"))

    answer = client.post(
        "/v1/messages/validate", json=body(media=media, on_invalid_media="drop"), headers=AUTH
    ).json()

    assert answer["sendable"] is True
    assert answer["ok"] is False
    assert answer["dropped"] == [_refusal("unsupported_format", FORMATS_AIRCALL, 1)]
    assert [m["ok"] for m in answer["media"]] == [True, False]
    assert answer["line"] == {
        "number": AIRCALL_LINE,
        "provider": "aircall",
        "label": "US Sales",
        "mms_capable": True,
    }
    assert answer["max_files"] == 10
    assert nothing_sent(connector)


# -- media by URL ------------------------------------------------------------------------------


def test_a_url_is_fetched_once_kept_as_an_upload_and_reused_by_id(
    client: TestClient, connector: Connector, respx_mock: respx.MockRouter
) -> None:
    url = f"{MEDIA_HOST}/files/floor-plan.png?sig=abc"
    fetched = respx_mock.get(url).respond(200, content=png(), headers={"Content-Type": "image/png"})

    checked = client.post(
        "/v1/messages/validate", json=body(media=[{"url": url}]), headers=AUTH
    ).json()
    [medium] = checked["media"]
    sent = client.post(
        "/v1/messages", json=body(media=[{"upload_id": medium["upload_id"]}]), headers=AUTH
    )

    assert checked["sendable"] is True
    assert medium["name"] == "floor-plan.png" and medium["sniffed_type"] == "image/png"
    assert sent.status_code == 202
    assert fetched.call_count == 1
    assert count(connector, uploads) == 1
    shown = client.get(f"/v1/messages/{sent.json()['message_id']}", headers=AUTH).json()
    [attachment] = shown["attachments"]
    served = client.get(attachment["url"].removeprefix("https://connector.example.test"))
    assert served.status_code == 200 and served.content == png()


def test_a_url_send_downloads_once_and_attaches_it(
    client: TestClient, connector: Connector, respx_mock: respx.MockRouter
) -> None:
    url = f"{MEDIA_HOST}/photo.jpg"
    fetched = respx_mock.get(url).respond(200, content=jpeg())

    response = client.post("/v1/messages", json=body(media=[{"url": url}]), headers=AUTH)

    assert response.status_code == 202
    assert fetched.call_count == 1
    assert count(connector, attachments) == 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (httpx.Response(404), _refusal("media_unavailable", UNAVAILABLE, 0)),
        (httpx.Response(503), _refusal("unknown_error", UNKNOWN, 0)),
        (
            httpx.Response(200, content=b"<html>login</html>"),
            _refusal("unsupported_format", FORMATS_AIRCALL, 0),
        ),
        (httpx.Response(200, content=png(6 * MB)), _refusal("file_too_large", TOO_LARGE_5MB, 0)),
    ],
    ids=["gone", "host down", "not a medium", "too large"],
)
def test_a_url_that_cannot_be_sent_is_refused_with_the_rules_text(
    client: TestClient,
    connector: Connector,
    respx_mock: respx.MockRouter,
    answer: httpx.Response,
    expected: dict[str, Any],
) -> None:
    url = f"{MEDIA_HOST}/x.png"
    respx_mock.get(url).mock(return_value=answer)

    response = client.post("/v1/messages", json=body(media=[{"url": url}]), headers=AUTH)

    assert response.status_code == 422
    assert response.json() == {"errors": [expected]}
    assert count(connector, uploads) == 0
    assert nothing_sent(connector)


def test_a_private_url_is_never_fetched(tmp_path: Path, respx_mock: respx.MockRouter) -> None:
    connector = build_connector(tmp_path, allow_private_media_urls=False)
    internal = respx_mock.get("http://169.254.169.254/latest/meta-data").respond(200)
    with TestClient(create_app(connector)) as client:
        response = client.post(
            "/v1/messages",
            json=body(media=[{"url": "http://169.254.169.254/latest/meta-data"}]),
            headers=AUTH,
        )

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "media_unavailable"
    assert internal.call_count == 0
    connector.close()


# -- what was sent -----------------------------------------------------------------------------


def test_an_accepted_send_is_queued_with_its_record_and_one_send_job(
    client: TestClient, connector: Connector
) -> None:
    media = uploaded(connector, png())
    origin = {"system": "salesforce", "object": "Contact", "record_id": "003000000000001AAA"}

    response = client.post(
        "/v1/messages", json=body(to="+1 (202) 555-0167", media=media, crm=origin), headers=AUTH
    )

    assert response.status_code == 202
    message_id = response.json()["message_id"]
    shown = client.get(f"/v1/messages/{message_id}", headers=AUTH).json()
    assert shown["status"] == "queued" and shown["status_label"] == "Queued"
    assert shown["direction"] == "outbound"
    assert shown["other_party"] == US_MOBILE
    assert shown["line_number"] == AIRCALL_LINE
    assert shown["origin"] == origin
    assert shown["provider_message_id"] is None
    assert shown["sent_by_connector"] is True and shown["retryable"] is False
    assert shown["crm_records"] == {}
    with connector.database.read() as conn:
        [job] = conn.execute(select(jobs)).all()
    assert (job.kind, job.target, job.subject) == ("send_message", "aircall", str(message_id))
    assert job.ordering_key == f"aircall:thread:{shown['thread_id']}"


def test_a_thread_lists_its_messages_in_order(client: TestClient, connector: Connector) -> None:
    first = client.post("/v1/messages", json=body(text="One"), headers=AUTH).json()
    second = client.post("/v1/messages", json=body(text="Two"), headers=AUTH).json()
    thread_id = client.get(f"/v1/messages/{first['message_id']}", headers=AUTH).json()["thread_id"]

    thread = client.get(f"/v1/threads/{thread_id}", headers=AUTH).json()

    assert [m["id"] for m in thread["messages"]] == [first["message_id"], second["message_id"]]
    assert [m["text"] for m in thread["messages"]] == ["One", "Two"]
    assert (thread["line_number"], thread["other_party"]) == (AIRCALL_LINE, US_MOBILE)


def test_unknown_ids_are_404(client: TestClient) -> None:
    assert client.get("/v1/messages/404", headers=AUTH).status_code == 404
    assert client.get("/v1/threads/404", headers=AUTH).status_code == 404
    assert client.post("/v1/messages/404/retry", headers=AUTH).status_code == 404


def test_only_an_unknown_or_unsent_send_can_be_retried(
    client: TestClient, connector: Connector
) -> None:
    queued = client.post("/v1/messages", json=body(), headers=AUTH).json()

    response = client.post(f"/v1/messages/{queued['message_id']}/retry", headers=AUTH)

    assert response.status_code == 409
    assert "Queued" in response.json()["detail"]


def test_lines_offer_each_line_with_its_badge_and_its_providers_limits(
    tmp_path: Path,
) -> None:
    connector = build_connector(tmp_path, cloudtalk_account_state="no_credit")
    with TestClient(create_app(connector)) as client:
        offered = {line["number"]: line for line in client.get("/v1/lines", headers=AUTH).json()}

    assert set(offered) == {AIRCALL_LINE, NO_MMS_LINE, CLOUDTALK_LINE, AU_LINE, CLOUDTALK_AU_LINE}
    aircall = offered[AIRCALL_LINE]
    assert aircall == {
        "number": AIRCALL_LINE,
        "provider": "aircall",
        "label": "US Sales",
        "mms_capable": True,
        "max_files": 10,
        "max_total_bytes": 5 * MB,
        "accepted_types": ["application/pdf", "image/gif", "image/jpeg", "image/png"],
        "max_file_bytes": {
            "application/pdf": 600 * KB,
            "image/gif": 5 * MB,
            "image/jpeg": 5 * MB,
            "image/png": 5 * MB,
        },
        "countries": ["AU", "CA", "US"],
        "account_state": "active",
        "account_enabled": True,
        "sending_configured": True,
    }
    cloudtalk = offered[CLOUDTALK_LINE]
    assert cloudtalk["max_files"] == 5
    assert cloudtalk["accepted_types"] == ["image/gif", "image/jpeg", "image/png"]
    assert (cloudtalk["account_state"], cloudtalk["account_enabled"]) == ("no_credit", False)
    assert offered[NO_MMS_LINE]["mms_capable"] is False
    connector.close()


def test_the_admins_list_shows_sends_whose_outcome_is_unknown(
    client: TestClient, connector: Connector
) -> None:
    assert client.get("/v1/messages", headers=AUTH).json() == []
    queued = client.post("/v1/messages", json=body(), headers=AUTH).json()
    listed = client.get("/v1/messages?status=queued", headers=AUTH).json()
    assert [m["id"] for m in listed] == [queued["message_id"]]


@pytest.mark.timeout(30)
def test_validate_answers_in_time_when_a_media_host_is_stuck(
    client: TestClient, connector: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host trickling its headers costs its own medium; the others are judged as usual."""
    monkeypatch.setattr(outbound_media, "URL_DEADLINE_SECONDS", 1.0)
    with HostileMediaHost(interval=0.2, trickle_for=120.0) as host:
        media = [
            {"url": f"{host.url}/slow-headers.png"},
            {"url": f"{host.url}/slow-body.png"},
            {"url": f"{host.url}/image.png"},
        ]
        answer = client.post(
            "/v1/messages/validate", json=body(media=media, on_invalid_media="drop"), headers=AUTH
        ).json()

    assert [m["ok"] for m in answer["media"]] == [False, False, True]
    assert [(e["code"], e["index"]) for e in answer["dropped"]] == [
        ("unknown_error", 0),
        ("unknown_error", 1),
    ]
    assert answer["sendable"] is True


def test_a_thread_shows_a_medium_being_captured_as_loading_and_a_failed_one_as_unavailable(
    client: TestClient, connector: Connector
) -> None:
    _, thread_id, [loading, failed] = receive(
        connector.database, [("a.png", None), ("b.png", None)]
    )
    settle(connector.database, failed, AttachmentState.UNAVAILABLE)

    response = client.get(f"/v1/threads/{thread_id}", headers=AUTH)

    [message] = response.json()["messages"]
    assert [a["notice"] for a in message["attachments"]] == [
        catalogue.MEDIA_LOADING_TEXT,
        catalogue.MEDIA_UNAVAILABLE_TEXT,
    ]
    assert loading != failed
