"""The composer opened the way the CRM cards open it, in a real Chromium: the URL the card's read
model returns, in a 420 px frame of a HubSpot page, then a send that reaches Aircall and shows up
in the card's next read.

Both sides stand at public https origins, as in production: Playwright serves the HubSpot page
under app.hubspot.com and relays the connector's public origin to the live connector on loopback
(Chromium refuses a public page that frames a loopback address outright), so the connector's own
`frame-ancestors` is what lets the frame in."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from connector.core.model import CrmContact
from connector.store.crm_cache import SqlContactCache
from tests.pages.kit import API_TOKEN, SALES_LINE, LiveConnector

pytestmark = pytest.mark.browser

PUBLIC = "https://mms.example.com"
CONTACT = "+14155552680"
RECORD = "card-901"
HUBSPOT_PAGE = f"https://app.hubspot.com/contacts/62515/record/0-1/{RECORD}"
CARD_WIDTH = 420  # what the HubSpot card asks openIframeModal for


def read_model(live: LiveConnector) -> dict:
    response = httpx.get(
        f"{live.url}/v1/records/hubspot/contact/{RECORD}/conversation",
        params={"to": "(415) 555-2680"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    return answer


def test_the_card_opens_the_composer_in_a_420_px_frame_and_sends(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    SqlContactCache(live.connector.database).put(
        "hubspot", CONTACT, CrmContact(crm_object="contacts", crm_id=RECORD)
    )
    composer = read_model(live)["composer"]
    assert composer["to"] == CONTACT
    composer_url = PUBLIC + composer["url"].removeprefix(live.url)

    def connector(route: Route) -> None:
        answer = route.fetch(url=live.url + route.request.url.removeprefix(PUBLIC))
        route.fulfill(response=answer)

    def hubspot_record(route: Route) -> None:
        route.fulfill(
            content_type="text/html",
            body=(
                "<!doctype html><title>Contact</title><h1>MMS</h1>"
                f'<iframe id="mms" src="{composer_url}" width="{CARD_WIDTH}" height="760"'
                ' style="border:0"></iframe>'
            ),
        )

    page.route(HUBSPOT_PAGE, hubspot_record)
    page.route(f"{PUBLIC}/**", connector)
    page.goto(HUBSPOT_PAGE)
    frame = page.frame_locator("#mms")
    expect(frame.locator("input[name=line]:checked")).to_have_value(SALES_LINE)
    box = page.locator("#mms").bounding_box()
    assert box is not None and box["width"] == CARD_WIDTH
    layout = frame.locator("body").evaluate("body => body.clientWidth")
    assert layout <= CARD_WIDTH  # the side-panel layout, not the wide one
    frame.locator("#text").fill("Your quote is ready")
    before = len(live.aircall.sends)
    frame.locator("#send").click()

    sent = live.aircall.wait_for_send(before + 1)
    assert (sent["body"]["to"], sent["body"]["body"]) == (CONTACT, "Your quote is ready")
    expect(frame.locator(".sent-item .status").first).to_have_text("Sent")
    page.screenshot(path=artifacts / "card-composer-420.png", full_page=True)

    latest = read_model(live)["messages"][0]
    assert (latest["direction"], latest["text"]) == ("outbound", "Your quote is ready")
    assert latest["other_party"] == CONTACT
