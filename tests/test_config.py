"""Settings from `CONNECTOR_*` variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import ConfigError, load_settings
from connector.core.model import AccountState, Provider
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY

ALPHA = "alpha-4f1c9e7d2b8a6f3e0c5d9b1a7e4f2c8d"
BETA = "beta-9a2e6c1f8d4b7e3a0f5c2d9b6e1a8f4c"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `CONNECTOR_*` variable from the caller's shell, and no stray `.env` in the cwd."""
    for name in list(os.environ):
        if name.startswith("CONNECTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_no_environment():
    settings = load_settings()
    assert settings.media.retention_days == 183
    assert settings.api_tokens == []
    assert settings.policy(Provider.AIRCALL) == AIRCALL_POLICY
    assert settings.policy(Provider.CLOUDTALK) == CLOUDTALK_POLICY
    assert settings.account_state(Provider.CLOUDTALK) is AccountState.ACTIVE
    assert not settings.hubspot.enabled
    assert not settings.salesforce.enabled


def test_media_retention_defaults_to_about_six_months():
    assert 180 <= load_settings().media.retention_days <= 184


def test_sqlite_under_data_dir_when_no_database_url(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("CONNECTOR_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert (
        settings.effective_database_url
        == f"sqlite:///{(tmp_path / 'data').as_posix()}/connector.db"
    )
    assert settings.media_dir == tmp_path / "data" / "media"


def test_database_url_wins_over_the_sqlite_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", "postgresql+psycopg://db/connector")
    assert load_settings().effective_database_url == "postgresql+psycopg://db/connector"


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        pytest.param(f"a:read:{ALPHA}", [ALPHA], id="one token"),
        pytest.param(f"a:read:{ALPHA},b:send:{BETA}", [ALPHA, BETA], id="comma separated"),
        pytest.param(
            f" a:read:{ALPHA} , b:send:{BETA} ,, ", [ALPHA, BETA], id="spaces and empty items"
        ),
        pytest.param("", [], id="empty"),
    ],
)
def test_api_tokens_are_comma_separated(monkeypatch: pytest.MonkeyPatch, raw: str, tokens):
    monkeypatch.setenv("CONNECTOR_API_TOKENS", raw)
    assert [t.secret for t in load_settings().api_tokens] == tokens


def test_api_tokens_are_never_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_API_TOKENS", f"ops:admin:{ALPHA}")
    assert ALPHA not in repr(load_settings())


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "1.5"])
def test_a_bad_media_retention_names_the_variable(monkeypatch: pytest.MonkeyPatch, raw: str):
    monkeypatch.setenv("CONNECTOR_MEDIA_RETENTION_DAYS", raw)
    with pytest.raises(ConfigError, match="CONNECTOR_MEDIA_RETENTION_DAYS"):
        load_settings()


def test_a_policy_override_is_applied(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_POLICY", '{"max_files": 4, "countries": ["US"]}')
    policy = load_settings().policy(Provider.CLOUDTALK)
    assert policy.max_files == 4
    assert policy.countries == frozenset({"US"})
    assert policy.provider is Provider.CLOUDTALK


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        pytest.param('{"max_files": 0}', "max_files", id="invalid limit"),
        pytest.param('{"maximum_files": 3}', "maximum_files", id="unknown key"),
        pytest.param("[1, 2]", "dictionary", id="not an object"),
        pytest.param("{not json", "", id="malformed json"),
    ],
)
def test_a_bad_cloudtalk_policy_override_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, detail: str
):
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_POLICY", raw)
    with pytest.raises(ConfigError, match="CONNECTOR_CLOUDTALK_POLICY") as excinfo:
        load_settings()
    assert detail in str(excinfo.value)


def test_a_bad_account_state_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_AIRCALL_ACCOUNT_STATE", "bankrupt")
    with pytest.raises(ConfigError, match="CONNECTOR_AIRCALL_ACCOUNT_STATE"):
        load_settings()


