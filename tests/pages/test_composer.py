"""The composer as a CRM user meets it inside a record, in a real Chromium.

Every text asserted here is the catalogue's, as the server's rule engine answers it.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.pages.kit import (
    KB,
    MB,
    RECIPIENT,
    SALES_LINE,
    TEXT_LINE,
    LiveConnector,
    pdf,
    png,
    write_files,
)

pytestmark = pytest.mark.browser

TOO_MANY = "You can only upload up to 10 files. Please remove some files and try again"
TOO_LARGE_5MB = (
    "Your file size exceeds the limit of 5 MB. Please reduce the file size and try again"
)
TOO_LARGE_600KB = (
    "Your file size exceeds the limit of 600 KB. Please reduce the file size and try again"
)
TOTAL_TOO_LARGE = (
    "Your total file size exceeds the limit of 5 MB. Please reduce the file size and try again"
)
UNSUPPORTED = "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS"
NOT_CAPABLE = (
    f"The line {TEXT_LINE} cannot send MMS. Choose a line with the SMS MMS badge, "
    "or remove the attachments."
)

SIDE_PANEL = {"width": 350, "height": 760}


def open_composer(page: Page, live: LiveConnector, record_id: str, **viewport: int) -> str:
    if viewport:
        page.set_viewport_size({"width": viewport["width"], "height": viewport["height"]})
    url = live.compose_url(record=("hubspot", "contact", record_id))
    page.goto(url)
    expect(page.locator("input[name=line]:checked")).to_have_value(SALES_LINE)
    return url


def attach(page: Page, paths: list[Path]) -> None:
    page.locator("#file-input").set_input_files([str(p) for p in paths])


def settled(page: Page, count: int) -> None:
    """`count` thumbnails, none still uploading, and the draft's verdict in."""
    thumbs = page.locator("#thumbs .thumb")
    expect(thumbs).to_have_count(count)
    expect(page.locator("#thumbs .thumb.uploading")).to_have_count(0)


def refusal_texts(page: Page) -> list[str]:
    return page.locator("#refusals .refusal-text").all_inner_texts()


