"""CloudTalk workflow bodies: the secret header, the documented templates, the field map."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from connector.core.events import EventKind, MalformedEvent, ProviderEvent, WebhookRejected
from connector.core.model import DeliveryStatus
from connector.providers import cloudtalk
from connector.providers.cloudtalk import CloudTalkFieldMap
from tests.providers.factories import (
    CLOUDTALK_SECRET,
    LINE,
    MISSING,
    OTHER_PARTY,
    cloudtalk_body,
    cloudtalk_headers,
)

SENT_AT = datetime(2026, 5, 1, 9, 59, 58, tzinfo=UTC)


def parse(payload: Any, field_map: CloudTalkFieldMap | None = None) -> ProviderEvent:
    if field_map is None:
        return cloudtalk.parse_event(payload)
    return cloudtalk.parse_event(payload, field_map)


def malformed_reason(payload: Any, field_map: CloudTalkFieldMap | None = None) -> str:
    with pytest.raises(MalformedEvent) as caught:
        parse(payload, field_map)
    return str(caught.value)


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x-connector-secret", "X-CONNECTOR-SECRET"])
def test_secret_header_name_is_matched_in_any_case(name: str) -> None:
    headers = {"content-type": "application/json", name: CLOUDTALK_SECRET}
    cloudtalk.verify(headers, CLOUDTALK_SECRET)


def test_secret_sent_as_authorization_header_is_not_accepted() -> None:
    headers = cloudtalk_headers(secret=MISSING, Authorization=f"Bearer {CLOUDTALK_SECRET}")
    with pytest.raises(WebhookRejected):
        cloudtalk.verify(headers, CLOUDTALK_SECRET)


# --- message received / sent --------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("delivered", DeliveryStatus.DELIVERED),
        ("Delivered", DeliveryStatus.DELIVERED),
        ("failed", DeliveryStatus.NOT_SENT),
        ("undelivered", DeliveryStatus.NOT_SENT),
        ("sent", DeliveryStatus.SENT),
        ("", DeliveryStatus.SENT),
        ("beamed", DeliveryStatus.UNKNOWN),
    ],
)
def test_sent_body_status_is_the_status_update_for_that_message(
    word: str, status: DeliveryStatus
) -> None:
    event = parse(cloudtalk_body("message.sent", status=word))

    assert event.status is status
    assert event.provider_message_id == "884422"
    assert event.message is not None and event.message.status is status


def test_numbers_sent_as_json_numbers_without_plus_are_read_as_international() -> None:
    event = parse(cloudtalk_body(internal_number=13125550100, external_number="15551234567"))
    assert event.message is not None
    assert event.message.line_number == LINE
    assert event.message.other_party == OTHER_PARTY


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-05-01 09:59:58",
        "2026-05-01T09:59:58Z",
        "2026-05-01T11:59:58+02:00",
        1_777_629_598,
        1_777_629_598_000,
        "1777629598",
    ],
)
def test_created_at_in_any_format_is_a_utc_instant(created_at: Any) -> None:
    assert parse(cloudtalk_body(created_at=created_at)).occurred_at == SENT_AT


def test_without_a_date_the_event_is_dated_when_it_arrives() -> None:
    before = datetime.now(UTC)
    event = parse(cloudtalk_body(created_at=MISSING))
    assert before <= event.occurred_at <= datetime.now(UTC)


# --- media --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "media_urls",
    [
        ["https://m.example.com/a.png", "https://m.example.com/b.jpg"],
        '["https://m.example.com/a.png", "https://m.example.com/b.jpg"]',
        "https://m.example.com/a.png, https://m.example.com/b.jpg",
        "https://m.example.com/a.png https://m.example.com/b.jpg",
    ],
)
def test_media_urls_become_attachments(media_urls: Any) -> None:
    event = parse(cloudtalk_body(media_urls=media_urls))

    assert event.message is not None
    attachments = event.message.attachments
    assert [a.source_url for a in attachments] == [
        "https://m.example.com/a.png",
        "https://m.example.com/b.jpg",
    ]
    assert [a.name for a in attachments] == ["a.png", "b.jpg"]
    assert all(a.declared_type is None for a in attachments)


# --- dedupe ids ---------------------------------------------------------------------------


def test_later_status_of_the_same_sent_message_has_another_id() -> None:
    delivered = parse(cloudtalk_body("message.sent", status="delivered"))
    failed = parse(cloudtalk_body("message.sent", status="failed"))
    plain = parse(cloudtalk_body("message.sent", status=MISSING))

    assert len({delivered.event_id, failed.event_id, plain.event_id}) == 3
    assert delivered.event_id == "cloudtalk:message.sent:884422:delivered"


def test_message_without_an_id_gets_one_derived_from_its_content_and_date() -> None:
    first = parse(cloudtalk_body(message_id=MISSING))
    again = parse(cloudtalk_body(message_id=MISSING))
    later = parse(cloudtalk_body(message_id=MISSING, created_at="2026-05-01 10:05:00"))
    other_text = parse(cloudtalk_body(message_id=MISSING, text="Another"))

    assert first.provider_message_id is not None
    assert first.provider_message_id.startswith("derived-")
    assert first.event_id == again.event_id
    assert first.provider_message_id == again.provider_message_id
    assert later.provider_message_id != first.provider_message_id
    assert other_text.provider_message_id != first.provider_message_id


def test_message_without_an_id_or_a_date_is_malformed() -> None:
    payload = cloudtalk_body(message_id=MISSING, created_at=MISSING)
    assert malformed_reason(payload) == "message_id is required (or created_at, to derive one)"


# --- the documented templates -------------------------------------------------------------


def _filled(template: str, **values: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(template)
    for key, value in values.items():
        body[key] = value
    return body


def test_templates_are_json_whose_keys_the_default_field_map_reads() -> None:
    field_map = CloudTalkFieldMap()
    read_keys = {
        field_map.event,
        field_map.message_id,
        field_map.line_number,
        field_map.other_party,
        field_map.text,
        field_map.media_urls,
        field_map.status,
        field_map.created_at,
    }
    received = json.loads(cloudtalk.RECEIVED_BODY_TEMPLATE)
    sent = json.loads(cloudtalk.SENT_BODY_TEMPLATE)

    assert set(received) <= read_keys
    assert set(sent) == read_keys
    assert received["event"] == field_map.received_event
    assert sent["event"] == field_map.sent_event


def test_filled_in_templates_parse_into_received_and_sent_messages() -> None:
    values = {
        "message_id": "77",
        "internal_number": "13125550100",
        "external_number": "+1 (555) 123-4567",
        "text": "Hi",
        "media_urls": "https://m.example.com/a.png",
        "created_at": "2026-05-01 09:59:58",
    }
    received = parse(_filled(cloudtalk.RECEIVED_BODY_TEMPLATE, **values))
    sent = parse(_filled(cloudtalk.SENT_BODY_TEMPLATE, **values, status="delivered"))

    assert received.kind is EventKind.MESSAGE_RECEIVED
    assert sent.kind is EventKind.MESSAGE_SENT
    assert sent.status is DeliveryStatus.DELIVERED
    assert received.message is not None and received.message.other_party == OTHER_PARTY


def test_template_left_with_its_placeholders_is_malformed_and_names_the_number_field() -> None:
    body = json.loads(cloudtalk.RECEIVED_BODY_TEMPLATE)
    assert malformed_reason(body) == "internal_number: not a phone number"


def test_media_placeholder_left_in_the_template_is_refused_not_taken_for_urls() -> None:
    body = cloudtalk_body(media_urls=json.loads(cloudtalk.RECEIVED_BODY_TEMPLATE)["media_urls"])
    assert malformed_reason(body) == "media_urls[0]: not a URL"


# --- field map ----------------------------------------------------------------------------


def test_field_map_reads_a_body_built_with_other_keys_and_event_names() -> None:
    field_map = CloudTalkFieldMap(
        event="type",
        message_id="sms_id",
        line_number="via",
        other_party="contact_phone",
        text="content",
        media_urls="images",
        status="delivery",
        created_at="date",
        received_event="sms_in",
        sent_event="sms_out",
    )
    body = {
        "type": "sms_out",
        "sms_id": "5",
        "via": LINE,
        "contact_phone": OTHER_PARTY,
        "content": "Quote attached",
        "images": ["https://m.example.com/q.png"],
        "delivery": "failed",
        "date": "2026-05-01 09:59:58",
    }
    event = parse(body, field_map)

    assert event.kind is EventKind.MESSAGE_SENT
    assert event.status is DeliveryStatus.NOT_SENT
    assert event.provider_message_id == "5"
    assert event.message is not None
    assert event.message.text == "Quote attached"
    assert len(event.message.attachments) == 1


def test_field_map_reaches_into_nested_objects_with_dotted_keys() -> None:
    field_map = CloudTalkFieldMap(text="message.text", other_party="contact.number")
    body = cloudtalk_body(
        text=MISSING,
        external_number=MISSING,
        message={"text": "Nested"},
        contact={"number": OTHER_PARTY},
    )
    event = parse(body, field_map)

    assert event.message is not None
    assert event.message.text == "Nested"
    assert event.message.other_party == OTHER_PARTY


def test_missing_field_is_named_with_the_admins_own_key() -> None:
    field_map = CloudTalkFieldMap(line_number="via")
    assert malformed_reason(cloudtalk_body(), field_map) == "via is required"


def test_dotted_key_through_a_non_object_is_malformed() -> None:
    field_map = CloudTalkFieldMap(text="message.text")
    assert malformed_reason(cloudtalk_body(message="flat"), field_map) == "message: not an object"


def test_field_map_refuses_unknown_settings_and_empty_keys() -> None:
    with pytest.raises(ValidationError):
        CloudTalkFieldMap(txt="text")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        CloudTalkFieldMap(text="")


# --- bad payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (cloudtalk_body(event=MISSING), "event is required"),
        (
            cloudtalk_body(event="call.ended"),
            "event: 'call.ended' is neither 'message.received' nor 'message.sent'",
        ),
        (cloudtalk_body(internal_number=MISSING), "internal_number is required"),
        (cloudtalk_body(external_number=""), "external_number is required"),
        (cloudtalk_body(external_number="not a number"), "external_number: not a phone number"),
        (cloudtalk_body(internal_number=True), "internal_number: not a phone number"),
        (cloudtalk_body(text=["Hi"]), "text: not a string"),
        (cloudtalk_body(message_id=["x"]), "message_id: not a string"),
        (cloudtalk_body(created_at="last tuesday"), "created_at: not a date"),
        (cloudtalk_body(media_urls={"a": 1}), "media_urls: not a list of URLs"),
        (cloudtalk_body(media_urls="[not json"), "media_urls: not a list of URLs"),
        (cloudtalk_body(media_urls=[1]), "media_urls[0]: not a string"),
        (cloudtalk_body(media_urls="photo.png"), "media_urls[0]: not a URL"),
        (cloudtalk_body("message.sent", status=404), "status: not a string"),
    ],
)
def test_bad_body_is_malformed_and_names_the_field(payload: dict[str, Any], reason: str) -> None:
    assert malformed_reason(payload) == reason


def test_the_connect_check_test_event_is_acknowledged_and_never_a_message() -> None:
    field_map = cloudtalk.CloudTalkFieldMap(event="meta.kind")
    body = cloudtalk.test_body(field_map, "check-1")

    event = cloudtalk.parse_event(body, field_map)

    assert body == {"check_id": "check-1", "meta": {"kind": "connector.test"}}
    assert event.kind is EventKind.IGNORED and event.message is None
    other = cloudtalk.parse_event(cloudtalk.test_body(field_map, "check-2"), field_map)
    assert event.event_id != other.event_id
