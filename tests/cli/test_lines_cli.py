"""`mms-connector lines import aircall|cloudtalk`, against the provider fakes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.mapping import LineEntry
from connector.mapping.loader import load_lines
from tests.fakes.providers import FakeAircall, FakeCloudTalk

runner = CliRunner()
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def mappings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO_MAPPINGS, tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(tmp_path / "mappings"))
    return tmp_path / "mappings" / "lines.yaml"


@pytest.fixture
def aircall(mappings: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAircall]:
    with FakeAircall() as fake:
        monkeypatch.setenv("CONNECTOR_AIRCALL_API_ID", fake.api_id)
        monkeypatch.setenv("CONNECTOR_AIRCALL_API_TOKEN", fake.api_token)
        monkeypatch.setenv("CONNECTOR_AIRCALL_BASE_URL", fake.url)
        yield fake


@pytest.fixture
def cloudtalk(mappings: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCloudTalk]:
    with FakeCloudTalk() as fake:
        monkeypatch.setenv("CONNECTOR_CLOUDTALK_API_KEY_ID", fake.key_id)
        monkeypatch.setenv("CONNECTOR_CLOUDTALK_API_KEY_SECRET", fake.secret)
        monkeypatch.setenv("CONNECTOR_CLOUDTALK_BASE_URL", fake.url)
        yield fake


def _entries(path: Path) -> dict[str, LineEntry]:
    book, _ = load_lines(path)
    return {entry.number: entry for entry in book.entries}


def test_import_merges_numbers_keeping_comments_owners_and_the_admins_labels(
    aircall: FakeAircall, mappings: Path
) -> None:
    original = mappings.read_text()
    sales = aircall.add_number("+1 415-555-0100", "Sales (Aircall name)")
    chicago = aircall.add_number("+1 312-555-0100", "Chicago")

    result = runner.invoke(app, ["lines", "import", "aircall"])

    assert result.exit_code == 0, result.output
    text = mappings.read_text()
    # Every comment line of the admin's file is still there, in order.
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in text.splitlines() if line.lstrip().startswith("#")] == comments
    entries = _entries(mappings)
    us = entries["+14155550100"]
    assert us.provider_line_id == str(sales)
    assert us.label == "US Sales"  # the admin's label, not Aircall's
    assert us.mms_capable is True
    assert us.owners
    added = entries["+13125550100"]
    assert added.provider_line_id == str(chicago)
    assert added.label == "Chicago" and added.mms_capable is False
    assert f"+ +13125550100 Chicago (id {chicago})" in result.output
    assert f"~ +14155550100 provider_line_id: (placeholder) → {sales}" in result.output
    # Only what changed changed: the first line's id, and the new entry at the end.
    assert text.startswith(original.split("provider_line_id: REPLACE-ME-aircall-number-id")[0])


def test_a_number_gone_at_the_provider_is_reported_and_kept(
    aircall: FakeAircall, mappings: Path
) -> None:
    aircall.add_number("+1 415-555-0100", "US Sales")

    result = runner.invoke(app, ["lines", "import", "aircall"])

    assert result.exit_code == 0, result.output
    assert "! +61491570156 AU Support is not at aircall any more: kept" in result.output
    assert "+61491570156" in _entries(mappings)


def test_a_second_import_changes_nothing(aircall: FakeAircall, mappings: Path) -> None:
    aircall.add_number("+1 415-555-0100", "US Sales")
    aircall.add_number("+1 312-555-0100", "Chicago")
    runner.invoke(app, ["lines", "import", "aircall"])
    after_first = mappings.read_text()

    result = runner.invoke(app, ["lines", "import", "aircall"])

    assert result.exit_code == 0, result.output
    assert "nothing to change" in result.output
    assert mappings.read_text() == after_first


def test_dry_run_prints_the_changes_and_writes_nothing(
    aircall: FakeAircall, mappings: Path
) -> None:
    original = mappings.read_text()
    aircall.add_number("+1 312-555-0100", "Chicago")

    result = runner.invoke(app, ["lines", "import", "aircall", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "+ +13125550100 Chicago" in result.output and "not written (--dry-run)" in result.output
    assert mappings.read_text() == original


def test_import_reads_every_page_of_numbers(aircall: FakeAircall, mappings: Path) -> None:
    for index in range(60):  # more than one page of 50
        aircall.add_number(f"+1 312-555-{index:04d}", f"Desk {index}")

    result = runner.invoke(app, ["lines", "import", "aircall"])

    assert result.exit_code == 0, result.output
    assert "aircall lists 60 number(s)" in result.output
    assert len([n for n in _entries(mappings) if n.startswith("+1312555")]) == 60


def test_a_number_listed_under_the_other_provider_is_left_alone(
    cloudtalk: FakeCloudTalk, mappings: Path
) -> None:
    cloudtalk.add_number("+14155550100", "Sales")  # an Aircall line in the file
    cloudtalk.add_number("+16465550199", "Service desk")

    result = runner.invoke(app, ["lines", "import", "cloudtalk"])

    assert result.exit_code == 0, result.output
    assert "! +14155550100 is listed under aircall" in result.output
    entries = _entries(mappings)
    assert entries["+14155550100"].provider.value == "aircall"
    service = entries["+16465550199"]
    assert service.label == "US Service"
    assert service.provider_line_id == "124"


def test_an_invalid_lines_file_is_refused_and_left_as_it_is(
    aircall: FakeAircall, mappings: Path
) -> None:
    broken = mappings.read_text().replace("provider: cloudtalk", "provider: twilio")
    mappings.write_text(broken)
    aircall.add_number("+1 312-555-0100", "Chicago")

    result = runner.invoke(app, ["lines", "import", "aircall"])

    assert result.exit_code == 1
    assert "fix mappings/lines.yaml first" in result.output and "provider" in result.output
    assert mappings.read_text() == broken


def test_refused_credentials_are_named(
    cloudtalk: FakeCloudTalk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_API_KEY_SECRET", "wrong")

    result = runner.invoke(app, ["lines", "import", "cloudtalk"])

    assert result.exit_code == 1
    assert "CloudTalk answered 401" in result.output
    assert "CONNECTOR_CLOUDTALK_API_KEY_ID" in result.output