def test_account_state_is_read_per_provider(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_CLOUDTALK_ACCOUNT_STATE", "trial")
    settings = load_settings()
    assert settings.account_state(Provider.CLOUDTALK) is AccountState.TRIAL
    assert settings.account_state(Provider.AIRCALL) is AccountState.ACTIVE


def test_every_bad_variable_is_named_at_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_MEDIA_RETENTION_DAYS", "abc")
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", "example.com")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert "CONNECTOR_MEDIA_RETENTION_DAYS" in str(excinfo.value)
    assert "CONNECTOR_PUBLIC_URL" in str(excinfo.value)


def test_urls_lose_their_trailing_slash(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_PUBLIC_URL", "https://crm-link.example.com/")
    assert load_settings().public_url == "https://crm-link.example.com"


def test_a_dot_env_file_in_the_working_directory_is_read(tmp_path: Path):
    (tmp_path / ".env").write_text("CONNECTOR_MEDIA_RETENTION_DAYS=30\n")
    assert load_settings().media.retention_days == 30


def test_the_environment_wins_over_the_dot_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path):
    (tmp_path / ".env").write_text("CONNECTOR_MEDIA_RETENTION_DAYS=30\n")
    monkeypatch.setenv("CONNECTOR_MEDIA_RETENTION_DAYS", "90")
    assert load_settings().media.retention_days == 90


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


GENERATED_KEY = "Jq7vX2mR9tLw4bN8cZ1yHs6pK3dF0gAeUoYi5WxQ"  # 40 random characters


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("   ", "is empty", id="blank"),
        pytest.param("change-me", "placeholder", id="the old example value"),
        pytest.param(GENERATED_KEY[:31], "shorter than 32 bytes", id="31 bytes"),
        pytest.param("change-me-to-a-long-random-string-0123", "placeholder", id="placeholder"),
        pytest.param("REPLACE_ME_WITH_32_RANDOM_BYTES_PLEASE", "placeholder", id="replace me"),
        pytest.param("x" * 64, "too few characters", id="one character"),
    ],
)
def test_a_weak_secret_key_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, reason: str
):
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", raw)
    with pytest.raises(ConfigError, match="CONNECTOR_SECRET_KEY") as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert reason in message
    assert "secrets.token_urlsafe" in message  # says how to make a good one
    if raw.strip():
        assert raw not in message  # the value itself is never echoed


def test_a_random_secret_key_of_32_bytes_or_more_is_accepted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CONNECTOR_SECRET_KEY", GENERATED_KEY[:32])
    assert load_settings().secret_key is not None


def test_an_unset_secret_key_is_generated_later_not_refused():
    assert load_settings().secret_key is None


@pytest.mark.parametrize("raw", ["", "change-me"])
def test_the_server_refuses_to_start_with_a_weak_secret_key(tmp_path: Path, raw: str):
    """From outside: `mms-connector serve` exits with the variable named, before listening."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("CONNECTOR_")
    }
    environment |= {"CONNECTOR_SECRET_KEY": raw, "CONNECTOR_DATA_DIR": str(tmp_path / "var")}
    finished = subprocess.run(
        [str(Path(sys.executable).with_name("mms-connector")), "serve", "--port", "0"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2
    assert "CONNECTOR_SECRET_KEY" in finished.stderr
    assert not (tmp_path / "var" / "connector.db").exists()


def test_flat_overrides_reach_their_group():
    settings = load_settings(
        _env_file=None,
        hubspot_access_token="pat-na1-x",
        max_zip_bytes=1024,
        job_lease_seconds=30,
        worker_concurrency=2,
    )
    assert settings.hubspot.enabled
    assert settings.media.max_zip_bytes == 1024
    assert (settings.jobs.lease_seconds, settings.jobs.worker_concurrency) == (30, 2)


def test_an_unknown_override_is_refused():
    with pytest.raises(TypeError, match="hubspot_acess_token"):
        load_settings(_env_file=None, hubspot_acess_token="pat-na1-x")


def test_a_variable_outside_its_groups_prefix_is_read_by_its_own_name(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("CONNECTOR_MAX_MEDIA_PER_MESSAGE", "7")
    monkeypatch.setenv("CONNECTOR_WORKER_POLL_SECONDS", "0.25")
    settings = load_settings()
    assert settings.media.max_per_message == 7
    assert settings.value_of("CONNECTOR_WORKER_POLL_SECONDS") == 0.25
