"""A running service picks up edited mapping files without a restart, and an invalid edit keeps
the last good mapping in force while `/readyz` and the log say what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from connector.mapping import MappingError, MappingRegistry
from tests.clocks import Monotonic
from tests.mapping.factories import LINES_YAML, mapping_dir, shipped_text


def edit(path: Path, text: str) -> None:
    """Write `text` and move the modification time on, as any later edit would."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))


def subject_of(registry: MappingRegistry) -> object:
    mapping = registry.current().get("salesforce")
    assert mapping is not None
    return mapping.spec.fields["Priority"]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return mapping_dir(tmp_path)


def test_an_edited_file_is_picked_up_after_the_interval(directory: Path) -> None:
    clock = Monotonic()
    registry = MappingRegistry(directory, interval=2.0, clock=clock)
    assert subject_of(registry) == "Normal"
    edit(
        directory / "salesforce.yaml",
        shipped_text("salesforce.yaml").replace("Priority: Normal", "Priority: High"),
    )
    clock.now += 1.0
    assert subject_of(registry) == "Normal"  # not looked at again yet
    clock.now += 1.0
    assert subject_of(registry) == "High"
    assert registry.status()["ok"] is True


def test_reload_on_demand_does_not_wait_for_the_interval(directory: Path) -> None:
    registry = MappingRegistry(directory, interval=3600, clock=Monotonic())
    edit(
        directory / "salesforce.yaml",
        shipped_text("salesforce.yaml").replace("Priority: Normal", "Priority: Low"),
    )
    assert registry.reload() is True
    assert subject_of(registry) == "Low"
    assert registry.reload() is False  # nothing changed since


def test_an_invalid_edit_keeps_the_last_good_mapping(directory: Path) -> None:
    clock = Monotonic()
    registry = MappingRegistry(directory, interval=0, clock=clock)
    good = registry.current()
    with structlog.testing.capture_logs() as logs:
        edit(
            directory / "hubspot.yaml",
            shipped_text("hubspot.yaml").replace("granularity: message", "granularity: hourly"),
        )
        assert registry.current() is good
    status = registry.status()
    assert status["ok"] is False
    assert "hubspot.yaml:" in status["error"]
    assert "granularity: expected 'message' or 'conversation_day', got 'hourly'" in status["error"]
    assert status["using"].startswith("the last valid mappings, loaded at ")
    [warning] = [log for log in logs if log["event"] == "mappings_invalid"]
    assert warning["log_level"] == "warning"
    assert warning["keeping"] == "last good mapping"


def test_fixing_the_file_clears_the_error(directory: Path) -> None:
    registry = MappingRegistry(directory, interval=0, clock=Monotonic())
    edit(directory / "lines.yaml", "lines: []\n")
    registry.current()
    assert registry.status()["ok"] is False
    edit(
        directory / "salesforce.yaml",
        shipped_text("salesforce.yaml").replace("Priority: Normal", "Priority: High"),
    )
    registry.current()
    assert registry.status()["ok"] is False  # lines.yaml is still broken: nothing new loads
    assert subject_of(registry) == "Normal"
    edit(directory / "lines.yaml", LINES_YAML)
    assert subject_of(registry) == "High"
    assert registry.status() | {"loaded_at": None} == {
        "ok": True,
        "error": None,
        "directory": str(directory),
        "loaded_at": None,
        "crms": ["hubspot", "salesforce"],
        "lines": 1,
    }


def test_a_removed_crm_file_unmaps_that_crm(directory: Path) -> None:
    registry = MappingRegistry(directory, interval=0, clock=Monotonic())
    (directory / "hubspot.yaml").unlink()
    assert set(registry.current().crms) == {"salesforce"}
    assert registry.status()["crms"] == ["salesforce"]


def test_without_any_valid_mapping_readers_get_the_problems(tmp_path: Path) -> None:
    directory = mapping_dir(tmp_path, lines="lines: []\n")
    registry = MappingRegistry(directory, interval=0, clock=Monotonic())
    with pytest.raises(MappingError, match="lines: expected at least 1 entry, got none"):
        registry.current()
    status = registry.status()
    assert status["ok"] is False
    assert status["loaded_at"] is None
    assert "using" not in status