def test_lines_are_the_configured_ones_with_the_mms_badge(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    open_composer(page, live, "c-lines", **SIDE_PANEL)
    lines = page.locator(".line")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("US Sales")
    expect(lines.nth(0).locator(".badge")).to_have_text("SMS MMS")
    expect(lines.nth(1)).to_contain_text("US Support")
    expect(lines.nth(1).locator(".badge-mms")).to_have_count(0)
    expect(page.locator(".to")).to_contain_text("+1 415-555-2671")
    expect(page.locator("#attach")).to_be_enabled()
    expect(page.locator("#usage")).to_have_text("0 bytes / 5 MB")
    expect(page.locator("#files-count")).to_have_text("0 / 10 files")
    expect(page.locator("#send")).to_be_disabled()  # nothing to send yet
    # Everything comes from the connector itself: no request leaves its origin.
    assert page.evaluate(
        "performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin))"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 350  # no sideways scroll
    page.screenshot(path=artifacts / "composer-empty-350.png", full_page=True)


def test_eleven_files_keep_ten_and_refuse_the_eleventh_with_the_exact_text(
    page: Page, live: LiveConnector, tmp_path: Path
) -> None:
    open_composer(page, live, "c-eleven")
    files = write_files(tmp_path, {f"photo-{n:02d}.png": png(n * 33) for n in range(1, 12)})
    attach(page, files)
    settled(page, 10)
    expect(page.locator("#refusals .refusal-text")).to_have_text([TOO_MANY])
    expect(page.locator("#refusals .refusal-file")).to_have_text(["photo-11.png"])
    expect(page.locator("#files-count")).to_have_text("10 / 10 files")
    names = page.locator("#thumbs .thumb-name").all_inner_texts()
    assert names == [f"photo-{n:02d}.png" for n in range(1, 11)]


def test_refused_files_leave_with_their_text_and_the_valid_ones_stay(
    page: Page, live: LiveConnector, tmp_path: Path, artifacts: Path
) -> None:
    open_composer(page, live, "c-oversize", **SIDE_PANEL)
    files = write_files(
        tmp_path,
        {
            "kitchen.png": png(20, size=1 * MB),
            "huge.png": png(200, size=6 * MB),  # judged by its size and first bytes
            "just-over.png": png(120, size=5 * MB + 1 * KB),  # uploaded, judged by the server
            "contract.pdf": pdf(700 * KB),
            "notes.txt": b"not a picture\n" * 10,
            "garden.png": png(100, size=512 * KB),
        },
    )
    attach(page, files)
    settled(page, 2)
    assert page.locator("#thumbs .thumb-name").all_inner_texts() == ["kitchen.png", "garden.png"]
    refusals = dict(
        zip(
            page.locator("#refusals .refusal-file").all_inner_texts(),
            refusal_texts(page),
            strict=True,
        )
    )
    assert refusals == {
        "huge.png": TOO_LARGE_5MB,
        "just-over.png": TOO_LARGE_5MB,
        "contract.pdf": TOO_LARGE_600KB,
        "notes.txt": UNSUPPORTED,
    }
    expect(page.locator("#usage")).to_have_text("1.5 MB / 5 MB")
    expect(page.locator("#files-count")).to_have_text("2 / 10 files")
    page.screenshot(path=artifacts / "composer-refusals-350.png", full_page=True)

    page.get_by_role("button", name="Remove kitchen.png").click()
    settled(page, 1)
    expect(page.locator("#usage")).to_have_text("512 KB / 5 MB")


def test_the_file_that_passes_the_total_is_refused_and_the_counter_shows_the_rest(
    page: Page, live: LiveConnector, tmp_path: Path
) -> None:
    open_composer(page, live, "c-total")
    files = write_files(tmp_path, {f"scan-{n}.png": png(n * 90, size=2 * MB) for n in (1, 2, 3)})
    attach(page, files)
    settled(page, 2)
    expect(page.locator("#refusals .refusal-text")).to_have_text([TOTAL_TOO_LARGE])
    expect(page.locator("#refusals .refusal-file")).to_have_text(["scan-3.png"])
    expect(page.locator("#usage")).to_have_text("4 MB / 5 MB")


def test_a_line_that_cannot_send_mms_greys_out_attaching_and_sending_with_the_reason(
    page: Page, live: LiveConnector, tmp_path: Path, artifacts: Path
) -> None:
    open_composer(page, live, "c-incapable", **SIDE_PANEL)
    attach(page, write_files(tmp_path, {"porch.png": png(40)}))
    settled(page, 1)
    page.locator("#text").fill("Here is the porch")
    expect(page.locator("#send")).to_be_enabled()

    page.get_by_text("US Support").click()
    expect(page.locator("#line-reason")).to_have_text(NOT_CAPABLE)
    expect(page.locator("#attach")).to_be_disabled()
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#dropzone")).to_have_class(re.compile(r"\bdisabled\b"))
    expect(page.locator("#thumbs .thumb")).to_have_count(1)  # kept, greyed out
    page.screenshot(path=artifacts / "composer-incapable-line-350.png", full_page=True)

    # A text without files is an SMS, which this line sends.
    page.get_by_role("button", name="Remove porch.png").click()
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#attach")).to_be_disabled()

    page.get_by_text("US Sales").click()
    expect(page.locator("#line-reason")).to_be_hidden()
    expect(page.locator("#attach")).to_be_enabled()


def test_a_recipient_outside_the_policys_countries_greys_out_attaching_with_the_reason(
    page: Page, live: LiveConnector
) -> None:
    uk = "+447700900123"
    page.goto(live.compose_url(to=uk, record=("salesforce", "Lead", "00Q000000000001")))
    expect(page.locator(".record")).to_have_text("Salesforce Lead 00Q000000000001")
    expect(page.locator("#line-reason")).to_have_text(
        f"MMS is only available between numbers in AU, CA, US; the recipient {uk} is not."
    )
    expect(page.locator("#attach")).to_be_disabled()
    page.locator("#text").fill("Text only, then")
    expect(page.locator("#send")).to_be_enabled()


def test_a_send_reaches_aircall_and_its_status_turns_delivered_without_a_reload(
    page: Page, live: LiveConnector, tmp_path: Path, artifacts: Path
) -> None:
    open_composer(page, live, "c-send")
    attach(page, write_files(tmp_path, {"front.png": png(10), "back.png": png(210)}))
    settled(page, 2)
    page.locator("#text").fill("Both sides of the damaged panel")
    page.screenshot(path=artifacts / "composer-ready-full.png", full_page=True)
    before = len(live.aircall.sends)
    page.locator("#send").click()

    sent = live.aircall.wait_for_send(before + 1)
    assert sent["path"] == "/v1/numbers/1284757/messages/native/send"
    assert sent["body"]["to"] == RECIPIENT
    assert sent["body"]["body"] == "Both sides of the damaged panel"
    media = sent["body"]["mediaUrl"]
    assert len(media) == 2
    for url in media:  # the links Aircall fetches serve the pictures
        fetched = httpx.get(url)
        assert fetched.status_code == 200
        assert fetched.headers["content-type"] == "image/png"

    item = page.locator(".sent-item").first
    expect(item).to_contain_text("Both sides of the damaged panel")
    expect(item.locator(".status")).to_have_text("Sent")
    expect(page.locator("#thumbs .thumb")).to_have_count(0)  # the draft went with the send
    expect(page.locator("#text")).to_have_value("")

    live.deliver(sent["id"])
    expect(item.locator(".status")).to_have_text("Delivered")
    page.screenshot(path=artifacts / "composer-delivered-full.png", full_page=True)


def test_the_draft_survives_leaving_and_returning_within_the_session(
    page: Page, live: LiveConnector, tmp_path: Path
) -> None:
    url = open_composer(page, live, "c-draft")
    attach(page, write_files(tmp_path, {"one.png": png(0), "two.png": png(120)}))
    settled(page, 2)
    page.locator("#text").fill("Draft to finish later")

    page.reload()
    settled(page, 2)
    expect(page.locator("#text")).to_have_value("Draft to finish later")
    assert page.locator("#thumbs .thumb-name").all_inner_texts() == ["one.png", "two.png"]
    expect(page.locator("#thumbs img").first).to_have_js_property("complete", True)

    page.goto("about:blank")
    page.goto(url)
    settled(page, 2)
    expect(page.locator("#text")).to_have_value("Draft to finish later")
    expect(page.locator("#send")).to_be_enabled()


def test_a_failed_delivery_shows_the_error_and_the_draft_is_not_kept(
    page: Page, live: LiveConnector, tmp_path: Path, artifacts: Path
) -> None:
    live.aircall.refuse_with = (422, {"message": "mediaUrl could not be fetched"})
    open_composer(page, live, "c-failed")
    attach(page, write_files(tmp_path, {"meter.png": png(300)}))
    settled(page, 1)
    page.locator("#text").fill("Meter reading")
    page.locator("#send").click()

    item = page.locator(".sent-item").first
    expect(item.locator(".status")).to_have_text("Not sent")
    expect(item.locator(".sent-error")).to_contain_text("mediaUrl could not be fetched")
    page.set_viewport_size(SIDE_PANEL)
    page.screenshot(path=artifacts / "composer-not-sent-350.png", full_page=True)
    page.reload()
    expect(page.locator("#text")).to_have_value("")
    expect(page.locator("#thumbs .thumb")).to_have_count(0)
    expect(page.locator(".sent-item .status").first).to_have_text("Not sent")


def test_files_dropped_on_the_composer_are_attached(page: Page, live: LiveConnector) -> None:
    open_composer(page, live, "c-drop")
    files = [
        {"name": "dropped-1.png", "data": base64.b64encode(png(60)).decode()},
        {"name": "dropped-2.png", "data": base64.b64encode(png(180)).decode()},
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, { type: "image/png" }));
            }
            return transfer;
        }""",
        files,
    )
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#dropzone")).to_have_class(re.compile(r"\bdragging\b"))
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    settled(page, 2)
    assert page.locator("#thumbs .thumb-name").all_inner_texts() == [
        "dropped-1.png",
        "dropped-2.png",
    ]


def test_the_composer_is_usable_from_the_keyboard(
    page: Page, live: LiveConnector, tmp_path: Path
) -> None:
    open_composer(page, live, "c-keyboard")
    page.locator("input[name=line]:checked").focus()
    page.keyboard.press("ArrowDown")  # radios: arrows move the choice
    expect(page.locator("input[name=line]:checked")).to_have_value(TEXT_LINE)
    expect(page.locator("#attach")).to_be_disabled()
    page.keyboard.press("ArrowUp")
    expect(page.locator("input[name=line]:checked")).to_have_value(SALES_LINE)
    page.keyboard.press("Tab")
    expect(page.locator("#attach")).to_be_focused()

    attach(page, write_files(tmp_path, {"k.png": png(250)}))
    settled(page, 1)
    remove = page.get_by_role("button", name="Remove k.png")
    remove.focus()
    page.keyboard.press("Enter")
    settled(page, 0)

    page.locator("#text").focus()
    page.keyboard.type("Sent from the keyboard")
    count = len(live.aircall.sends)
    page.keyboard.press("Control+Enter")
    sent = live.aircall.wait_for_send(count + 1)
    assert sent["body"]["body"] == "Sent from the keyboard"
    assert "mediaUrl" not in sent["body"]
