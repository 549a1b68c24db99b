"""The connector's settings: environment variables prefixed `CONNECTOR_` (and a `.env` file).

The names are the external contract (the README's configuration table). An invalid value stops
start-up with an error that names the variable, so an operator never has to map a field name
back to the environment.

The values are grouped by concern (`settings.hubspot.access_token`, `settings.media.store_url`,
`settings.jobs.lease_seconds`), each group a `BaseSettings` of its own whose `env_prefix` is the
group's (`CONNECTOR_HUBSPOT_`); a variable outside its group's prefix (`CONNECTOR_MAX_ZIP_BYTES`)
names itself with a `validation_alias`. Each variable is declared once, in its group. Code and
tests speak the flat vocabulary of the environment without its prefix:
`load_settings(hubspot_access_token=..., max_zip_bytes=...)` routes each value to its group.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from connector.core.access import MIN_SECRET_BYTES, ApiToken, parse_tokens, placeholder, weakness
from connector.core.errors import ConfigError
from connector.core.field_maps import CloudTalkFieldMap
from connector.core.model import AccountState, Provider
from connector.core.policy import MmsPolicy, policy_for

__all__ = [
    "ENV_PREFIX",
    "AircallSettings",
    "CloudTalkSettings",
    "ConfigError",
    "HubSpotSettings",
    "JobSettings",
    "MediaSettings",
    "ProviderSettings",
    "SalesforceSettings",
    "Settings",
    "load_settings",
    "variables",
]

ENV_PREFIX = "CONNECTOR_"
# An error about a variable whose name holds one of these never quotes the value.
_SECRET_WORDS = ("token", "secret", "password", "key")


def _environment(group_prefix: str = "") -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=ENV_PREFIX + group_prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        frozen=True,
    )


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _alias(variable: str) -> Any:
    """A field whose variable does not follow its group's prefix."""
    return Field(validation_alias=ENV_PREFIX + variable)


