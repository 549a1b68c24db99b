"""`mms-connector doctor` and `GET /v1/doctor`: every check seen passing, then failing with its fix.

A whole set-up on the fakes (Salesforce, Aircall; CloudTalk left off) passes; each test then
breaks one thing and finds exactly that check failing, naming what to do.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from connector import bootstrap
from connector.api.app import create_app
from connector.api.doctor import diagnose
from connector.api.doctor_report import Report
from connector.bootstrap import Connector
from connector.config import Settings
from connector.providers.aircall_admin import WEBHOOK_EVENTS
from connector.store import migrate, queue
from connector.store.budgets import MemoryBuckets
from tests.api.live import serving
from tests.api.test_jobs import dead_job
from tests.conftest import API_TOKEN, make_settings
from tests.crm.salesforce_kit import prepare
from tests.fakes.providers import FakeAircall
from tests.fakes.salesforce import FakeSalesforce
from tests.providers.factories import AIRCALL_TOKEN

PUBLIC_URL = "https://connector.example.test"
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"
LINES = """\
# our lines
lines:
  - number: "+14155550100"
    provider: aircall
    label: US Sales
    mms_capable: true
    provider_line_id: "{line_id}"
"""


@pytest.fixture(scope="module")
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


@dataclass
class World:
    """A set-up where every check passes; tests break one part of it."""

    tmp: Path
    salesforce: FakeSalesforce
    aircall: FakeAircall
    mappings: Path
    service_url: str
    overrides: dict[str, object]

    def settings(self, **changes: object) -> Settings:
        return make_settings(self.tmp, **{**self.overrides, **changes})

    def http(self, url: str) -> httpx.Response:
        """`PUBLIC_URL/...` is this machine's service: the proxy a real deployment has."""
        return httpx.get(url.replace(PUBLIC_URL, self.service_url), timeout=5.0)

    def diagnose(self, connector: Connector | None = None, **changes: object) -> Report:
        built = connector or bootstrap.build(self.settings(**changes))
        try:
            return diagnose(built, http=self.http)
        finally:
            if connector is None:
                built.close()


@pytest.fixture
def world(
    tmp_path: Path, salesforce: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    salesforce.reset()
    prepare(salesforce)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce.ca_bundle_path)
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO_MAPPINGS, mappings)
    (mappings / "hubspot.yaml").unlink()
    service = bootstrap.build(make_settings(tmp_path / "service"))
    with FakeAircall() as aircall, serving(create_app(service)) as service_url:
        line_id = aircall.add_number("+1 415-555-0100", "Sales")
        (mappings / "lines.yaml").write_text(LINES.format(line_id=line_id))
        hook = aircall.add_webhook(PUBLIC_URL + "/webhooks/aircall", list(WEBHOOK_EVENTS))
        aircall.webhooks[hook["webhook_id"]]["token"] = AIRCALL_TOKEN
        overrides: dict[str, object] = {
            "mappings_dir": mappings,
            "public_url": PUBLIC_URL,
            "salesforce_instance_url": salesforce.instance_url,
            "salesforce_session_id": salesforce.session_id,
            "aircall_api_id": aircall.api_id,
            "aircall_api_token": aircall.api_token,
            "aircall_base_url": aircall.url,
            "cloudtalk_webhook_secret": None,
        }
        yield World(tmp_path, salesforce, aircall, mappings, service_url, overrides)
    service.close()


def state(report: Report, name: str) -> tuple[str, str, str]:
    found = [c for c in report.checks if c.name == name]
    assert len(found) == 1, [c.name for c in report.checks]
    return found[0].state, found[0].detail, found[0].fix


def test_a_complete_set_up_passes_every_check(world: World) -> None:
    report = world.diagnose()

    failing = [line for c in report.checks if c.state == "fail" for line in c.lines()]
    assert report.ok, failing
    assert {c.name for c in report.checks if c.state == "pass"} >= {
        "Database and schema",
        "Secret key",
        "Salesforce credentials and scopes",
        "Salesforce custom fields",
        "Mappings (check --online)",
        "Aircall API credentials",
        "Aircall webhook",
        "Public URL",
        "Lines at their providers",
        "Nothing paused",
        "Dead jobs",
        "Unreadable events",
    }
    assert state(report, "HubSpot credentials")[0] == "skip"
    assert state(report, "CloudTalk API credentials")[0] == "skip"


def test_an_old_schema_fails_and_says_to_upgrade(world: World) -> None:
    connector = bootstrap.build(world.settings(), upgrade_sqlite=False)
    connector.budgets = MemoryBuckets()  # as the command does: the tables may not exist yet
    try:
        report = world.diagnose(connector)
    finally:
        connector.close()

    assert state(report, "Database and schema")[0] == "fail"
    assert "db upgrade" in state(report, "Database and schema")[2]
    assert not report.ok


def test_keys_kept_after_a_rotation_are_counted_never_shown(world: World) -> None:
    current, *previous = (secrets.token_urlsafe(48) for _ in range(3))

    report = world.diagnose(secret_key=current, previous_secret_keys=",".join(previous))

    verdict, detail, _fix = state(report, "Secret key")
    assert verdict == "pass" and "2 previous key(s)" in detail
    assert not any(key in line for c in report.checks for line in c.lines() for key in previous)


