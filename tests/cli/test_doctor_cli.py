"""`mms-connector doctor [--json]` as an operator runs it on a fresh machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app

runner = CliRunner()
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO_MAPPINGS, tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", "http://127.0.0.1:8080")
    return tmp_path


def test_a_fresh_machine_fails_with_a_fix_on_every_failing_line(fresh: Path) -> None:
    result = runner.invoke(app, ["doctor"])

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("✗ Database and schema: the schema is missing or old")
    assert lines[1] == "    fix: run `mms-connector db upgrade`"
    assert any(line.startswith("✗ CRMs: no CRM is configured") for line in lines)
    not_https = "✗ Public URL: http://127.0.0.1:8080 is not https"
    assert any(line.startswith(not_https) for line in lines)
    failing = [i for i, line in enumerate(lines) if line.startswith("✗")]
    assert all(lines[i + 1].startswith("    fix: ") for i in failing)
    assert lines[-1] == f"{len(failing)} check(s) fail"


def test_json_lists_the_same_checks(fresh: Path) -> None:
    text = runner.invoke(app, ["doctor"]).stdout
    result = runner.invoke(app, ["doctor", "--json"])

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [c["name"] for c in report["checks"]] == [
        line[2:].split(":")[0] for line in text.splitlines() if line[:2] in ("✓ ", "✗ ", "- ")
    ]
    assert {c["state"] for c in report["checks"]} <= {"pass", "fail", "skip"}
