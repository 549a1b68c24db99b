"""Start-up refuses API tokens and webhook secrets that anyone could guess, naming the variable;
token entries carry a name and scopes (`name:scope+scope:secret`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from connector import bootstrap
from connector.config import ConfigError, load_settings
from connector.core.access import Scope
from tests.conftest import make_settings

STRONG = "k3Jd9qLw2ZxV7pRt5YbN8mFh4GcS6aE1"  # 32 bytes


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CONNECTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def refusal(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert variable in message
    return message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("change-me", "placeholder"),
        ("changeme", "placeholder"),
        ("secret", "placeholder"),
        ("password", "placeholder"),
        ("REPLACE_ME", "placeholder"),
        ("ops:admin:change-me-change-me-change-me-change-me", "placeholder"),
        ("ops:admin:https://example.com/0123456789abcdefghijkl", "placeholder"),
        ("short-but-random-Q8x", "shorter than 32 bytes"),
        (f"ops:admin:{STRONG[:31]}", "shorter than 32 bytes"),
        ("ops:admin:" + "ab" * 20, "too few characters"),
        (f"ops:admin:{STRONG},ops:read:{STRONG[::-1]}", "used twice"),
        (f"a:admin:{STRONG},b:read:{STRONG}", "share one secret"),
        (f"ops:root:{STRONG}", "unknown scope 'root'"),
        (f"ops{STRONG}:x", "name:scopes:secret"),
    ],
)
def test_weak_or_malformed_api_tokens_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    message = refusal(monkeypatch, "CONNECTOR_API_TOKENS", value)

    assert reason in message
    secret = value.rsplit(":", 1)[-1]
    assert len(secret) < 10 or secret not in message  # the value itself is never echoed


def test_an_empty_api_token_list_leaves_the_api_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_API_TOKENS", "")
    assert load_settings().api_tokens == []


def test_entries_carry_a_name_and_scopes_joined_by_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    other = STRONG[::-1]
    value = f"crm-card:compose:{STRONG},scripts:read+send:{other}"
    monkeypatch.setenv("CONNECTOR_API_TOKENS", value)

    card, scripts = load_settings().api_tokens

    assert (card.name, card.scopes, card.secret) == ("crm-card", {Scope.COMPOSE}, STRONG)
    assert scripts.scopes == {Scope.READ, Scope.SEND}
    assert card.allows(Scope.COMPOSE) and not card.allows(Scope.READ)


def test_a_bare_token_is_still_an_admin_token_with_a_warning(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_tokens=[STRONG])
    (token,) = settings.api_tokens
    assert token.legacy and all(token.allows(scope) for scope in Scope)

    with structlog.testing.capture_logs() as logs:
        bootstrap.build(settings).close()

    warned = [e for e in logs if e["event"] == "config.api_token_without_scopes"]
    assert warned and warned[0]["entry"] == "entry-1"
    assert STRONG not in str(logs)


@pytest.mark.parametrize("value", ["", "change-me", "your-token-here", "secret"])
def test_the_aircall_webhook_token_refuses_only_empty_and_placeholder_values(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    refusal(monkeypatch, "CONNECTOR_AIRCALL_WEBHOOK_TOKEN", value)


def test_a_short_token_generated_by_aircall_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_AIRCALL_WEBHOOK_TOKEN", "a1b2c3d4e5")
    assert load_settings().aircall.webhook_token is not None


@pytest.mark.parametrize("value", ["", "change-me", "0123456789abcdef"])
def test_the_cloudtalk_secret_is_held_to_the_api_token_strength(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    refusal(monkeypatch, "CONNECTOR_CLOUDTALK_WEBHOOK_SECRET", value)
