"""The mappings shipped in `mappings/` produce the records the README describes, for every kind of
message, and read well in each CRM: HubSpot gets simple HTML with customer text escaped,
Salesforce a plain-text Task within its field limits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import structlog

from connector.core.model import DeliveryStatus, Direction, Message
from connector.mapping import (
    CrmMapping,
    CrmRecord,
    Granularity,
    MappingSet,
    check_directory,
    load_mappings,
    render_record,
)
from tests.mapping.factories import (
    ALERT,
    CONVERSATION,
    PUBLIC,
    SHIPPED,
    WHEN,
    context,
    image,
    load,
    message,
    shipped_text,
    video,
)

INBOUND_TEXT = message(text="Is the order ready?")
SIX_IMAGES = message(message_id="m6", text="Photos", attachments=[image(n) for n in range(1, 7)])
WITH_UNSUPPORTED = message(message_id="mu", text="Photo and video", attachments=[image(1), video()])
ONLY_UNSUPPORTED = message(message_id="mo", text="", attachments=[video()])
OUTBOUND_DELIVERED = message(
    message_id="od", direction=Direction.OUTBOUND, text="Your quote", attachments=[image(1)]
)
OUTBOUND_NOT_SENT = message(
    message_id="on", direction=Direction.OUTBOUND, text="Try", status=DeliveryStatus.NOT_SENT
)


@pytest.fixture(scope="module")
def shipped() -> MappingSet:
    return load_mappings(SHIPPED)


def hubspot(mappings: MappingSet) -> CrmMapping:
    mapping = mappings.get("hubspot")
    assert mapping is not None
    return mapping


def salesforce(mappings: MappingSet) -> CrmMapping:
    mapping = mappings.get("salesforce")
    assert mapping is not None
    return mapping


def body(mappings: MappingSet, msg: Message) -> str:
    value = render_record(hubspot(mappings), context(msg)).fields["hs_communication_body"]
    assert isinstance(value, str)
    return value


def task(mappings: MappingSet, msg: Message) -> CrmRecord:
    return render_record(salesforce(mappings), context(msg))


def test_the_shipped_mappings_pass_check_with_only_placeholder_warnings() -> None:
    report = check_directory(SHIPPED)
    assert report.ok, report.lines()
    assert report.warnings
    assert all("placeholder 'REPLACE-ME-" in p.message for p in report.warnings)


def test_the_shipped_lines_are_listed_for_sending(shipped: MappingSet) -> None:
    lines = {line.number: line for line in shipped.lines.lines()}
    assert set(lines) == {"+14155550100", "+61491570156", "+16465550199"}
    assert lines["+14155550100"].mms_capable
    assert lines["+16465550199"].provider.value == "cloudtalk"


# -- HubSpot ------------------------------------------------------------------------------------


def test_hubspot_logs_a_communication_with_fixed_and_mapped_properties(
    shipped: MappingSet,
) -> None:
    record = render_record(hubspot(shipped), context(INBOUND_TEXT))
    assert record.object_name == "communications"
    assert record.fields["hs_communication_channel_type"] == "SMS"
    assert record.fields["hs_communication_logged_from"] == "CRM"
    assert record.fields["hs_timestamp"] == "2024-05-01T14:30:00.000Z"
    assert record.owner_id == "111"
    assert record.payload()["hubspot_owner_id"] == "111"
    assert record.key_field == "mms_message_key"
    assert record.key == "aircall:m1"
    assert record.thread_field == "mms_thread_key"
    assert record.thread_key == "aircall:+14155550100:+14155550123"


def test_hubspot_body_of_an_inbound_text(shipped: MappingSet) -> None:
    assert body(shipped, INBOUND_TEXT) == (
        "<p><strong>Inbound MMS</strong> from +14155550123 to US Sales (+14155550100)"
        " · 2024-05-01 14:30 UTC</p>\n"
        "<p>Is the order ready?</p>\n"
        f'<p><a href="{CONVERSATION}">View the whole conversation</a></p>'
    )


def test_hubspot_body_links_four_media_and_counts_the_rest(shipped: MappingSet) -> None:
    text = body(shipped, SIX_IMAGES)
    links = "".join(
        f'<a href="{PUBLIC}/media/m6-{n}">photo-{n}.jpg</a>' + (" · " if n < 4 else "")
        for n in range(1, 5)
    )
    assert f'<p>{links} · <a href="{CONVERSATION}">+2 more</a></p>' in text
    assert "photo-5.jpg" not in text


def test_hubspot_body_carries_the_alert_and_no_link_to_unsupported_media(
    shipped: MappingSet,
) -> None:
    text = body(shipped, WITH_UNSUPPORTED)
    assert f"<p><em>{ALERT}</em></p>" in text
    assert "photo-1.jpg" in text
    assert "clip.mp4" not in text


def test_hubspot_body_with_only_unsupported_media_shows_only_the_alert(
    shipped: MappingSet,
) -> None:
    text = body(shipped, ONLY_UNSUPPORTED)
    assert f"<p><em>{ALERT}</em></p>" in text
    assert "<a href" not in text.replace(f'<a href="{CONVERSATION}">View', "")


@pytest.mark.parametrize(
    ("msg", "status"),
    [(OUTBOUND_DELIVERED, "Delivered"), (OUTBOUND_NOT_SENT, "Not sent")],
)
def test_hubspot_body_of_an_outbound_message_shows_its_delivery_status(
    shipped: MappingSet, msg: Message, status: str
) -> None:
    text = body(shipped, msg)
    assert text.startswith(
        "<p><strong>Outbound MMS</strong> from US Sales (+14155550100) to +14155550123"
    )
    assert f"<p>Status: {status}</p>" in text


def test_hubspot_body_of_an_inbound_message_shows_no_status(shipped: MappingSet) -> None:
    assert "Status:" not in body(shipped, INBOUND_TEXT)


def test_hubspot_body_escapes_customer_text_and_file_names(shipped: MappingSet) -> None:
    hostile = message(
        text='<script>alert("x")</script>\nline two',
        attachments=[image(1).model_copy(update={"name": '"><img src=x>.jpg'})],
    )
    text = body(shipped, hostile)
    assert "<script>" not in text and "<img" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;<br>line two" in text
    assert "&#34;&gt;&lt;img src=x&gt;.jpg" in text


def test_hubspot_creates_a_contact_when_none_matches(shipped: MappingSet) -> None:
    record = render_record(hubspot(shipped), context(INBOUND_TEXT))
    rule = record.contact_rule
    assert rule.objects == ("contacts",)
    assert rule.phone_fields == {"contacts": ("phone", "mobilephone")}
    assert rule.on_no_match == "create"
    assert rule.create_object == "contacts"
    assert rule.create_fields == {
        "firstname": "MMS contact",
        "lastname": "(415) 555-0123",
        "phone": "+14155550123",
    }
    assert record.associations.company is True
    assert record.associations.open_deals is False


# -- Salesforce ---------------------------------------------------------------------------------


def test_salesforce_logs_a_completed_task(shipped: MappingSet) -> None:
    record = task(shipped, INBOUND_TEXT)
    assert record.object_name == "Task"
    assert record.fields["Subject"] == "Inbound MMS from +14155550123: Is the order ready?"
    assert record.fields["ActivityDate"] == "2024-05-01"
    assert record.fields["Status"] == "Completed"
    assert record.fields["TaskSubtype"] == "Task"
    assert record.create_only == frozenset({"TaskSubtype"})
    assert record.owner_id == "005000000000001AAA"
    assert record.key_field == "MMS_Message_Key__c"
    assert record.thread_field == "MMS_Thread_Key__c"
    assert record.associations.what_id is None


def test_salesforce_description_is_plain_text_with_links(shipped: MappingSet) -> None:
    record = task(shipped, SIX_IMAGES)
    assert record.fields["Subject"] == "Inbound MMS from +14155550123: 6 attachments"
    assert record.fields["Description"] == "\n".join(
        [
            "Inbound MMS from +14155550123 to US Sales (+14155550100), 2024-05-01 14:30 UTC",
            "Photos",
            *(f"photo-{n}.jpg: {PUBLIC}/media/m6-{n}" for n in range(1, 5)),
            f"+2 more: {CONVERSATION}",
            "",
            f"Whole conversation: {CONVERSATION}",
        ]
    )


def test_salesforce_description_keeps_customer_text_as_typed(shipped: MappingSet) -> None:
    record = task(shipped, message(text="5 < 6 & <b>ok</b>"))
    description = record.fields["Description"]
    assert isinstance(description, str)
    assert "\n5 < 6 & <b>ok</b>\n" in description


def test_salesforce_task_of_unsupported_media(shipped: MappingSet) -> None:
    record = task(shipped, ONLY_UNSUPPORTED)
    assert record.fields["Subject"] == "Inbound MMS from +14155550123: Unsupported content"
    description = record.fields["Description"]
    assert isinstance(description, str)
    assert ALERT in description
    assert "clip.mp4" not in description


@pytest.mark.parametrize(
    ("msg", "status"),
    [(OUTBOUND_DELIVERED, "Delivered"), (OUTBOUND_NOT_SENT, "Not sent")],
)
def test_salesforce_task_of_an_outbound_message_shows_its_status(
    shipped: MappingSet, msg: Message, status: str
) -> None:
    record = task(shipped, msg)
    assert str(record.fields["Subject"]).startswith("Outbound MMS to +14155550123: ")
    assert f"\nStatus: {status}\n" in str(record.fields["Description"])


def test_salesforce_creates_a_lead_after_contacts_then_leads(shipped: MappingSet) -> None:
    rule = task(shipped, INBOUND_TEXT).contact_rule
    assert rule.objects == ("Contact", "Lead")
    assert rule.phone_fields["Contact"][:2] == ("Phone", "MobilePhone")
    assert rule.create_object == "Lead"
    assert rule.create_fields == {
        "LastName": "(415) 555-0123",
        "Company": "Unknown (MMS)",
        "Phone": "+14155550123",
    }


def test_a_long_text_is_cut_to_the_description_limit(shipped: MappingSet) -> None:
    record = task(shipped, message(text="word " * 10_000))
    description = str(record.fields["Description"])
    assert len(description) == 32_000
    assert description.endswith("…")


def test_a_value_over_its_limit_is_cut_and_logged_without_its_text(tmp_path: Path) -> None:
    unbounded = shipped_text("salesforce.yaml").replace(
        "{% filter fit(32000) %}", "{% filter trim %}"
    )
    mapping = salesforce(load(tmp_path, salesforce=unbounded))
    with structlog.testing.capture_logs() as logs:
        record = render_record(mapping, context(message(text="secret " * 6_000)))
    assert len(str(record.fields["Description"])) == 32_000
    [log] = logs
    assert log["event"] == "mapping_value_cut"
    assert log["log_level"] == "warning"
    assert (log["crm"], log["field"], log["limit"]) == ("salesforce", "Description", 32_000)
    assert log["length"] > 42_000
    assert "secret" not in str(logs)


# -- conversation days --------------------------------------------------------------------------


def day_mappings(tmp_path: Path, timezone: str = "UTC") -> MappingSet:
    def per_day(name: str) -> str:
        return (
            shipped_text(name)
            .replace("granularity: message", "granularity: conversation_day")
            .replace("timezone: UTC", f"timezone: {timezone}")
        )

    return load(tmp_path, hubspot=per_day("hubspot.yaml"), salesforce=per_day("salesforce.yaml"))


def test_a_conversation_day_record_holds_all_of_that_days_messages(tmp_path: Path) -> None:
    mappings = day_mappings(tmp_path)
    first = message(message_id="a", text="Morning?")
    second = message(
        message_id="b", direction=Direction.OUTBOUND, text="Yes!", sent_at=WHEN + timedelta(hours=1)
    )
    ctx = context(second, day=[first, second])
    record = render_record(salesforce(mappings), ctx)
    assert hubspot(mappings).granularity is Granularity.CONVERSATION_DAY
    assert record.key == "aircall:+14155550100:+14155550123:2024-05-01"
    assert record.fields["Subject"] == "MMS conversation with +14155550123 on 2024-05-01"
    assert record.fields["Description"] == "\n".join(
        [
            "Inbound MMS from +14155550123 to US Sales (+14155550100), 2024-05-01 14:30 UTC",
            "Morning?",
            "",
            "Outbound MMS from US Sales (+14155550100) to +14155550123, 2024-05-01 15:30 UTC",
            "Yes!",
            "Status: Delivered",
            "",
            f"Whole conversation: {CONVERSATION}",
        ]
    )
    html = render_record(hubspot(mappings), ctx).fields["hs_communication_body"]
    assert str(html).count("<strong>") == 2
    assert str(html).count("View the whole conversation") == 1


def test_the_day_of_a_record_is_the_day_in_the_mapping_time_zone(tmp_path: Path) -> None:
    mapping = salesforce(day_mappings(tmp_path, "America/New_York"))
    late = message(sent_at=WHEN.replace(day=2, hour=2))  # 22:00 on May 1st in New York
    record = render_record(mapping, context(late))
    assert record.key.endswith(":2024-05-01")
    assert record.fields["ActivityDate"] == "2024-05-01"
    start, end = mapping.day_window(mapping.day_of(late.sent_at))
    assert start <= late.sent_at < end
    assert end - start == timedelta(hours=24)
