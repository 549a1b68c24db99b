"""The connector's settings: environment variables prefixed `CONNECTOR_` (and a `.env` file).

The names are the external contract (the README's configuration table). An invalid value stops
start-up with an error that names the variable, so an operator never has to map a field name
back to the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from connector.core.access import MIN_SECRET_BYTES, ApiToken, parse_tokens, placeholder, weakness
from connector.core.field_maps import CloudTalkFieldMap
from connector.core.model import AccountState, Provider
from connector.core.policy import MmsPolicy, policy_for

ENV_PREFIX = "CONNECTOR_"
# An error about a variable whose name holds one of these never quotes the value.
_SECRET_WORDS = ("token", "secret", "password", "key")


class ConfigError(ValueError):
    """Configuration that cannot be used; the message names each offending variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under DATA_DIR when unset."
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://host:6379/0: rate budgets in Redis instead of the database.",
    )
    mappings_dir: Path = Path("./mappings")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of the links written into CRM records."
    )
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(
        default_factory=list, description="`name:scope[+scope]:secret`, comma-separated."
    )
    max_webhook_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest webhook body accepted (413 above)."
    )
    api_docs: bool = Field(default=True, description="Serve /docs and /openapi.json.")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs media and page links; generated under DATA_DIR if unset."
    )
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keys replaced by SECRET_KEY, comma-separated: their links still verify.",
    )
    media_retention_days: int = Field(default=183, ge=1)
    media_download_timeout_seconds: float = Field(
        default=45.0, gt=0, description="One received medium's whole download; <= 3/4 lease."
    )
    max_media_per_message: int = Field(
        default=50, ge=1, description="Media kept of one received message; the rest unavailable."
    )
    max_zip_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1, description="Media in one zip; the rest are listed."
    )
    media_store_url: str | None = Field(
        default=None,
        description="file:///path or s3://bucket/prefix; the folder DATA_DIR/media when unset.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, Ceph, R2...); AWS when unset."
    )
    media_redirect: bool = Field(
        default=False, description="Answer media links with a presigned URL (S3 store only)."
    )
    allow_private_media_urls: bool = False
    log_level: str = "INFO"
    frame_ancestors: str | None = Field(
        default=None,
        description="Space-separated CSP sources allowed to frame the pages (CRM domains).",
    )

    hubspot_access_token: SecretStr | None = None
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_rate_limit: int = Field(default=100, ge=1, description="Requests per window.")
    hubspot_rate_window_seconds: float = Field(default=10.0, gt=0)
    hubspot_search_rate: float = Field(default=4.0, gt=0, description="Searches per second.")
    hubspot_timeout_seconds: float = Field(default=30.0, gt=0)
    hubspot_app_client_secret: SecretStr | None = Field(
        default=None,
        description="The HubSpot app's client secret: verifies the card's signed requests.",
    )
    hubspot_portal_id: int | None = Field(
        default=None, ge=1, description="When set, signed card requests from other portals: 403."
    )

    salesforce_instance_url: str | None = None
    salesforce_session_id: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_domain: str = "login"
    salesforce_consumer_key: str | None = None
    salesforce_consumer_secret: SecretStr | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_api_version: str = "62.0"
    salesforce_login_url: str | None = Field(
        default=None, description="OAuth base URL; https://{DOMAIN}.salesforce.com when unset."
    )
    salesforce_timeout_seconds: float = Field(default=30.0, gt=0)
    salesforce_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    salesforce_api_usage_soft: float = Field(default=0.80, gt=0, le=1)
    salesforce_api_usage_hard: float = Field(default=0.95, gt=0, le=1)
    crm_cache_seconds: float = Field(
        default=10800.0,
        gt=0,
        description="How long a phone's CRM contact, and a contact's company and open deals, "
        "are trusted before they are read from the CRM again (shared by every process).",
    )

    aircall_api_id: str | None = None
    aircall_api_token: SecretStr | None = None
    aircall_webhook_token: SecretStr | None = None
    aircall_base_url: str = "https://api.aircall.io"
    aircall_account_state: AccountState = AccountState.ACTIVE
    aircall_requests_per_minute: float = Field(
        default=120, gt=0, description="Aircall's send API budget (per company)."
    )
    aircall_policy: dict[str, Any] = Field(
        default_factory=dict, description="JSON overrides of the Aircall MMS policy."
    )

    cloudtalk_api_key_id: str | None = None
    cloudtalk_api_key_secret: SecretStr | None = None
    cloudtalk_webhook_secret: SecretStr | None = None
    cloudtalk_base_url: str = "https://my.cloudtalk.io"
    cloudtalk_account_state: AccountState = AccountState.ACTIVE
    cloudtalk_requests_per_minute: float = Field(
        default=60, gt=0, description="CloudTalk's send API budget (per company)."
    )
    cloudtalk_policy: dict[str, Any] = Field(
        default_factory=dict, description="JSON overrides of the CloudTalk MMS policy."
    )
    cloudtalk_field_map: CloudTalkFieldMap = Field(
        default_factory=CloudTalkFieldMap,
        description="JSON: which keys of the workflow body hold what, when not the defaults.",
    )

    job_max_age_hours: float = Field(default=72.0, gt=0)
    job_lease_seconds: float = Field(default=60.0, gt=0)
    job_retention_days: int = Field(default=14, ge=1)
    worker_concurrency: int = Field(default=4, ge=1)
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    sync_linger_seconds: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="How long a small CRM batch waits for more records when the budget is short.",
    )

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [token.strip() for token in value.split(",") if token.strip()]
        if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
            return parse_tokens(value)
        return value

    @field_validator("aircall_webhook_token")
    @classmethod
    def _check_aircall_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Aircall generates this token and its length is Aircall's: only a placeholder or an
        # empty value (which would leave the webhook open to anyone who omits it) is refused.
        if value is not None:
            token = value.get_secret_value()
            if not token.strip():
                raise ValueError("is empty: leave the variable unset to keep Aircall off")
            if placeholder(token):
                raise ValueError("is a placeholder: set the token Aircall shows for the webhook")
        return value

    @field_validator("hubspot_app_client_secret")
    @classmethod
    def _check_hubspot_app_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # HubSpot generates the client secret (a UUID): only an empty or placeholder value,
        # which anyone could sign with, is refused.
        if value is not None:
            secret = value.get_secret_value()
            if not secret.strip():
                raise ValueError("is empty: leave the variable unset to turn the card's route off")
            if placeholder(secret):
                raise ValueError("is a placeholder: copy the client secret from the app's Auth tab")
        return value

    @field_validator("cloudtalk_webhook_secret")
    @classmethod
    def _check_cloudtalk_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # The operator chooses this one (a static header in the workflow): held to the same
        # strength as an API token.
        if value is not None:
            problem = weakness(value.get_secret_value())
            if problem is not None:
                raise ValueError(f"{problem} (generate one, e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            problem = weakness(value.get_secret_value())
            if problem:
                raise ValueError(
                    f"{problem}; unset it to have one generated under DATA_DIR, or set "
                    f"{MIN_SECRET_BYTES}+ random bytes, e.g. the output of "
                    '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
                )
        return value

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _split_previous_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _check_previous_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        # Links signed with a weak key can be forged for as long as it verifies: a retired key
        # is held to the same rule as the current one.
        for position, key in enumerate(value, start=1):
            problem = weakness(key.get_secret_value())
            if problem:
                raise ValueError(f"entry {position} {problem}")
        return value

    @field_validator("aircall_policy", "cloudtalk_policy")
    @classmethod
    def _check_policy(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        provider = Provider(str(info.field_name).removesuffix("_policy"))
        try:
            policy_for(provider, value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        return value

    @field_validator("public_url", "hubspot_base_url", "aircall_base_url", "cloudtalk_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("media_store_url")
    @classmethod
    def _check_media_store_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^?#]*)?", value):
            return value
        if re.fullmatch(r"file://[^?#]+", value):
            return value
        raise ValueError("must be file:///absolute/path or s3://bucket[/prefix]")

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'connector.db').as_posix()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def policy(self, provider: Provider) -> MmsPolicy:
        overrides = {
            Provider.AIRCALL: self.aircall_policy,
            Provider.CLOUDTALK: self.cloudtalk_policy,
        }[provider]
        return policy_for(provider, overrides)

    def account_state(self, provider: Provider) -> AccountState:
        return {
            Provider.AIRCALL: self.aircall_account_state,
            Provider.CLOUDTALK: self.cloudtalk_account_state,
        }[provider]

    @property
    def hubspot_enabled(self) -> bool:
        return self.hubspot_access_token is not None

    @property
    def aircall_send_enabled(self) -> bool:
        return bool(self.aircall_api_id and self.aircall_api_token)

    @property
    def cloudtalk_send_enabled(self) -> bool:
        return bool(self.cloudtalk_api_key_id and self.cloudtalk_api_key_secret)

    @property
    def salesforce_enabled(self) -> bool:
        return bool(
            self.salesforce_session_id or self.salesforce_username or self.salesforce_consumer_key
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, or a `ConfigError` naming each bad variable."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # a value pydantic-settings cannot decode, e.g. malformed JSON
        raise ConfigError(_describe_undecodable(exc)) from None
    return settings


def _describe_undecodable(exc: SettingsError) -> str:
    field = re.search(r'field "([^"]+)"', str(exc))
    variable = ENV_PREFIX + field.group(1).upper() if field else ENV_PREFIX + "*"
    cause = f" ({exc.__cause__})" if exc.__cause__ else ""
    return f"invalid configuration:\n  {variable}: cannot be decoded{cause}"


_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)
)


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        variable = ENV_PREFIX + location[0].upper() if location else ENV_PREFIX
        detail = ".".join(location[1:])
        where = f"{variable} ({detail})" if detail else variable
        given = error.get("input")
        secret = bool(location) and (
            location[0] in _SECRET_FIELDS or any(word in location[0] for word in _SECRET_WORDS)
        )
        hidden = secret or isinstance(given, dict) or given is None
        shown = "" if hidden else f" (got {given!r})"
        lines.append(f"{where}: {error['msg']}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
