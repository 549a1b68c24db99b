"""CloudTalk workflow bodies: the secret header, the documented templates, the field map."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connector.core.events import EventKind, MalformedEvent, ProviderEvent, WebhookRejected
from connector.core.model import DeliveryStatus, Direction, Provider
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


def test_secret_header_equal_to_the_configured_secret_is_accepted() -> None:
    cloudtalk.verify(cloudtalk_headers(), CLOUDTALK_SECRET)


@pytest.mark.parametrize("name", ["x-connector-secret", "X-CONNECTOR-SECRET"])
def test_secret_header_name_is_matched_in_any_case(name: str) -> None:
    headers = {"content-type": "application/json", name: CLOUDTALK_SECRET}
    cloudtalk.verify(headers, CLOUDTALK_SECRET)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookRejected, match="X-Connector-Secret header is wrong"):
        cloudtalk.verify(cloudtalk_headers(secret="guess"), CLOUDTALK_SECRET)


@pytest.mark.parametrize("secret", [MISSING, ""])
def test_missing_secret_is_rejected(secret: Any) -> None:
    with pytest.raises(WebhookRejected, match="X-Connector-Secret header is missing"):
        cloudtalk.verify(cloudtalk_headers(secret=secret), CLOUDTALK_SECRET)


def test_secret_sent_as_authorization_header_is_not_accepted() -> None:
    headers = cloudtalk_headers(secret=MISSING, Authorization=f"Bearer {CLOUDTALK_SECRET}")
    with pytest.raises(WebhookRejected):
        cloudtalk.verify(headers, CLOUDTALK_SECRET)


def test_nothing_is_accepted_when_no_secret_is_configured() -> None:
    with pytest.raises(WebhookRejected, match="no CloudTalk webhook secret"):
        cloudtalk.verify(cloudtalk_headers(secret=""), "")


# --- message received / sent --------------------------------------------------------------


def test_received_body_becomes_an_inbound_message_on_the_cloudtalk_line() -> None:
    event = parse(cloudtalk_body("message.received"))

    assert event.kind is EventKind.MESSAGE_RECEIVED
    assert event.provider is Provider.CLOUDTALK
    assert event.provider_message_id == "884422"
    assert event.occurred_at == SENT_AT
    assert event.status is DeliveryStatus.RECEIVED
    message = event.message
    assert message is not None
    assert message.direction is Direction.INBOUND
    assert message.line_number == LINE
    assert message.other_party == OTHER_PARTY
    assert message.text == "Here is the photo"
    assert message.sent_at == SENT_AT
    assert message.key == "cloudtalk:884422"


def test_sent_body_becomes_an_outbound_message() -> None:
    event = parse(cloudtalk_body("message.sent", status=MISSING))

    assert event.kind is EventKind.MESSAGE_SENT
    assert event.status is DeliveryStatus.SENT
    assert event.message is not None
    assert event.message.direction is Direction.OUTBOUND
    assert event.message.line_number == LINE
    assert event.message.other_party == OTHER_PARTY


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


def test_numeric_message_id_is_read_as_text() -> None:
    assert parse(cloudtalk_body(message_id=884422)).provider_message_id == "884422"


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


@pytest.mark.parametrize("media_urls", [MISSING, None, "", "  ", []])
def test_body_without_media_has_no_attachments(media_urls: Any) -> None:
    event = parse(cloudtalk_body(media_urls=media_urls))
    assert event.message is not None and event.message.attachments == ()


# --- dedupe ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_name", ["message.received", "message.sent"])
def test_repeated_run_of_the_same_workflow_has_the_same_id(event_name: str) -> None:
    assert parse(cloudtalk_body(event_name)).event_id == parse(cloudtalk_body(event_name)).event_id


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


@pytest.mark.parametrize("payload", [None, [], "message.received"])
def test_body_that_is_not_an_object_is_malformed(payload: Any) -> None:
    assert malformed_reason(payload).startswith("payload")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=3 * settings().max_examples)  # 300, or 75 under the `ci` profile
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "message_id",
                "internal_number",
                "external_number",
                "text",
                "media_urls",
                "status",
                "created_at",
            ]
        ),
        _json,
    ),
    event=st.sampled_from(["message.received", "message.sent"]) | _json,
)
def test_any_json_in_any_field_parses_or_is_malformed_never_another_error(
    body: dict[str, Any], event: Any
) -> None:
    try:
        result = cloudtalk.parse_event(cloudtalk_body(**{"event": event, **body}))
    except MalformedEvent:
        return
    assert isinstance(result, ProviderEvent)


def test_the_connect_check_test_event_is_acknowledged_and_never_a_message() -> None:
    field_map = cloudtalk.CloudTalkFieldMap(event="meta.kind")
    body = cloudtalk.test_body(field_map, "check-1")

    event = cloudtalk.parse_event(body, field_map)

    assert body == {"check_id": "check-1", "meta": {"kind": "connector.test"}}
    assert event.kind is EventKind.IGNORED and event.message is None
    other = cloudtalk.parse_event(cloudtalk.test_body(field_map, "check-2"), field_map)
    assert event.event_id != other.event_id