class HubSpotSettings(BaseSettings):
    """`CONNECTOR_HUBSPOT_*`: HubSpot is on when the access token is set."""

    model_config = _environment("HUBSPOT_")

    access_token: SecretStr | None = None
    base_url: str = "https://api.hubapi.com"
    rate_limit: int = Field(default=100, ge=1, description="Requests per window.")
    rate_window_seconds: float = Field(default=10.0, gt=0)
    search_rate: float = Field(default=4.0, gt=0, description="Searches per second.")
    timeout_seconds: float = Field(default=30.0, gt=0)
    app_client_secret: SecretStr | None = Field(
        default=None,
        description="The HubSpot app's client secret: verifies the card's signed requests.",
    )
    portal_id: int | None = Field(
        default=None, ge=1, description="When set, signed card requests from other portals: 403."
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("app_client_secret")
    @classmethod
    def _check_app_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # HubSpot generates the client secret (a UUID): only an empty or placeholder value,
        # which anyone could sign with, is refused.
        if value is not None:
            secret = value.get_secret_value()
            if not secret.strip():
                raise ValueError("is empty: leave the variable unset to turn the card's route off")
            if placeholder(secret):
                raise ValueError("is a placeholder: copy the client secret from the app's Auth tab")
        return value

    @property
    def enabled(self) -> bool:
        return self.access_token is not None


class SalesforceSettings(BaseSettings):
    """`CONNECTOR_SALESFORCE_*`: Salesforce is on when any login mode's first value is set."""

    model_config = _environment("SALESFORCE_")

    instance_url: str | None = None
    session_id: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    domain: str = "login"
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: Path | None = None
    api_version: str = "62.0"
    login_url: str | None = Field(
        default=None, description="OAuth base URL; https://{DOMAIN}.salesforce.com when unset."
    )
    timeout_seconds: float = Field(default=30.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    api_usage_soft: float = Field(default=0.80, gt=0, le=1)
    api_usage_hard: float = Field(default=0.95, gt=0, le=1)

    @property
    def enabled(self) -> bool:
        return bool(self.session_id or self.username or self.consumer_key)


class ProviderSettings(BaseSettings):
    """What both providers' groups hold: the account's state and the MMS policy overrides."""

    provider: ClassVar[Provider]

    base_url: str
    requests_per_minute: float
    account_state: AccountState = AccountState.ACTIVE
    policy: dict[str, Any] = Field(
        default_factory=dict, description="JSON overrides of the provider's MMS policy."
    )

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            policy_for(cls.provider, value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(problems) from None
        return value

    @property
    def mms_policy(self) -> MmsPolicy:
        """The provider's MMS rules with the operator's overrides applied."""
        return policy_for(self.provider, self.policy)

    @property
    def send_enabled(self) -> bool:
        return self.api_credentials() is not None

    def api_credentials(self) -> tuple[str, str] | None:
        """(key id, secret) of the provider's API, when both are set: sending, the numbers
        `lines import` and the doctor read, the Aircall webhook set-up."""
        raise NotImplementedError


class AircallSettings(ProviderSettings):
    """`CONNECTOR_AIRCALL_*`: sending needs the API id and token; webhooks the webhook token."""

    model_config = _environment("AIRCALL_")
    provider: ClassVar[Provider] = Provider.AIRCALL

    api_id: str | None = None
    api_token: SecretStr | None = None
    webhook_token: SecretStr | None = None
    base_url: str = "https://api.aircall.io"
    requests_per_minute: float = Field(
        default=120, gt=0, description="Aircall's send API budget (per company)."
    )

    @field_validator("webhook_token")
    @classmethod
    def _check_webhook_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Aircall generates this token and its length is Aircall's: only a placeholder or an
        # empty value (which would leave the webhook open to anyone who omits it) is refused.
        if value is not None:
            token = value.get_secret_value()
            if not token.strip():
                raise ValueError("is empty: leave the variable unset to keep Aircall off")
            if placeholder(token):
                raise ValueError("is a placeholder: set the token Aircall shows for the webhook")
        return value

    def api_credentials(self) -> tuple[str, str] | None:
        if not (self.api_id and self.api_token):
            return None
        return self.api_id, self.api_token.get_secret_value()


class CloudTalkSettings(ProviderSettings):
    """`CONNECTOR_CLOUDTALK_*`: sending needs the API key; webhooks the webhook secret."""

    model_config = _environment("CLOUDTALK_")
    provider: ClassVar[Provider] = Provider.CLOUDTALK

    api_key_id: str | None = None
    api_key_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    base_url: str = "https://my.cloudtalk.io"
    requests_per_minute: float = Field(
        default=60, gt=0, description="CloudTalk's send API budget (per company)."
    )
    field_map: CloudTalkFieldMap = Field(
        default_factory=CloudTalkFieldMap,
        description="JSON: which keys of the workflow body hold what, when not the defaults.",
    )

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # The operator chooses this one (a static header in the workflow): held to the same
        # strength as an API token.
        if value is not None:
            problem = weakness(value.get_secret_value())
            if problem is not None:
                raise ValueError(f"{problem} (generate one, e.g. `openssl rand -hex 32`)")
        return value

    def api_credentials(self) -> tuple[str, str] | None:
        if not (self.api_key_id and self.api_key_secret):
            return None
        return self.api_key_id, self.api_key_secret.get_secret_value()


class MediaSettings(BaseSettings):
    """`CONNECTOR_MEDIA_*` and the media limits named otherwise (`CONNECTOR_MAX_ZIP_BYTES`...)."""

    model_config = _environment("MEDIA_")

    retention_days: int = Field(default=183, ge=1)
    download_timeout_seconds: float = Field(
        default=45.0, gt=0, description="One received medium's whole download; <= 3/4 lease."
    )
    max_per_message: int = Field(
        default=50,
        ge=1,
        validation_alias=ENV_PREFIX + "MAX_MEDIA_PER_MESSAGE",
        description="Media kept of one received message; the rest unavailable.",
    )
    max_zip_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        validation_alias=ENV_PREFIX + "MAX_ZIP_BYTES",
        description="Media in one zip; the rest are listed.",
    )
    store_url: str | None = Field(
        default=None,
        description="file:///path or s3://bucket/prefix; the folder DATA_DIR/media when unset.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=ENV_PREFIX + "S3_ENDPOINT_URL",
        description="S3-compatible endpoint (MinIO, Ceph, R2...); AWS when unset.",
    )
    redirect: bool = Field(
        default=False, description="Answer media links with a presigned URL (S3 store only)."
    )
    allow_private_urls: bool = Field(
        default=False, validation_alias=ENV_PREFIX + "ALLOW_PRIVATE_MEDIA_URLS"
    )

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
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
        return _http_url(value) if value else None


class JobSettings(BaseSettings):
    """`CONNECTOR_JOB_*`, and the worker's and the CRM batches' pace."""

    model_config = _environment("JOB_")

    max_age_hours: float = Field(default=72.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    retention_days: int = Field(default=14, ge=1)
    worker_concurrency: int = Field(
        default=4, ge=1, validation_alias=ENV_PREFIX + "WORKER_CONCURRENCY"
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, validation_alias=ENV_PREFIX + "WORKER_POLL_SECONDS"
    )
    sync_linger_seconds: float = Field(
        default=1.0,
        ge=0,
        le=5,
        validation_alias=ENV_PREFIX + "SYNC_LINGER_SECONDS",
        description="How long a small CRM batch waits for more records when the budget is short.",
    )


class _ServiceValues(BaseModel):
    """The service-wide values, at the top of `Settings`; read by `_ServiceSettings`."""

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
    log_level: str = "INFO"
    frame_ancestors: str | None = Field(
        default=None,
        description="Space-separated CSP sources allowed to frame the pages (CRM domains).",
    )
    crm_cache_seconds: float = Field(
        default=10800.0,
        gt=0,
        description="How long a phone's CRM contact, and a contact's company and open deals, "
        "are trusted before they are read from the CRM again (shared by every process).",
    )

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [token.strip() for token in value.split(",") if token.strip()]
        if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
            return parse_tokens(value)
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

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        return _http_url(value)


class _ServiceSettings(BaseSettings, _ServiceValues):
    model_config = _environment()


class Settings(_ServiceValues):
    """Everything the connector reads from its environment; built by `load_settings`."""

    model_config = ConfigDict(frozen=True)

    hubspot: HubSpotSettings
    salesforce: SalesforceSettings
    aircall: AircallSettings
    cloudtalk: CloudTalkSettings
    media: MediaSettings
    jobs: JobSettings

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'connector.db').as_posix()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def provider(self, provider: Provider) -> ProviderSettings:
        return {Provider.AIRCALL: self.aircall, Provider.CLOUDTALK: self.cloudtalk}[provider]

    def policy(self, provider: Provider) -> MmsPolicy:
        return self.provider(provider).mms_policy

    def account_state(self, provider: Provider) -> AccountState:
        return self.provider(provider).account_state

    def value_of(self, variable: str) -> Any:
        """The value of one environment variable (`CONNECTOR_AIRCALL_WEBHOOK_TOKEN`), for code
        that names the variable to the operator anyway."""
        group, name = _FIELD_OF[variable]
        return getattr(self if group is None else getattr(self, group), name)


# Each group's attribute on `Settings` (None: the service-wide values at the top) and its class.
_GROUPS: dict[str | None, type[BaseSettings]] = {
    None: _ServiceSettings,
    "hubspot": HubSpotSettings,
    "salesforce": SalesforceSettings,
    "aircall": AircallSettings,
    "cloudtalk": CloudTalkSettings,
    "media": MediaSettings,
    "jobs": JobSettings,
}


def _variables_of(group: type[BaseSettings]) -> Iterator[tuple[str, str, str]]:
    """(variable, field name, key the group's constructor takes) of each field of a group."""
    prefix = str(group.model_config.get("env_prefix", ""))
    for name, field in group.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            yield alias.upper(), name, alias
        else:
            yield (prefix + name).upper(), name, name


# The flat vocabulary (`hubspot_access_token`) -> (group, constructor key).
_FLAT: dict[str, tuple[str | None, str]] = {
    variable.removeprefix(ENV_PREFIX).lower(): (group, key)
    for group, cls in _GROUPS.items()
    for variable, _, key in _variables_of(cls)
}
# variable -> (group, field name).
_FIELD_OF: dict[str, tuple[str | None, str]] = {
    variable: (group, name)
    for group, cls in _GROUPS.items()
    for variable, name, _ in _variables_of(cls)
}
# (group, field name or alias as pydantic reports it) -> variable.
_VARIABLE: dict[tuple[str | None, str], str] = {
    (group, reported): variable
    for group, cls in _GROUPS.items()
    for variable, name, key in _variables_of(cls)
    for reported in {name, key}
}
_SECRET_VARIABLES = frozenset(
    variable
    for cls in _GROUPS.values()
    for variable, name, _ in _variables_of(cls)
    if "SecretStr" in str(cls.model_fields[name].annotation)
)


def variables() -> frozenset[str]:
    """Every environment variable the connector reads (the README's configuration table)."""
    return frozenset(variable for cls in _GROUPS.values() for variable, _, _ in _variables_of(cls))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `.env`, or a `ConfigError` naming each bad variable.

    `overrides` use the variables' names without `CONNECTOR_`, in lower case
    (`hubspot_access_token=...`); keys starting with `_` (`_env_file=None`) go to every group.
    """
    options = {key: value for key, value in overrides.items() if key.startswith("_")}
    routed: dict[str | None, dict[str, Any]] = {group: {} for group in _GROUPS}
    for flat, value in overrides.items():
        if flat in options:
            continue
        if flat not in _FLAT:
            raise TypeError(f"load_settings() got an unknown setting {flat!r}")
        group, key = _FLAT[flat]
        routed[group][key] = value
    problems: list[str] = []
    built: dict[str | None, BaseSettings] = {}
    for group, cls in _GROUPS.items():
        try:
            built[group] = cls(**options, **routed[group])
        except ValidationError as exc:
            problems.extend(_describe(group, exc))
        except SettingsError as exc:  # a value pydantic-settings cannot decode, e.g. bad JSON
            problems.append(_describe_undecodable(group, exc))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    # Every part is validated already: assemble them without validating again.
    service = built.pop(None)
    values: dict[str, Any] = {name: getattr(service, name) for name in _ServiceValues.model_fields}
    values.update({str(group): part for group, part in built.items()})
    return Settings.model_construct(_fields_set=set(Settings.model_fields), **values)


def _variable(group: str | None, reported: str) -> str:
    return _VARIABLE.get((group, reported), ENV_PREFIX + reported.upper())


def _describe_undecodable(group: str | None, exc: SettingsError) -> str:
    field = re.search(r'field "([^"]+)"', str(exc))
    variable = _variable(group, field.group(1)) if field else ENV_PREFIX + "*"
    cause = f" ({exc.__cause__})" if exc.__cause__ else ""
    return f"{variable}: cannot be decoded{cause}"


def _describe(group: str | None, exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        variable = _variable(group, location[0]) if location else ENV_PREFIX
        detail = ".".join(location[1:])
        where = f"{variable} ({detail})" if detail else variable
        given = error.get("input")
        secret = variable in _SECRET_VARIABLES or any(
            word in variable.lower() for word in _SECRET_WORDS
        )
        hidden = secret or isinstance(given, Mapping) or given is None
        shown = "" if hidden else f" (got {given!r})"
        lines.append(f"{where}: {error['msg']}{shown}")
    return lines
