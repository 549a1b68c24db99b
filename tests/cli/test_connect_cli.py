"""`mms-connector connect aircall|cloudtalk` as an admin runs it, against the provider fakes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector import bootstrap
from connector.api.app import create_app
from connector.cli import app
from connector.providers import cloudtalk
from tests.api.live import free_socket, serving
from tests.conftest import CLOUDTALK_SECRET, make_settings
from tests.fakes.providers import AIRCALL_EVENTS, FakeAircall

runner = CliRunner()
PUBLIC_URL = "https://mms.example.com"
HOOK_URL = PUBLIC_URL + "/webhooks/aircall"
SECRET = "9f2c4e7a1b8d3f60a5c2e9b4d7f1a3c8e6b0d2f4a7c9e1b3"
MESSAGE_EVENTS = {"message.received", "message.sent", "message.status_updated"}


@pytest.fixture
def aircall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAircall]:
    monkeypatch.chdir(tmp_path)
    with FakeAircall() as fake:
        monkeypatch.setenv("CONNECTOR_AIRCALL_API_ID", fake.api_id)
        monkeypatch.setenv("CONNECTOR_AIRCALL_API_TOKEN", fake.api_token)
        monkeypatch.setenv("CONNECTOR_AIRCALL_BASE_URL", fake.url)
        monkeypatch.setenv("CONNECTOR_PUBLIC_URL", PUBLIC_URL)
        monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
        yield fake


def _subscribed(fake: FakeAircall) -> set[str]:
    assert len(fake.webhooks) == 1
    return set(next(iter(fake.webhooks.values()))["events"])


def test_connecting_twice_makes_one_webhook_with_exactly_the_message_events(
    aircall: FakeAircall,
) -> None:
    first = runner.invoke(app, ["connect", "aircall"])
    writes_after_first = len(aircall.writes())
    second = runner.invoke(app, ["connect", "aircall"])

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert len(aircall.webhooks) == 1
    hook = next(iter(aircall.webhooks.values()))
    assert hook["url"] == HOOK_URL
    assert set(hook["events"]) >= MESSAGE_EVENTS
    assert not {e for e in hook["events"] if not e.split(".")[0].endswith("message")}
    assert "created" in first.output
    assert "already set up" in second.output
    assert len(aircall.writes()) == writes_after_first == 1  # the second run wrote nothing
    assert f"CONNECTOR_AIRCALL_WEBHOOK_TOKEN={hook['token']}" in first.output
    assert f"CONNECTOR_AIRCALL_WEBHOOK_TOKEN={hook['token']}" in second.output


def test_a_webhook_subscribed_to_everything_is_narrowed_to_the_message_events(
    aircall: FakeAircall,
) -> None:
    existing = aircall.add_webhook(HOOK_URL, list(AIRCALL_EVENTS), dashboard=True, active=False)

    result = runner.invoke(app, ["connect", "aircall"])

    assert result.exit_code == 0, result.output
    assert "updated" in result.output and "re-enabled" in result.output
    assert "unsubscribed call.created" in result.output
    hook = aircall.webhooks[existing["webhook_id"]]
    assert hook["active"] is True
    assert _subscribed(aircall) == set(hook["events"])
    assert "call.created" not in hook["events"] and set(hook["events"]) >= MESSAGE_EVENTS
    # The list hid the Dashboard webhook's token: it was read from the webhook itself.
    assert f"CONNECTOR_AIRCALL_WEBHOOK_TOKEN={existing['token']}" in result.output


def test_other_webhooks_are_left_alone_and_a_second_one_to_our_url_is_reported(
    aircall: FakeAircall,
) -> None:
    unrelated = aircall.add_webhook("https://crm.example.org/aircall", ["call.ended"])
    runner.invoke(app, ["connect", "aircall"])
    aircall.add_webhook(HOOK_URL, ["message.received"])

    result = runner.invoke(app, ["connect", "aircall"])

    assert result.exit_code == 0, result.output
    assert aircall.webhooks[unrelated["webhook_id"]]["events"] == ["call.ended"]
    assert "also posts to" in result.output and "each event arrives twice" in result.output
    assert len(aircall.webhooks) == 3  # nothing deleted


def test_write_env_rewrites_only_the_token_line_and_a_second_run_leaves_the_file_alone(
    aircall: FakeAircall, tmp_path: Path
) -> None:
    env = tmp_path / "deploy.env"
    original = (
        "# production settings\n"
        "CONNECTOR_PUBLIC_URL=https://mms.example.com\n"
        "\n"
        "export CONNECTOR_AIRCALL_WEBHOOK_TOKEN=old-token-from-last-year\n"
        "CONNECTOR_LOG_LEVEL=INFO  # keep quiet\n"
    )
    env.write_text(original)
    os.chmod(env, 0o640)

    first = runner.invoke(app, ["connect", "aircall", "--write-env", str(env)])
    after_first = env.read_text()
    mtime = env.stat().st_mtime_ns
    second = runner.invoke(app, ["connect", "aircall", "--write-env", str(env)])

    token = next(iter(aircall.webhooks.values()))["token"]
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    expected = original.replace("old-token-from-last-year", token)
    assert after_first == expected
    assert "wrote CONNECTOR_AIRCALL_WEBHOOK_TOKEN" in first.output
    assert "already has" in second.output
    assert env.read_text() == after_first and env.stat().st_mtime_ns == mtime
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert token not in first.output  # written, not printed


def test_write_env_appends_the_variable_to_a_file_without_it(
    aircall: FakeAircall, tmp_path: Path
) -> None:
    env = tmp_path / ".env.prod"
    env.write_text("CONNECTOR_LOG_LEVEL=INFO")  # no final newline

    result = runner.invoke(app, ["connect", "aircall", "--write-env", str(env)])

    token = next(iter(aircall.webhooks.values()))["token"]
    assert result.exit_code == 0, result.output
    assert env.read_text() == f"CONNECTOR_LOG_LEVEL=INFO\nCONNECTOR_AIRCALL_WEBHOOK_TOKEN={token}\n"


def test_refused_credentials_are_named_and_nothing_is_created(
    aircall: FakeAircall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_AIRCALL_API_TOKEN", "wrong")

    result = runner.invoke(app, ["connect", "aircall"])

    assert result.exit_code == 1
    assert "Aircall answered 403" in result.output
    assert "CONNECTOR_AIRCALL_API_TOKEN" in result.output
    assert aircall.webhooks == {}


def test_a_public_url_aircall_cannot_call_is_refused_before_any_request(
    aircall: FakeAircall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", "http://127.0.0.1:8080")

    result = runner.invoke(app, ["connect", "aircall"])

    assert result.exit_code == 2
    assert "https" in result.output
    assert aircall.calls == []


# -- CloudTalk ----------------------------------------------------------------------------------


@pytest.fixture
def cloudtalk_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("CONNECTOR_CLOUDTALK_FIELD_MAP", raising=False)
    return tmp_path


def _bodies(output: str) -> list[dict[str, object]]:
    """The JSON bodies printed, each indented under its workflow."""
    bodies, current = [], None
    for line in output.splitlines():
        text = line[3:] if line.startswith("   ") else None
        if text == "{":
            current = [text]
        elif current is not None and text is not None:
            current.append(text)
            if text == "}":
                bodies.append(json.loads("\n".join(current)))
                current = None
    return bodies


def test_cloudtalk_prints_both_workflows_with_url_header_and_keys_filled_in(
    cloudtalk_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = SECRET
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", secret)

    result = runner.invoke(app, ["connect", "cloudtalk"])

    assert result.exit_code == 0, result.output
    assert result.output.count(f"Endpoint: {PUBLIC_URL}/webhooks/cloudtalk") == 2
    assert result.output.count(f"Header:   X-Connector-Secret: {secret}") == 2
    received, sent = _bodies(result.output)
    assert received == json.loads(cloudtalk.RECEIVED_BODY_TEMPLATE)
    assert sent == json.loads(cloudtalk.SENT_BODY_TEMPLATE)
    assert "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET=" not in result.output  # already configured


def test_cloudtalk_bodies_follow_the_field_map_and_the_parser_reads_them(
    cloudtalk_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv(
        "CONNECTOR_CLOUDTALK_FIELD_MAP",
        json.dumps({"text": "body", "other_party": "contact.phone"}),
    )

    result = runner.invoke(app, ["connect", "cloudtalk"])

    received, _sent = _bodies(result.output)
    assert received["body"] == "<message text>"
    assert received["contact"] == {"phone": "<contact number>"}
    assert "text" not in received and "external_number" not in received


def test_cloudtalk_without_a_secret_generates_one_and_writes_it_on_request(
    cloudtalk_env: Path,
) -> None:
    env = cloudtalk_env / "prod.env"
    env.write_text("# keep me\nCONNECTOR_LOG_LEVEL=INFO\n")

    result = runner.invoke(app, ["connect", "cloudtalk", "--write-env", str(env)])

    assert result.exit_code == 0, result.output
    lines = env.read_text().splitlines()
    assert lines[:2] == ["# keep me", "CONNECTOR_LOG_LEVEL=INFO"]
    name, _, secret = lines[2].partition("=")
    assert name == "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET" and len(secret) == 64
    assert f"X-Connector-Secret: {secret}" in result.output


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """The connector itself on loopback, with its own CloudTalk secret (`CLOUDTALK_SECRET`)."""
    connector = bootstrap.build(make_settings(tmp_path / "service"))
    try:
        with serving(create_app(connector)) as url:
            yield url
    finally:
        connector.close()


def test_check_posts_a_test_event_the_service_acknowledges_and_does_not_store(
    cloudtalk_env: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", CLOUDTALK_SECRET)

    result = runner.invoke(app, ["connect", "cloudtalk", "--check", "--service-url", service])

    assert result.exit_code == 0, result.output
    # The in-process service's own access line may share the captured output: read the verdict.
    verdict = result.output.strip().splitlines()[-1]
    assert verdict.startswith("✓") and "answered 200" in verdict
    assert "nothing stored" in result.output


def test_check_reports_a_secret_the_service_refuses(
    cloudtalk_env: Path, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", SECRET)  # not the service's

    result = runner.invoke(app, ["connect", "cloudtalk", "--check", "--service-url", service])

    assert result.exit_code == 1
    verdict = result.output.strip().splitlines()[-1]
    assert verdict.startswith("✗") and "answered 401" in verdict
    assert "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET" in result.output


def test_check_reports_a_service_that_does_not_answer(
    cloudtalk_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", SECRET)
    sock = free_socket()  # bound, never listening: connections are refused
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = runner.invoke(app, ["connect", "cloudtalk", "--check", "--service-url", url])
    finally:
        sock.close()

    assert result.exit_code == 1
    assert "could not reach" in result.output and "is the service running" in result.output
