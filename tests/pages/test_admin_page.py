"""The admin page in a real Chromium: token, status, a dead job and an Unknown send replayed."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect
from pydantic import SecretStr

from connector.store import queue
from tests.pages.kit import API_TOKEN, SALES_LINE, LiveConnector

pytestmark = pytest.mark.browser

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
RECIPIENT = "+14155559876"  # this test's own recipient in the shared live connector


def dead_job(live: LiveConnector) -> int:
    """A CRM sync that gave up (no CRM is configured here, so no worker takes it again)."""
    with live.connector.database.begin() as conn:
        job_id = queue.enqueue(conn, "sync_crm", target="hubspot", subject=424242)
        job = queue.claim(conn, "admin-test", timedelta(seconds=30), kinds=["sync_crm"])
        assert job is not None and job.id == job_id
        queue.kill(conn, job, "admin-test", "HubSpot answered 400: property hs_mms_key is missing")
    return job_id


def unknown_send(live: LiveConnector) -> int:
    """A send Aircall answered with a 500: it may have gone out, so its outcome is Unknown."""
    live.aircall.refuse_with = (500, {"error": "Internal Server Error"})
    response = httpx.post(
        f"{live.url}/v1/messages",
        json={"from": SALES_LINE, "to": RECIPIENT, "text": "Your quote is attached"},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    message_id: int = response.json()["message_id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = httpx.get(f"{live.url}/v1/messages/{message_id}", headers=AUTH).json()
        if shown["status"] == "unknown":
            live.aircall.refuse_with = None
            return message_id
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} is {shown['status']}, not unknown")


def test_an_admin_replays_a_dead_job_and_an_unknown_send(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    job_id = dead_job(live)
    message_id = unknown_send(live)
    sends_before = len(live.aircall.sends)
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto(f"{live.url}/admin")

    token = page.get_by_label("API token")
    token.fill("not-a-token")
    token.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That token is not accepted")
    assert page.evaluate("sessionStorage.length") == 0
    expect(token).to_have_value("")

    token.fill(API_TOKEN)
    page.get_by_role("button", name="Open").click()

    assert API_TOKEN not in page.url
    assert page.context.cookies() == []
    status = page.get_by_role("region", name="Status")
    hubspot = status.get_by_role("listitem").filter(has_text="HubSpot")
    expect(hubspot).to_contain_text("Off")
    expect(hubspot).to_contain_text("no credentials configured")
    expect(status.get_by_role("listitem").filter(has_text="Aircall")).to_contain_text("On")
    expect(status.get_by_role("listitem").filter(has_text="Mappings")).to_contain_text("OK")
    expect(status.get_by_role("row", name="Dead")).to_be_visible()

    job_button = page.get_by_role("button", name=f"Retry job #{job_id} (sync_crm, hubspot)")
    job_row = page.get_by_role("row").filter(has=job_button)
    expect(job_row).to_contain_text("property hs_mms_key is missing")
    send_button = page.get_by_role("button", name=f"Retry send to ••• 9876 (message #{message_id})")
    send_row = page.get_by_role("row").filter(has=send_button)
    expect(send_row).to_contain_text("Unknown")
    expect(send_row).to_contain_text("Your quote is attached")
    assert RECIPIENT not in (send_row.text_content() or "")
    page.screenshot(path=artifacts / "admin.png", full_page=True)
    page.set_viewport_size({"width": 350, "height": 760})
    page.screenshot(path=artifacts / "admin-350.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 350

    job_button.click()
    expect(job_button).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text(f"Job #{job_id} is queued again.")

    send_button.click()
    expect(send_button).to_have_count(0)
    assert "may have reached the recipient" in dialogs[-1]
    live.aircall.wait_for_send(sends_before + 1)
    assert live.aircall.sends[-1]["body"]["to"] == RECIPIENT

    page.get_by_role("button", name="Refresh").click()
    expect(page.get_by_role("status")).to_contain_text("Updated")
    expect(job_button).to_have_count(0)
    expect(send_button).to_have_count(0)
    with live.connector.database.read() as conn:
        job = queue.get(conn, job_id)
    assert job is not None and job.state == queue.JobState.QUEUED


def test_an_admin_resumes_a_paused_crm(
    page: Page, live: LiveConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HubSpot on (as far as the status report goes) and paused for refused credentials.
    settings = live.connector.settings
    hubspot_on = settings.hubspot.model_copy(update={"access_token": SecretStr("pat-na1-x")})
    monkeypatch.setattr(
        live.connector, "settings", settings.model_copy(update={"hubspot": hubspot_on})
    )
    with live.connector.database.begin() as conn:
        queue.pause_target(
            conn,
            "hubspot",
            until=None,
            reason="HubSpot refused the access token",
            cause=queue.PauseCause.CREDENTIALS,
        )
    page.goto(f"{live.url}/admin")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Open").click()
    status = page.get_by_role("region", name="Status")
    hubspot = status.get_by_role("listitem").filter(has_text="HubSpot")
    expect(hubspot).to_contain_text("Paused")
    expect(hubspot).to_contain_text("HubSpot refused the access token")
    expect(status.get_by_role("button", name="Resume Aircall")).to_have_count(0)

    hubspot.get_by_role("button", name="Resume HubSpot").click()

    expect(page.get_by_role("status")).to_contain_text("HubSpot resumed")
    expect(hubspot).to_contain_text("On")
    expect(hubspot.get_by_role("button")).to_have_count(0)
    with live.connector.database.read() as conn:
        assert "hubspot" not in queue.paused_targets(conn)
