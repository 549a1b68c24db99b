"""What every provider's webhook parser does alike, for Aircall and CloudTalk: the shared secret
admits a webhook, a message event becomes a message on the provider's line, a redelivery keeps
its dedupe id, and no body (JSON of any shape) raises anything but MalformedEvent.

Each provider's own shapes (Aircall's envelope and numbers, CloudTalk's templates and field
map) stay in `test_aircall.py` and `test_cloudtalk.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core.events import EventKind, MalformedEvent, ProviderEvent, WebhookRejected
from connector.core.model import DeliveryStatus, Direction, Provider
from connector.providers import aircall, cloudtalk
from tests.providers.factories import (
    AIRCALL_TOKEN,
    CLOUDTALK_SECRET,
    LINE,
    MESSAGE_ID,
    MISSING,
    OTHER_PARTY,
    aircall_event,
    cloudtalk_body,
    cloudtalk_headers,
)


@dataclass(frozen=True)
class Webhooks:
    """One provider's webhooks as these tests drive them, from the provider's own factories."""

    provider: Provider
    parse: Callable[[Any], ProviderEvent]
    verify: Callable[[Any, str], None]
    secret: str
    # What carries the secret (Aircall: the body's `token`; CloudTalk: a header); `MISSING`
    # leaves it out.
    presenting: Callable[[Any], Any]
    wrong: str  # how a wrong secret is refused
    missing: str  # how a missing one is refused
    unconfigured: str  # how every webhook is refused when no secret is configured
    message: Callable[..., dict[str, Any]]  # (event name, **fields of the message)
    message_events: tuple[str, ...]
    id_field: str
    message_id: str
    text: str
    no_media: tuple[tuple[str, Any], ...]  # (field, value): a message without media
    payloads: st.SearchStrategy[Any]  # bodies with any JSON in the fields the parser reads

    def sent(self) -> dict[str, Any]:
        return self.message("message.sent")

    def __str__(self) -> str:
        return self.provider.value


def _aircall_message(event: str = "message.received", **data: Any) -> dict[str, Any]:
    return aircall_event(event, data=data)


def _cloudtalk_message(event: str = "message.received", **fields: Any) -> dict[str, Any]:
    """A sent message's body without the status of a later delivery report."""
    defaults: dict[str, Any] = {"status": MISSING} if event == "message.sent" else {}
    return cloudtalk_body(event, **{**defaults, **fields})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
AIRCALL_EVENTS = ("message.received", "message.sent", "message.status_updated")
AIRCALL_FIELDS = [
    "id",
    "status",
    "channel",
    "direction",
    "body",
    "number",
    "external_number",
    "raw_digits",
    "media_details",
    "media_url",
    "created_at",
    "sent_at",
    "updated_at",
]
CLOUDTALK_EVENTS = ("message.received", "message.sent")
CLOUDTALK_FIELDS = [
    "message_id",
    "internal_number",
    "external_number",
    "text",
    "media_urls",
    "status",
    "created_at",
]

AIRCALL = Webhooks(
    provider=Provider.AIRCALL,
    parse=aircall.parse_event,
    verify=aircall.verify,
    secret=AIRCALL_TOKEN,
    presenting=lambda token: aircall_event(token=token),
    wrong="token is wrong",
    missing="token is missing",
    unconfigured="no Aircall webhook token",
    message=_aircall_message,
    message_events=AIRCALL_EVENTS,
    id_field="id",
    message_id=MESSAGE_ID,
    text="Photo of the damage attached",
    no_media=(("media_details", MISSING), ("media_details", None), ("media_details", [])),
    payloads=st.builds(
        lambda event, data, timestamp: aircall_event(event, timestamp=timestamp, data=data),
        st.sampled_from([*AIRCALL_EVENTS, "call.created"]) | st.text(max_size=10),
        st.dictionaries(st.sampled_from(AIRCALL_FIELDS), _json),
        _json,
    ),
)
CLOUDTALK = Webhooks(
    provider=Provider.CLOUDTALK,
    parse=cloudtalk.parse_event,
    verify=cloudtalk.verify,
    secret=CLOUDTALK_SECRET,
    presenting=cloudtalk_headers,
    wrong="X-Connector-Secret header is wrong",
    missing="X-Connector-Secret header is missing",
    unconfigured="no CloudTalk webhook secret",
    message=_cloudtalk_message,
    message_events=CLOUDTALK_EVENTS,
    id_field="message_id",
    message_id="884422",
    text="Here is the photo",
    no_media=tuple(("media_urls", value) for value in (MISSING, None, "", "  ", [])),
    payloads=st.builds(
        lambda body, event: cloudtalk_body(**{"event": event, **body}),
        st.dictionaries(st.sampled_from(CLOUDTALK_FIELDS), _json),
        st.sampled_from(CLOUDTALK_EVENTS) | _json,
    ),
)
PROVIDERS = [AIRCALL, CLOUDTALK]


