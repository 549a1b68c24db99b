"""The embedded pages over HTTP: links, tokens, headers, the composer's API, the conversation.

The browser tests (`tests/pages/`) show what a person sees; these pin what the server answers
to anyone, including someone holding an altered, expired or borrowed link.
"""

from __future__ import annotations

import base64
import io
import re
import string
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.api.pages_render import STATIC_DIR, TEMPLATES_DIR
from connector.bootstrap import Connector
from connector.config import Settings
from connector.core import catalogue
from connector.core.catalogue import KB, MB
from connector.core.model import DeliveryStatus, Provider
from connector.media.links import LinkKind, sign
from connector.media.page_links import CrmRecord, sign_compose
from connector.store.conversations import AttachmentState, set_status
from connector.sync import outbound
from tests.conftest import make_settings
from tests.media.factories import png, receive, settle, stored

AUTH = {"Authorization": "Bearer test-api-token-9f86d081884c7d659a2feaa0c55ad015"}
TO = "+14155552671"
US_SALES = "+14155550100"  # Aircall, SMS MMS (mappings/lines.yaml)
AU_SUPPORT = "+61491570156"  # Aircall, not MMS capable
US_SERVICE = "+16465550199"  # CloudTalk, SMS MMS
RECORD = CrmRecord("hubspot", "contact", "901")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Aircall can send; CloudTalk has no API credentials here."""
    return make_settings(tmp_path, aircall_api_id="aircall-id", aircall_api_token="aircall-token")


@pytest.fixture
def client(connector: Connector) -> Iterator[TestClient]:
    with TestClient(create_app(connector)) as test_client:
        yield test_client


def compose_token(
    connector: Connector, to: str = TO, record: CrmRecord = RECORD, **options: Any
) -> str:
    token, _ = sign_compose(connector.secret, record, to, **options)
    return token


def page_api(connector: Connector, **options: Any) -> dict[str, str]:
    return {"X-Compose-Token": compose_token(connector, **options)}


def upload(
    client: TestClient, headers: dict[str, str], name: str, data: bytes, line: str = US_SALES
) -> dict[str, Any]:
    response = client.post(
        "/compose/api/uploads", params={"from": line}, files={"file": (name, data)}, headers=headers
    )
    assert response.status_code == 201, response.text
    file: dict[str, Any] = response.json()["files"][0]
    return file


# -- POST /v1/compose-links ----------------------------------------------------------------------


def test_a_compose_link_needs_the_api_token(client: TestClient) -> None:
    body = {"crm": {"system": "hubspot", "object": "contact", "record_id": "901"}, "to": TO}
    assert client.post("/v1/compose-links", json=body).status_code == 401


def test_a_compose_link_opens_the_composer_for_an_hour(client: TestClient) -> None:
    body = {
        "crm": {"system": "salesforce", "object": "Contact", "record_id": "003000000000001AAA"},
        "to": "+1 (415) 555-2671",
    }
    before = datetime.now(UTC)
    response = client.post("/v1/compose-links", json=body, headers=AUTH)
    assert response.status_code == 201
    answer = response.json()
    assert answer["url"].startswith("https://connector.example.test/compose?token=")
    expires = datetime.fromisoformat(answer["expires_at"])
    assert timedelta(minutes=59) < expires - before <= timedelta(hours=1, seconds=1)
    page = client.get(answer["url"].removeprefix("https://connector.example.test"))
    assert page.status_code == 200
    assert "+1 415-555-2671" in page.text
    assert "Salesforce Contact 003000000000001AAA" in page.text


@pytest.mark.parametrize(
    "change",
    [
        {"to": "not a number"},
        {"crm": {"system": "pipedrive", "object": "person", "record_id": "1"}},
        {"crm": {"system": "hubspot", "object": "contact", "record_id": "<script>"}},
        {"expires_in": 30},
        {"expires_in": 13 * 3600},
    ],
)
def test_a_compose_link_request_that_makes_no_sense_is_refused(
    client: TestClient, change: dict[str, Any]
) -> None:
    body = {"crm": {"system": "hubspot", "object": "contact", "record_id": "901"}, "to": TO}
    response = client.post("/v1/compose-links", json={**body, **change}, headers=AUTH)
    assert response.status_code == 422


# -- GET /compose --------------------------------------------------------------------------------


def test_the_composer_page_allows_only_its_own_origin_and_the_crms_as_frames(
    client: TestClient, connector: Connector
) -> None:
    response = client.get("/compose", params={"token": compose_token(connector)})
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    ancestors = re.search(r"frame-ancestors ([^;]+)", policy)
    assert ancestors is not None
    for source in ("https://*.hubspot.com", "https://*.force.com", "https://*.visualforce.com"):
        assert source in ancestors.group(1).split()
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "x-frame-options" not in response.headers
    assert _inline_scripts(response.text) == []


def _inline_scripts(html: str) -> list[str]:
    """Script elements that would execute and carry their code inline (CSP would block them)."""
    tags = re.findall(r"<script\b([^>]*)>", html)
    return [t for t in tags if "src=" not in t and 'type="application/json"' not in t]


@pytest.mark.parametrize(
    ("token", "title"),
    [
        ("expired", "This composer link has expired"),
        ("forged", "This composer link is not valid"),
        ("last character", "This composer link is not valid"),
        ("newline", "This composer link is not valid"),
        ("", "This composer link is not valid"),
    ],
)
def test_an_expired_or_forged_composer_link_gets_a_clear_401_page(
    client: TestClient, connector: Connector, token: str, title: str
) -> None:
    if token == "expired":
        token = compose_token(connector, now=datetime.now(UTC) - timedelta(hours=2))
    elif token == "forged":
        token = compose_token(connector)[:-4] + "AAAA"
    elif token == "last character":  # the same signature bytes in another spelling
        genuine = compose_token(connector)
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
        token = genuine[:-1] + alphabet[alphabet.index(genuine[-1]) ^ 1]
    elif token == "newline":
        token = compose_token(connector) + "\n"
    response = client.get("/compose", params={"token": token})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    assert "open the composer again from the CRM record" in response.text
    assert "content-security-policy" in response.headers


def test_the_page_api_answers_only_to_a_valid_composer_token(
    client: TestClient, connector: Connector
) -> None:
    assert client.get("/compose/api/lines").status_code == 401
    assert client.get("/compose/api/lines", headers=AUTH).status_code == 401  # not a page token
    expired = page_api(connector, now=datetime.now(UTC) - timedelta(hours=2))
    response = client.get("/compose/api/lines", headers=expired)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert client.get("/compose/api/lines", headers=page_api(connector)).status_code == 200


# -- the composer's API --------------------------------------------------------------------------


def _lines(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/compose/api/lines", headers=headers)
    assert response.status_code == 200
    return {line["number"]: line for line in response.json()["lines"]}


def test_each_line_says_what_it_can_do_for_this_recipient_with_the_rules_words(
    client: TestClient, connector: Connector
) -> None:
    lines = _lines(client, page_api(connector))
    assert list(lines) == [US_SALES, AU_SUPPORT, US_SERVICE]
    sales, support, service = lines[US_SALES], lines[AU_SUPPORT], lines[US_SERVICE]
    assert (sales["mmsCapable"], sales["canSend"], sales["canAttach"]) == (True, True, True)
    assert sales["attachReasons"] == []
    assert sales["maxFiles"] == 10 and sales["maxTotalLabel"] == "5 MB"
    assert support["canSend"] and not support["canAttach"]
    assert support["attachReasons"] == [catalogue.line_not_mms_capable(AU_SUPPORT).message]
    assert service["maxFiles"] == 5  # CloudTalk's send API
    assert not service["canSend"]  # no CloudTalk credentials on this connector
    assert "Cloudtalk is not set up" in service["sendReasons"][0]


def test_a_recipient_outside_the_policys_countries_cannot_get_files(
    client: TestClient, connector: Connector
) -> None:
    uk = "+447700900123"
    lines = _lines(client, page_api(connector, to=uk))
    countries = connector.settings.policy(Provider.AIRCALL).countries
    expected = catalogue.number_not_eligible(uk, "recipient", countries).message
    assert lines[US_SALES]["canSend"]
    assert lines[US_SALES]["attachReasons"] == [expected]


def test_a_disabled_account_greys_out_sending_with_its_reason(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        aircall_api_id="aircall-id",
        aircall_api_token="aircall-token",
        cloudtalk_api_key_id="ct-id",
        cloudtalk_api_key_secret="ct-secret",
        cloudtalk_account_state="trial",
    )
    connector = bootstrap.build(settings)
    try:
        with TestClient(create_app(connector)) as client:
            service = _lines(client, page_api(connector))[US_SERVICE]
    finally:
        connector.close()
    reason = catalogue.account_disabled("trial").message
    assert (service["canSend"], service["canAttach"]) == (False, False)
    assert service["sendReasons"] == [reason]
    assert service["attachReasons"] == [reason]


def test_uploads_are_judged_for_the_chosen_line_with_the_exact_texts(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    picture = upload(client, headers, "kitchen.png", png(20 * KB))
    assert picture["ok"] and picture["errors"] == []
    assert picture["ref"].startswith("u") and picture["thumb"] == f"/media/{picture['ref']}"
    assert client.get(picture["thumb"]).content == png(20 * KB)

    text = upload(client, headers, "notes.txt", b"plain words\n" * 20)
    assert not text["ok"] and text["ref"] is None
    assert text["errors"] == [
        {
            "code": "unsupported_format",
            "message": "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS",
            "index": 0,
        }
    ]
    # CloudTalk's policy names only its own types.
    for_cloudtalk = upload(client, headers, "notes.txt", b"plain words\n", line=US_SERVICE)
    assert for_cloudtalk["errors"][0]["message"] == (
        "Only jpg, jpeg, png, or gif files are allowed for MMS"
    )


def test_a_file_too_large_to_upload_is_judged_by_its_size_and_first_bytes(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    head = base64.b64encode(png(8 * KB)).decode()
    response = client.post(
        "/compose/api/uploads/probe",
        json={"from": US_SALES, "name": "huge.png", "size": 6 * MB, "head": head},
        headers=headers,
    )
    assert response.json()["errors"] == [
        {
            "code": "file_too_large",
            "message": "Your file size exceeds the limit of 5 MB. "
            "Please reduce the file size and try again",
            "index": 0,
        }
    ]


def _draft(line: str, refs: list[str], text: str = "Hello") -> dict[str, Any]:
    return {"from": line, "text": text, "media": refs}


def test_validation_refuses_the_eleventh_file_by_its_index(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    refs = [upload(client, headers, f"p{n}.png", png(2 * KB + n))["ref"] for n in range(11)]
    answer = client.post("/compose/api/validate", json=_draft(US_SALES, refs), headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {
        "sendable": False,
        "errors": [
            {
                "code": "too_many_files",
                "message": "You can only upload up to 10 files. "
                "Please remove some files and try again",
                "index": 10,
            }
        ],
    }
    assert client.post(
        "/compose/api/validate", json=_draft(US_SALES, refs[:10]), headers=headers
    ).json() == {"sendable": True, "errors": []}


def test_validation_of_files_on_a_line_without_mms_refuses_the_message_not_the_files(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    ref = upload(client, headers, "p.png", png())["ref"]
    answer = client.post("/compose/api/validate", json=_draft(AU_SUPPORT, [ref]), headers=headers)
    errors = answer.json()["errors"]
    assert errors == [
        {
            "code": "line_not_mms_capable",
            "message": catalogue.line_not_mms_capable(AU_SUPPORT).message,
            "index": None,
        }
    ]


def test_a_reference_the_connector_did_not_sign_is_refused(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    for path in ("/compose/api/validate", "/compose/api/messages"):
        response = client.post(
            path, json=_draft(US_SALES, ["u1.forgedforgedforgedforged"]), headers=headers
        )
        body = response.json()
        assert body["errors"] == [
            {"code": "unknown_error", "message": catalogue.UNKNOWN_ERROR_TEXT, "index": 0}
        ]


def test_a_line_that_is_not_configured_is_refused(client: TestClient, connector: Connector) -> None:
    response = client.post(
        "/compose/api/validate", json=_draft("+14155559999", []), headers=page_api(connector)
    )
    assert response.status_code == 422


def test_the_recipient_and_the_record_come_from_the_link_never_from_the_browser(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    ref = upload(client, headers, "p.png", png())["ref"]
    body = {
        **_draft(US_SALES, [ref], "Your quote"),
        "to": "+14155550000",
        "crm": {"system": "salesforce", "object": "Lead", "record_id": "00Q1"},
    }
    response = client.post("/compose/api/messages", json=body, headers=headers)
    assert response.status_code == 202
    answer = response.json()
    assert (answer["status"], answer["label"], answer["final"]) == ("queued", "Queued", False)
    view = outbound.message_view(connector, answer["message_id"])
    assert view is not None
    assert view.other_party == TO
    assert view.origin == {"system": "hubspot", "object": "contact", "record_id": "901"}
    assert [a.name for a in view.attachments] == ["p.png"]


def test_a_refused_send_answers_422_with_the_rules_texts(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    response = client.post("/compose/api/messages", json=_draft(US_SALES, [], ""), headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "message_empty"


def test_a_message_status_is_shown_only_to_the_composer_it_was_sent_from(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    sent = client.post(
        "/compose/api/messages", json=_draft(US_SALES, [], "Hi"), headers=headers
    ).json()
    path = f"/compose/api/messages/{sent['message_id']}"
    assert client.get(path, headers=headers).json() == {
        "message_id": sent["message_id"],
        "status": "queued",
        "label": "Queued",
        "final": False,
        "error": None,
    }
    other_record = page_api(connector, record=CrmRecord("hubspot", "contact", "902"))
    other_recipient = page_api(connector, to="+14155550000")
    assert client.get(path, headers=other_record).status_code == 404
    assert client.get(path, headers=other_recipient).status_code == 404
    message_id, _, _ = receive(connector.database)  # an inbound message
    assert client.get(f"/compose/api/messages/{message_id}", headers=headers).status_code == 404


def test_a_send_that_failed_says_why(client: TestClient, connector: Connector) -> None:
    headers = page_api(connector)
    sent = client.post(
        "/compose/api/messages", json=_draft(US_SALES, [], "Hi"), headers=headers
    ).json()
    with connector.database.begin() as conn:
        set_status(conn, sent["message_id"], DeliveryStatus.NOT_SENT)
    answer = client.get(f"/compose/api/messages/{sent['message_id']}", headers=headers).json()
    assert (answer["label"], answer["final"]) == ("Not sent", True)
    assert answer["error"]


# -- the conversation ----------------------------------------------------------------------------


def _thread(connector: Connector, text: str = "Photo of the damage attached") -> tuple[int, str]:
    """A received message with six pictures, an unsupported file and an expired one."""
    names = [(f"room-{n}.png", None) for n in range(6)] + [("clip.mov", None), ("old.png", None)]
    _, thread_id, ids = receive(connector.database, names, text=text)
    for n, attachment_id in enumerate(ids[:6]):
        stored(connector.database, connector.media_store, attachment_id, png(KB + n), "image/png")
    settle(connector.database, ids[6], AttachmentState.UNSUPPORTED)
    settle(connector.database, ids[7], AttachmentState.EXPIRED)
    return thread_id, sign(connector.secret, LinkKind.THREAD, thread_id)


def test_the_conversation_page_shows_four_previews_a_counter_and_the_alerts(
    client: TestClient, connector: Connector
) -> None:
    _, token = _thread(connector)
    response = client.get(f"/conversations/{token}")
    assert response.status_code == 200
    assert "frame-ancestors" in response.headers["content-security-policy"]
    html = response.text
    assert html.count('class="preview"') == 4
    assert ">+2</button>" in html
    assert catalogue.INBOUND_UNSUPPORTED_TEXT in html
    assert catalogue.MEDIA_UNAVAILABLE_TEXT in html
    assert _inline_scripts(html) == []
    # Media are linked relative to the page: the same origin whatever the public URL.
    assert 'src="/media/a' in html and "connector.example.test" not in html


def test_message_text_is_escaped(client: TestClient, connector: Connector) -> None:
    _, token = _thread(connector, text='<script>alert("x")</script> & <img src=x onerror=1>')
    html = client.get(f"/conversations/{token}").text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x" in html
    assert "\\u003cscript\\u003e" in html  # and inside the viewer's JSON as well


def test_a_conversation_link_that_is_not_genuine_gets_a_404_page(
    client: TestClient, connector: Connector
) -> None:
    thread_id, token = _thread(connector)
    attachment = sign(connector.secret, LinkKind.ATTACHMENT, 1)
    for wrong in (token[:-3] + "AAA", attachment, f"t{thread_id + 1}.{token.split('.')[1]}"):
        response = client.get(f"/conversations/{wrong}")
        assert response.status_code == 404
        assert "This conversation link is not valid" in response.text
        assert client.get(f"/conversations/{wrong}/media.zip").status_code == 404
    unknown = sign(connector.secret, LinkKind.THREAD, thread_id + 100)
    assert client.get(f"/conversations/{unknown}").status_code == 404


def test_download_all_streams_the_zip_with_its_exact_length(
    client: TestClient, connector: Connector
) -> None:
    _, token = _thread(connector)
    response = client.get(f"/conversations/{token}/media.zip")
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert re.fullmatch(
        r'attachment; filename="thread-\d+-media\.zip"', response.headers["content-disposition"]
    )
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert len([n for n in names if n.endswith(".png")]) == 6
        manifest = archive.read("MANIFEST.txt").decode()
    assert catalogue.INBOUND_UNSUPPORTED_TEXT in manifest
    assert catalogue.MEDIA_UNAVAILABLE_TEXT in manifest


def test_download_all_with_nothing_kept_answers_the_rules_text(
    client: TestClient, connector: Connector
) -> None:
    _, thread_id, ids = receive(connector.database, [("old.png", None)])
    settle(connector.database, ids[0], AttachmentState.EXPIRED)
    token = sign(connector.secret, LinkKind.THREAD, thread_id)
    response = client.get(f"/conversations/{token}/media.zip")
    assert response.status_code == 410
    assert response.text == catalogue.MEDIA_UNAVAILABLE_TEXT


def test_the_pages_load_nothing_from_elsewhere(client: TestClient) -> None:
    for folder in (STATIC_DIR, TEMPLATES_DIR):
        for path in folder.iterdir():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path
    for asset in ("pages.css", "compose.js", "conversation.js"):
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200


def test_a_line_whose_can_send_is_false_queues_nothing_and_says_why(
    client: TestClient, connector: Connector
) -> None:
    headers = page_api(connector)
    line = _lines(client, headers)[US_SERVICE]
    assert not line["canSend"]  # CloudTalk has no API credentials here

    sent = client.post("/compose/api/messages", json=_draft(US_SERVICE, []), headers=headers)
    checked = client.post("/compose/api/validate", json=_draft(US_SERVICE, []), headers=headers)

    assert sent.status_code == 422
    assert sent.json()["errors"] == [
        {"code": "sending_not_configured", "message": line["sendReasons"][0], "index": None}
    ]
    assert checked.json() == {"sendable": False, "errors": sent.json()["errors"]}
    assert outbound.sends_to_check(connector, list(DeliveryStatus)) == []
