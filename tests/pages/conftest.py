"""Browser tests: the real pages in Debian's Chromium, driven by pytest-playwright.

Playwright cannot download its own browsers here, so `browser_type_launch_args` points it at
`/usr/bin/chromium` (`.ci/run` installs it). Screenshots go to `test-artifacts/` (gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pages.kit import LiveConnector, live_connector

CHROMIUM = os.environ.get("CONNECTOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_configure(config: pytest.Config) -> None:
    # pytest-base-url (a dependency of pytest-playwright) defines its session fixture in a way
    # pytest 9 deprecates; nothing here uses it.
    config.addinivalue_line(
        "filterwarnings",
        "ignore:Session-scoped fixtures defined as instance methods"
        ":pytest.PytestRemovedIn10Warning",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: playwright's sync API keeps an event loop running in the main
    thread until the session ends, and a later test calling `asyncio.run` would fail (each
    xdist worker runs its share in collection order, so they come last there too). Without
    Chromium they skip, except in CI, where they must run (and fail)."""
    browser = [item for item in items if item.get_closest_marker("browser") is not None]
    others = [item for item in items if item.get_closest_marker("browser") is None]
    items[:] = others + browser
    if os.environ.get("CI") or Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (apt-get install chromium)")
    for item in browser:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1100, "height": 800}}


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConnector]:
    """One live connector for the browser tests: each test uses its own recipient and record."""
    with live_connector(tmp_path_factory.mktemp("live")) as running:
        yield running


@pytest.fixture(autouse=True)
def _aircall_answers(live: LiveConnector) -> Iterator[None]:
    live.aircall.refuse_with = None
    yield
    live.aircall.refuse_with = None


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
