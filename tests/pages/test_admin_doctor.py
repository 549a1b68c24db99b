"""The admin page's set-up checklist in Chromium: run on demand, each failure with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.pages.kit import API_TOKEN, LiveConnector

pytestmark = pytest.mark.browser


def test_an_admin_runs_the_set_up_checklist_and_reads_each_fix(
    page: Page, live: LiveConnector, artifacts: Path
) -> None:
    page.goto(f"{live.url}/admin")
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Open").click()
    checklist = page.get_by_role("region", name="Set-up checklist")
    expect(checklist.get_by_role("listitem")).to_have_count(0)  # nothing runs until asked

    checklist.get_by_role("button", name="Run checks").click()

    items = checklist.get_by_role("listitem")
    expect(items.filter(has_text="Database and schema")).to_contain_text("✓ Pass")
    # The live connector's public URL is plain http on loopback: the doctor says so, with the fix.
    public_url = items.filter(has_text="Public URL")
    expect(public_url).to_contain_text("✗ Fail")
    expect(public_url).to_contain_text("is not https")
    expect(public_url).to_contain_text("Fix: set CONNECTOR_PUBLIC_URL")
    expect(checklist).to_contain_text("check(s) fail.")
    failures = items.filter(has_text="✗ Fail")
    for index in range(failures.count()):
        expect(failures.nth(index)).to_contain_text("Fix: ")
    page.screenshot(path=artifacts / "admin-doctor.png", full_page=True)