def _shown(value: Any) -> str:
    """A test id the same in every xdist process (the `MISSING` sentinel has no stable repr)."""
    return "absent" if value is MISSING else repr(value)


each_provider = pytest.mark.parametrize("webhooks", PROVIDERS, ids=str)


# --- authentication -------------------------------------------------------------------------


@each_provider
def test_the_configured_secret_is_accepted(webhooks: Webhooks) -> None:
    webhooks.verify(webhooks.presenting(webhooks.secret), webhooks.secret)


@each_provider
def test_a_wrong_secret_is_rejected(webhooks: Webhooks) -> None:
    with pytest.raises(WebhookRejected, match=webhooks.wrong):
        webhooks.verify(webhooks.presenting("forged-" + webhooks.secret), webhooks.secret)


@pytest.mark.parametrize("secret", [MISSING, ""])
@each_provider
def test_a_missing_secret_is_rejected(webhooks: Webhooks, secret: Any) -> None:
    with pytest.raises(WebhookRejected, match=webhooks.missing):
        webhooks.verify(webhooks.presenting(secret), webhooks.secret)


@each_provider
def test_nothing_is_accepted_when_no_secret_is_configured(webhooks: Webhooks) -> None:
    with pytest.raises(WebhookRejected, match=webhooks.unconfigured):
        webhooks.verify(webhooks.presenting(""), "")


# --- message events -------------------------------------------------------------------------


@each_provider
def test_a_received_message_is_inbound_on_the_providers_line(webhooks: Webhooks) -> None:
    event = webhooks.parse(webhooks.message("message.received"))

    assert event.kind is EventKind.MESSAGE_RECEIVED
    assert event.provider is webhooks.provider
    assert event.provider_message_id == webhooks.message_id
    assert event.status is DeliveryStatus.RECEIVED
    message = event.message
    assert message is not None
    assert message.direction is Direction.INBOUND
    assert message.line_number == LINE
    assert message.other_party == OTHER_PARTY
    assert message.text == webhooks.text
    assert message.status is DeliveryStatus.RECEIVED
    assert message.sent_at == datetime(2026, 5, 1, 9, 59, 58, tzinfo=UTC)
    assert message.key == f"{webhooks.provider.value}:{webhooks.message_id}"


@each_provider
def test_a_sent_message_is_outbound_with_the_same_line_and_other_party(
    webhooks: Webhooks,
) -> None:
    event = webhooks.parse(webhooks.sent())

    assert event.kind is EventKind.MESSAGE_SENT
    assert event.status is DeliveryStatus.SENT
    message = event.message
    assert message is not None
    assert message.direction is Direction.OUTBOUND
    assert message.line_number == LINE
    assert message.other_party == OTHER_PARTY


@each_provider
def test_a_numeric_message_id_is_read_as_text(webhooks: Webhooks) -> None:
    event = webhooks.parse(webhooks.message(**{webhooks.id_field: 884422}))
    assert event.provider_message_id == "884422"


NO_MEDIA = [
    (webhooks, field, value) for webhooks in PROVIDERS for field, value in webhooks.no_media
]


@pytest.mark.parametrize(
    ("webhooks", "field", "value"),
    NO_MEDIA,
    ids=[f"{webhooks}-{field}={_shown(value)}" for webhooks, field, value in NO_MEDIA],
)
def test_a_message_without_media_has_no_attachments(
    webhooks: Webhooks, field: str, value: Any
) -> None:
    event = webhooks.parse(webhooks.message(**{field: value}))
    assert event.message is not None and event.message.attachments == ()


# --- dedupe ids and bad bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhooks", "event_name"),
    [(webhooks, name) for webhooks in PROVIDERS for name in webhooks.message_events],
    ids=str,
)
def test_a_redelivered_event_has_the_same_id(webhooks: Webhooks, event_name: str) -> None:
    first = webhooks.parse(webhooks.message(event_name))
    again = webhooks.parse(webhooks.message(event_name))
    assert first.event_id == again.event_id


@pytest.mark.parametrize("payload", [None, [], "message.received", 42])
@each_provider
def test_a_body_that_is_not_an_object_is_malformed(webhooks: Webhooks, payload: Any) -> None:
    with pytest.raises(MalformedEvent, match=r"^payload"):
        webhooks.parse(payload)


@each_provider
@settings(max_examples=3 * settings().max_examples)  # 300, or 75 under the `ci` profile
@given(data=st.data())
def test_any_json_in_any_field_parses_or_is_malformed_never_another_error(
    webhooks: Webhooks, data: st.DataObject
) -> None:
    payload = data.draw(webhooks.payloads)
    try:
        result = webhooks.parse(payload)
    except MalformedEvent:
        return
    assert isinstance(result, ProviderEvent)
