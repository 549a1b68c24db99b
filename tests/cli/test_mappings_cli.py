"""`mms-connector mappings` as an admin runs it after editing `mappings/`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from tests.providers.factories import aircall_event

runner = CliRunner()
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO_MAPPINGS, tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    for name in ("CONNECTOR_HUBSPOT_ACCESS_TOKEN", "CONNECTOR_SALESFORCE_SESSION_ID"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_check_accepts_the_shipped_mappings(workdir: Path) -> None:
    result = runner.invoke(app, ["mappings", "check"])

    assert result.exit_code == 0, result.output
    assert "mappings are valid" in result.output


def test_check_names_the_file_line_and_field_of_a_mistake(workdir: Path) -> None:
    path = workdir / "mappings" / "salesforce.yaml"
    path.write_text(path.read_text().replace("granularity: message", "granularity: weekly"))

    result = runner.invoke(app, ["mappings", "check"])

    assert result.exit_code == 1
    assert "salesforce.yaml:" in result.output
    assert "granularity" in result.output


def test_preview_prints_the_records_an_event_would_produce(workdir: Path) -> None:
    event = workdir / "event.json"
    event.write_text(json.dumps(aircall_event()))

    result = runner.invoke(app, ["mappings", "preview", str(event)])

    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert set(records) == {"hubspot", "salesforce"}
    assert records["salesforce"]["object"] == "Task"
    assert records["hubspot"]["properties"]["hs_communication_channel_type"] == "SMS"


def test_preview_of_an_event_without_a_message_says_why(workdir: Path) -> None:
    event = workdir / "event.json"
    event.write_text(json.dumps(aircall_event("call.created")))

    result = runner.invoke(app, ["mappings", "preview", str(event)])

    assert result.exit_code == 1
    assert "no record to preview" in result.output


def test_setup_needs_the_crm_credentials(workdir: Path) -> None:
    result = runner.invoke(app, ["mappings", "setup", "--crm", "salesforce"])

    assert result.exit_code == 2
    assert "not configured" in result.output


def test_setup_creates_the_salesforce_external_id_fields_and_is_safe_twice(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.salesforce import FakeSalesforce

    with FakeSalesforce() as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
        monkeypatch.setenv("CONNECTOR_SALESFORCE_INSTANCE_URL", fake.instance_url)
        monkeypatch.setenv("CONNECTOR_SALESFORCE_SESSION_ID", fake.session_id)

        first = runner.invoke(app, ["mappings", "setup", "--crm", "salesforce"])
        second = runner.invoke(app, ["mappings", "setup", "--crm", "salesforce"])
        fields = fake.describe_field("Task", "MMS_Message_Key__c")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert fields is not None
    assert fields["externalId"] is True


def test_check_online_confirms_every_target_field_exists_in_salesforce(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.crm.salesforce_kit import prepare
    from tests.fakes.salesforce import FakeSalesforce

    (workdir / "mappings" / "hubspot.yaml").unlink()
    with FakeSalesforce() as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle_path)
        monkeypatch.setenv("CONNECTOR_SALESFORCE_INSTANCE_URL", fake.instance_url)
        monkeypatch.setenv("CONNECTOR_SALESFORCE_SESSION_ID", fake.session_id)
        unprepared = runner.invoke(app, ["mappings", "check", "--online"])
        prepare(fake)
        prepared = runner.invoke(app, ["mappings", "check", "--online"])

    assert unprepared.exit_code == 1
    assert "MMS_Message_Key__c" in unprepared.output
    assert prepared.exit_code == 0, prepared.output


def test_check_online_needs_a_configured_crm(workdir: Path) -> None:
    result = runner.invoke(app, ["mappings", "check", "--online"])

    assert result.exit_code == 2
    assert "no CRM is configured" in result.output
