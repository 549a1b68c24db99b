"""The "whole conversation" page that CRM records link to, in a real Chromium."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from connector.store.conversations import AttachmentState
from tests.pages.kit import MB, LiveConnector, pdf, png

pytestmark = pytest.mark.browser

UNSUPPORTED = "Some media cannot be received due to unsupported format."
UNAVAILABLE = "Some media is unavailable due to an error"


def site_visit(live: LiveConnector, other_party: str) -> str:
    """Three received messages (six pictures; a PDF and an unsupported video; an expired
    picture), then our reply with two pictures."""
    return live.conversation(
        other_party,
        [
            (
                "Photos from the site visit, room by room",
                [(f"room-{n}.png", png(n * 55)) for n in range(1, 7)],
            ),
            (
                "And the floor plan (the video did not go through)",
                [("plan.pdf", pdf()), ("walkthrough.mov", AttachmentState.UNSUPPORTED)],
            ),
            ("An older picture", [("old.png", AttachmentState.EXPIRED)]),
            (
                "Thanks! Here is the <b>quote</b> & the schedule",
                [("quote.png", png(15)), ("schedule.png", png(195))],
            ),
        ],
        outbound=[3],
    )


def test_messages_in_order_with_text_above_four_previews_a_counter_and_alerts(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    page.goto(site_visit(live, "+14155550301"))
    messages = page.locator(".message")
    expect(messages).to_have_count(4)
    expect(messages.locator(".text")).to_have_text(
        [
            "Photos from the site visit, room by room",
            "And the floor plan (the video did not go through)",
            "An older picture",
            "Thanks! Here is the <b>quote</b> & the schedule",  # customer text, escaped
        ]
    )
    first = messages.nth(0)
    expect(first.locator(".preview")).to_have_count(4)
    expect(first.locator(".more")).to_have_text("+2")
    text_box = first.locator(".text").bounding_box()
    previews_box = first.locator(".previews").bounding_box()
    assert text_box and previews_box and text_box["y"] + text_box["height"] <= previews_box["y"]
    for image in first.locator(".preview img").all():
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") == 240

    second = messages.nth(1)
    expect(second.locator(".preview")).to_have_count(1)  # the PDF; the video is not shown
    expect(second.locator(".alert")).to_have_text([UNSUPPORTED])
    expect(second.locator(".alert")).to_have_attribute("title", UNSUPPORTED)
    third = messages.nth(2)
    expect(third.locator(".preview")).to_have_count(0)
    expect(third.locator(".alert")).to_have_text([UNAVAILABLE])
    reply = messages.nth(3)
    expect(reply).to_have_class(re.compile(r"\bmessage-out\b"))
    expect(reply.locator(".preview")).to_have_count(2)
    expect(reply.locator(".status")).to_have_text("Delivered")
    expect(page.locator("#download-all")).to_contain_text("9 files")
    page.screenshot(path=artifacts / "conversation-full.png", full_page=True)

    page.set_viewport_size({"width": 350, "height": 760})
    page.screenshot(path=artifacts / "conversation-350.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 350  # no sideways scroll


def test_the_viewer_steps_through_a_messages_pictures_with_buttons_and_keys(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    page.goto(site_visit(live, "+14155550302"))
    first = page.locator(".message").nth(0)
    viewer = page.locator("#viewer")
    count = page.locator("#viewer-count")
    caption = page.locator("#viewer-caption")

    first.locator(".preview").nth(0).click()
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-text")).to_have_text("Photos from the site visit, room by room")
    expect(count).to_have_text("1 / 6")
    expect(caption).to_contain_text("room-1.png")
    expect(page.locator("#viewer-prev")).to_be_disabled()
    page.locator("#viewer-next").click()
    expect(count).to_have_text("2 / 6")
    page.keyboard.press("ArrowRight")
    expect(count).to_have_text("3 / 6")
    expect(caption).to_contain_text("room-3.png")
    expect(page.locator("#viewer-image")).to_have_js_property("complete", True)
    page.screenshot(path=artifacts / "conversation-viewer.png")
    page.keyboard.press("ArrowLeft")
    expect(count).to_have_text("2 / 6")
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(first.locator(".preview").nth(0)).to_be_focused()  # back where the user was

    first.locator(".more").click()  # "+2" opens the viewer at the first picture not previewed
    expect(count).to_have_text("5 / 6")
    page.keyboard.press("ArrowRight")
    expect(count).to_have_text("6 / 6")
    expect(page.locator("#viewer-next")).to_be_disabled()
    expect(page.locator("#viewer-download")).to_have_attribute("download", "room-6.png")
    page.locator("#viewer-close").click()
    expect(viewer).to_be_hidden()


def test_download_all_fetches_the_zip_with_progress_and_time_remaining(
    page: Page, live: LiveConnector, tmp_path: Path, artifacts: Path
) -> None:
    url = live.conversation(
        "+14155550303",
        [
            ("Survey, part 1", [(f"survey-{n}.png", png(n * 70, size=1 * MB)) for n in (1, 2)]),
            ("Survey, part 2", [("survey-3.png", png(210, size=1 * MB))]),
        ],
    )
    page.goto(url)
    # A slow line, so the progress has time to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": 1.5 * MB,
            "uploadThroughput": 1.5 * MB,
        },
    )
    status = page.locator("#download-text")
    with page.expect_download(timeout=20_000) as download_info:
        page.locator("#download-all").click()
        expect(status).to_have_text(re.compile(r"of 3 MB · .+ left$"))
        page.screenshot(path=artifacts / "conversation-downloading.png")
    download = download_info.value
    expect(status).to_contain_text("Download complete")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert re.fullmatch(r"thread-\d+-media\.zip", saved.name)
    with zipfile.ZipFile(io.BytesIO(saved.read_bytes())) as archive:
        names = archive.namelist()
        assert [name.rsplit("/", 1)[1] for name in names] == [
            "01-survey-1.png",
            "02-survey-2.png",
            "01-survey-3.png",
        ]
        assert archive.read(names[0]) == png(70, size=1 * MB)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )


def test_download_all_of_expired_media_answers_the_rules_text(
    page: Page, live: LiveConnector
) -> None:
    page.goto(
        live.conversation("+14155550304", [("Old pictures", [("a.png", AttachmentState.EXPIRED)])])
    )
    page.locator("#download-all").click()
    expect(page.locator("#download-text")).to_have_text(UNAVAILABLE)
