"""The render context applies the MMS rules once for every CRM: at most 4 media previewed, the rest
counted as `+N more`, unsupported media never linked, and plain data only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connector.core.model import Attachment, DeliveryStatus, Direction, Line, Provider
from connector.mapping import CapturedMessage, build_context
from connector.mapping.templates import CONTEXT_KEYS
from tests.mapping.factories import (
    ALERT,
    CONVERSATION,
    WHEN,
    context,
    image,
    line_entry,
    message,
    video,
)


@pytest.mark.parametrize(
    ("images", "shown", "more"),
    [(0, 0, 0), (1, 1, 0), (4, 4, 0), (5, 4, 1), (10, 4, 6)],
)
def test_at_most_four_media_are_previewed_and_the_rest_counted(
    images: int, shown: int, more: int
) -> None:
    data = context(message(attachments=[image(n) for n in range(images)])).data
    assert len(data["preview"]) == shown
    assert data["more_count"] == more
    assert len(data["attachments"]) == images


def test_media_without_a_link_are_neither_previewed_nor_counted() -> None:
    files = [video(), image(1), video(), image(2), image(3), image(4), image(5)]
    data = context(message(attachments=files)).data
    assert [a["name"] for a in data["preview"]] == [f"photo-{n}.jpg" for n in range(1, 5)]
    assert data["more_count"] == 1
    assert [a["available"] for a in data["attachments"]] == [False, True, False] + [True] * 4
    assert data["attachments"][0]["url"] is None
    assert data["alert"] == ALERT


def test_the_links_must_match_the_attachments() -> None:
    msg = message(attachments=[image(1), image(2)])
    with pytest.raises(ValueError, match="1 links for 2 attachments"):
        build_context(
            msg, line=None, attachment_links=["https://x/1"], conversation_url=CONVERSATION
        )


def test_no_links_means_no_media_shown() -> None:
    msg = message(attachments=[image(1)])
    data = build_context(msg, line=None, conversation_url=CONVERSATION).data
    assert data["preview"] == []
    assert data["message"]["summary"] == "Unsupported content"


@pytest.mark.parametrize(
    ("files", "text", "summary"),
    [
        ([image(1), image(2), video()], "hello", "2 attachments"),
        ([image(1)], "hello", "1 attachment"),
        ([video()], "hello", "Unsupported content"),
        ([], "  hello\n  there  ", "hello there"),
        ([], "x" * 200, "x" * 79 + "…"),
    ],
)
def test_the_summary_mirrors_the_notification_preview(
    files: list[Attachment], text: str, summary: str
) -> None:
    data = context(message(attachments=files, text=text)).data
    assert data["message"]["summary"] == summary


def test_labels_say_direction_and_delivery_status() -> None:
    inbound = context(message()).data
    outbound = context(message(direction=Direction.OUTBOUND, status=DeliveryStatus.NOT_SENT)).data
    assert inbound["message"]["direction_label"] == "Inbound MMS"
    assert outbound["message"]["direction_label"] == "Outbound MMS"
    assert outbound["status"] == "not_sent"
    assert outbound["status_label"] == "Not sent"
    assert context(message(direction=Direction.OUTBOUND)).data["status_label"] == "Delivered"


def test_numbers_come_in_e164_and_national_format() -> None:
    data = context(message(other_party="+61491570156")).data
    assert data["contact"] == {"e164": "+61491570156", "national": "0491 570 156"}
    assert data["line"]["national"] == "(415) 555-0100"
    assert data["line"]["display"] == "US Sales (+14155550100)"


def test_a_line_missing_from_lines_yaml_is_shown_by_its_number() -> None:
    data = build_context(message(), line=None, conversation_url=CONVERSATION).data
    assert data["line"]["display"] == "+14155550100"
    assert data["line"]["label"] == ""


def test_a_core_line_has_no_owners() -> None:
    core = Line(number="+14155550100", provider=Provider.AIRCALL, label="US")
    assert build_context(message(), line=core, conversation_url=CONVERSATION).owners == {}
    assert dict(context(message(), line=line_entry(hubspot_owner="7")).owners) == {
        "hubspot": "7",
        "salesforce": "005000000000001AAA",
    }


def test_a_day_of_messages_is_given_in_order_each_with_its_own_media() -> None:
    first = message(message_id="a", attachments=[video()])
    second = message(message_id="b", direction=Direction.OUTBOUND, sent_at=WHEN + timedelta(1))
    day = [
        CapturedMessage(second),
        CapturedMessage(first, [None], ALERT),
    ]
    data = build_context(second, line=None, conversation_url=CONVERSATION, messages=day).data
    assert [m["id"] for m in data["messages"]] == ["a", "b"]
    assert data["messages"][0]["alert"] == ALERT
    assert data["alert"] is None  # the top-level keys are those of `message`
    assert data["messages"][1] is data["message"]


def test_a_single_message_is_its_own_day() -> None:
    data = context(message()).data
    assert data["messages"] == [data["message"]]


def test_the_context_offers_exactly_the_documented_keys() -> None:
    assert set(context(message()).data) | {"granularity"} == CONTEXT_KEYS


def test_the_context_is_plain_data() -> None:
    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value).__module__ in ("builtins", "datetime")

    data = context(message(attachments=[image(1), video()])).data
    assert all(plain(value) for value in data.values())
