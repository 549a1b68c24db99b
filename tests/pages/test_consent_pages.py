"""Opt-out in a real Chromium: the composer of a recipient who texted STOP cannot send and says
why, and the admin page lists opted-out numbers and changes one with a reason."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.pages.kit import API_TOKEN, SALES_LINE, LiveConnector

pytestmark = pytest.mark.browser

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def replies(live: LiveConnector, number: str, text: str, message_id: str) -> None:
    response = live.aircall_webhook(
        "message.received",
        {"id": message_id, "body": text, "external_number": number, "media_details": []},
    )
    assert response.status_code == 202, response.text


def test_the_composer_of_a_recipient_who_texted_stop_cannot_send_and_says_why(
    page: Page, live: LiveConnector
) -> None:
    recipient = "+14155559911"
    replies(live, recipient, "Stop", "ac-consent-page-1")

    page.goto(live.compose_url(to=recipient, record=("hubspot", "contact", "9911")))
    expect(page.locator("input[name=line]:checked")).to_have_value(SALES_LINE)
    page.locator("textarea").fill("Are you still interested?")

    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    expect(page.locator("#line-reason")).to_contain_text(
        "+1 415-555-9911 opted out of messages on May 1, 2026 (replied STOP)."
    )


def test_a_stop_that_arrives_while_the_composer_is_open_refuses_the_send_with_its_text(
    page: Page, live: LiveConnector
) -> None:
    recipient = "+14155559922"
    sends_before = len(live.aircall.sends)
    page.goto(live.compose_url(to=recipient, record=("hubspot", "contact", "9922")))
    expect(page.locator("input[name=line]:checked")).to_have_value(SALES_LINE)
    page.locator("textarea").fill("Here is the quote")

    replies(live, recipient, "STOP", "ac-consent-page-2")
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#send-note")).to_have_text(
        "+1 415-555-9922 opted out of messages on May 1, 2026 (replied STOP)."
    )
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    assert len(live.aircall.sends) == sends_before


def test_an_admin_opts_a_number_out_and_back_in_from_the_admin_page(
    page: Page, live: LiveConnector
) -> None:
    number = "+14155559933"
    page.goto(f"{live.url}/admin")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Open").click()
    section = page.get_by_role("region", name="Opted out")

    section.get_by_label("Number").fill(number)
    section.get_by_label("Reason").fill("asked by phone")
    section.get_by_role("button", name="Opt out").click()

    row = section.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("asked by phone")
    expect(row).to_contain_text("Admin")
    shown = httpx.get(f"{live.url}/v1/consent/{number}", headers=AUTH).json()
    assert shown["opted_out"] is True and shown["history"][0]["source"] == "admin"

    section.get_by_label("Number").fill(number)
    section.get_by_label("Reason").fill("signed consent form")
    section.get_by_role("button", name="Opt back in").click()

    expect(section.get_by_role("row").filter(has_text=number)).to_have_count(0)
    shown = httpx.get(f"{live.url}/v1/consent/{number}", headers=AUTH).json()
    assert shown["opted_out"] is False and len(shown["history"]) == 2