@pytest.mark.postgres
def test_replicas_without_a_shared_secret_key_fail(world: World, postgres_url: str) -> None:
    connector = bootstrap.build(world.settings(database_url=postgres_url))
    migrate.upgrade(connector.database)
    try:
        report = world.diagnose(connector)
    finally:
        connector.close()

    verdict, _detail, fix = state(report, "Secret key")
    assert verdict == "fail" and "CONNECTOR_SECRET_KEY" in fix
    assert state(report, "Database and schema")[0] == "pass"


def test_refused_crm_credentials_fail_with_the_crm_named(world: World) -> None:
    report = world.diagnose(salesforce_session_id="00Dexpired!session")

    verdict, _detail, fix = state(report, "Salesforce credentials and scopes")
    assert verdict == "fail" and "Salesforce credentials" in fix


def test_missing_custom_fields_fail_and_point_at_mappings_setup(world: World) -> None:
    world.salesforce.reset()  # an org where `mappings setup` never ran

    report = world.diagnose()

    verdict, detail, fix = state(report, "Salesforce custom fields")
    assert verdict == "fail" and "MMS_Message_Key__c" in detail
    assert fix == "run `mms-connector mappings setup --crm salesforce`"
    assert state(report, "Mappings (check --online)")[0] == "fail"


def test_no_crm_at_all_fails(world: World) -> None:
    report = world.diagnose(salesforce_instance_url=None, salesforce_session_id=None)

    assert state(report, "CRMs")[0] == "fail"


def test_refused_provider_credentials_fail(world: World) -> None:
    report = world.diagnose(aircall_api_token="wrong")

    verdict, detail, fix = state(report, "Aircall API credentials")
    assert verdict == "fail" and "403" in detail and "CONNECTOR_AIRCALL_API_ID" in fix
    # Without the provider's answer the lines cannot be checked: said, not failed.
    assert state(report, "Lines at their providers")[0] == "skip"


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("missing", "no webhook posts to"),
        ("disabled", "it is disabled"),
        ("all_events", "not exactly message.received"),
        ("other_token", "its token is not CONNECTOR_AIRCALL_WEBHOOK_TOKEN"),
        ("twice", "2 webhooks post to it"),
    ],
)
def test_an_aircall_webhook_that_is_not_right_fails_with_why(
    world: World, breakage: str, expected: str
) -> None:
    hook = next(iter(world.aircall.webhooks.values()))
    if breakage == "missing":
        world.aircall.webhooks.clear()
    elif breakage == "disabled":
        hook["active"] = False
    elif breakage == "all_events":
        hook["events"] = hook["events"] + ["call.created"]
    elif breakage == "other_token":
        hook["token"] = "a-token-aircall-issued-later"
    else:
        world.aircall.add_webhook(hook["url"], ["message.received"])

    report = world.diagnose()

    verdict, detail, fix = state(report, "Aircall webhook")
    assert verdict == "fail" and expected in detail
    assert "connect aircall" in fix


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [("http://127.0.0.1:8080", "is not https"), ("https://nowhere.invalid", "did not answer")],
)
def test_a_public_url_that_is_not_https_or_does_not_answer_fails(
    world: World, public_url: str, expected: str
) -> None:
    def unreachable(url: str) -> httpx.Response:
        raise httpx.ConnectError("no route", request=httpx.Request("GET", url))

    connector = bootstrap.build(world.settings(public_url=public_url))
    try:
        report = diagnose(connector, http=unreachable)
    finally:
        connector.close()

    verdict, detail, fix = state(report, "Public URL")
    assert verdict == "fail" and expected in detail and "CONNECTOR_PUBLIC_URL" in fix


def test_a_public_url_answered_by_something_else_fails(world: World) -> None:
    def other(url: str) -> httpx.Response:
        return httpx.Response(404, text="<html>Not the connector</html>")

    connector = bootstrap.build(world.settings())
    try:
        report = diagnose(connector, http=other)
    finally:
        connector.close()

    assert "answered 404" in state(report, "Public URL")[1]


def test_a_line_the_provider_does_not_have_fails(world: World) -> None:
    world.aircall.numbers.clear()

    report = world.diagnose()

    verdict, detail, fix = state(report, "Lines at their providers")
    assert verdict == "fail" and "+14155550100 (US Sales) is not at aircall" in detail
    assert "lines import aircall" in fix


def test_paused_crms_and_dead_jobs_fail(world: World) -> None:
    connector = bootstrap.build(world.settings())
    try:
        with connector.database.begin() as conn:
            until = queue.utcnow() + timedelta(minutes=5)
            queue.pause_target(conn, "salesforce", until=until, reason="INVALID_SESSION_ID")
        dead_job(connector)
        report = world.diagnose(connector)
    finally:
        connector.close()

    paused = state(report, "Nothing paused")
    assert paused[0] == "fail" and "Salesforce paused: INVALID_SESSION_ID" in paused[1]
    dead = state(report, "Dead jobs")
    assert dead[0] == "fail" and "1 job(s)" in dead[1] and "retry --all-dead" in dead[2]


def test_the_admin_route_returns_the_same_checklist(world: World) -> None:
    connector = bootstrap.build(world.settings(public_url="http://127.0.0.1:9"))
    try:
        with TestClient(create_app(connector)) as client:
            answer = client.get("/v1/doctor", headers={"Authorization": f"Bearer {API_TOKEN}"})
    finally:
        connector.close()

    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False
    checks = {c["name"]: c for c in body["checks"]}
    assert checks["Public URL"]["state"] == "fail" and checks["Public URL"]["fix"]
    assert checks["Salesforce credentials and scopes"]["state"] == "pass"
