"""How the Salesforce adapter obtains an access token, in each of the four supported modes.

simple-salesforce can log in by itself, but it always posts to
``https://{domain}.salesforce.com/services/oauth2/token`` and its refresh-on-401 loops without
end on a persistent invalid session (simple-salesforce issue #804). So the adapter fetches
tokens here, from a configurable login URL, and hands simple-salesforce only an instance URL and
a session id; `client.SalesforceClient` decides when to fetch a new one.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import requests
import structlog
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import SalesforceLogin

from connector.core.errors import ConfigError, CredentialsError, Transient

log = structlog.get_logger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce accepts a JWT assertion for a few minutes at most.
JWT_LIFETIME_SECONDS = 180
RETIRING_LOGIN_WARNING = (
    "Salesforce is retiring username/password logins (SOAP login() ends in Summer '27 and is "
    "off by default in orgs created since Winter '26; the OAuth password flow is blocked by "
    "default in new orgs): switch to JWT bearer (consumer key + private key file) or client "
    "credentials"
)


def default_login_url(domain: str) -> str:
    """`login` -> https://login.salesforce.com; a My Domain prefix such as `acme.my` works too."""
    return f"https://{domain}.salesforce.com"


@dataclass(frozen=True)
class AccessToken:
    """A session id and the org's instance URL; the token never appears in a repr or a log."""

    access_token: str = field(repr=False)
    instance_url: str
    user_id: str | None = None


class SalesforceAuth(ABC):
    """One way of getting an `AccessToken`; `refreshable` says whether a 401 can be cured."""

    mode: str = ""
    refreshable: bool = True

    @abstractmethod
    def fetch(self, session: requests.Session) -> AccessToken:
        """A fresh token, or `CredentialsError` (refused) / `Transient` (login server down)."""


class SessionIdAuth(SalesforceAuth):
    """A session id and instance URL given by the operator: for quick starts and demos.

    Nothing can renew it, so once Salesforce calls it invalid the adapter raises
    `CredentialsError` and the Salesforce jobs pause until an operator gives a new one.
    """

    mode = "session id"
    refreshable = False

    def __init__(self, instance_url: str, session_id: str) -> None:
        self._token = AccessToken(session_id, instance_url.rstrip("/"))

    def fetch(self, session: requests.Session) -> AccessToken:
        return self._token


class _OAuthTokenAuth(SalesforceAuth):
    """The shared part of the OAuth flows: one form POST to `{login_url}/services/oauth2/token`."""

    def __init__(self, login_url: str) -> None:
        self.login_url = login_url.rstrip("/")

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/services/oauth2/token"

    def _request_token(
        self, session: requests.Session, form: dict[str, str], auth: tuple[str, str] | None = None
    ) -> AccessToken:
        try:
            response = session.post(self.token_url, data=form, auth=auth)
        except requests.RequestException as exc:
            raise Transient(
                f"Salesforce login ({self.mode}) at {self.login_url} failed: {type(exc).__name__}"
            ) from None
        if response.status_code >= 500:
            raise Transient(
                f"Salesforce login ({self.mode}) answered HTTP {response.status_code}", 30.0
            )
        try:
            body: Any = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            detail = body.get("error_description", "") if isinstance(body, dict) else ""
            raise CredentialsError(
                f"Salesforce refused the {self.mode} login at {self.login_url}: "
                f"HTTP {response.status_code} {error} {detail}".strip()
            )
        if not body.get("access_token") or not body.get("instance_url"):
            raise CredentialsError(
                f"Salesforce's {self.mode} login answer has no access_token/instance_url"
            )
        log.info("salesforce.token_fetched", mode=self.mode)
        return AccessToken(
            body["access_token"], str(body["instance_url"]).rstrip("/"), _user_id(body.get("id"))
        )


def _user_id(identity_url: Any) -> str | None:
    """The user id at the end of the identity URL `.../id/{org id}/{user id}`."""
    if not isinstance(identity_url, str) or "/id/" not in identity_url:
        return None
    return identity_url.rstrip("/").rsplit("/", 1)[-1] or None


class JwtBearerAuth(_OAuthTokenAuth):
    """OAuth 2.0 JWT bearer: a connected app's consumer key and the private key of its
    certificate, for a pre-authorised integration user. The production choice."""

    mode = "JWT bearer"

    def __init__(
        self,
        *,
        consumer_key: str,
        username: str,
        private_key_file: Path,
        login_url: str,
        audience: str = "https://login.salesforce.com",
    ) -> None:
        super().__init__(login_url)
        self.consumer_key = consumer_key
        self.username = username
        self.private_key_file = Path(private_key_file)
        self.audience = audience

    def fetch(self, session: requests.Session) -> AccessToken:
        try:
            private_key = self.private_key_file.read_bytes()
        except OSError as exc:
            raise CredentialsError(
                f"cannot read the Salesforce private key file {self.private_key_file}: "
                f"{exc.strerror}"
            ) from None
        claims = {
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": self.audience,
            "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(claims, private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise CredentialsError(
                f"the Salesforce private key file {self.private_key_file} is not a usable RSA "
                f"key: {type(exc).__name__}"
            ) from None
        return self._request_token(
            session, {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        )


class ClientCredentialsAuth(_OAuthTokenAuth):
    """OAuth 2.0 client credentials: consumer key and secret of a connected app with a run-as
    user. Salesforce serves this flow on the org's My Domain only (not login.salesforce.com)."""

    mode = "client credentials"

    def __init__(self, *, consumer_key: str, consumer_secret: str, login_url: str) -> None:
        super().__init__(login_url)
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret

    def fetch(self, session: requests.Session) -> AccessToken:
        return self._request_token(
            session,
            {"grant_type": "client_credentials"},
            auth=(self.consumer_key, self._consumer_secret),
        )


class PasswordAuth(_OAuthTokenAuth):
    """Username and password (plus security token): the OAuth password flow when a consumer key
    and secret are given, else SOAP `login()`. Both are being retired by Salesforce, hence the
    warning at start-up."""

    mode = "username/password"

    def __init__(
        self,
        *,
        username: str,
        password: str,
        security_token: str | None,
        login_url: str,
        domain: str = "login",
        api_version: str = "62.0",
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
    ) -> None:
        super().__init__(login_url)
        self.username = username
        self._password = password
        self._security_token = security_token or ""
        self.domain = domain
        self.api_version = api_version
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        log.warning("salesforce.password_login_retiring", detail=RETIRING_LOGIN_WARNING)

    def fetch(self, session: requests.Session) -> AccessToken:
        if self.consumer_key and self._consumer_secret:
            return self._request_token(
                session,
                {
                    "grant_type": "password",
                    "client_id": self.consumer_key,
                    "client_secret": self._consumer_secret,
                    "username": self.username,
                    "password": self._password + self._security_token,
                },
            )
        return self._soap_login(session)

    def _soap_login(self, session: requests.Session) -> AccessToken:
        # simple-salesforce builds the SOAP URL from the domain; the login URL cannot apply.
        try:
            session_id, instance = SalesforceLogin(
                username=self.username,
                password=self._password,
                security_token=self._security_token,
                domain=self.domain,
                sf_version=self.api_version,
                session=session,
            )
        except SalesforceAuthenticationFailed as exc:
            raise CredentialsError(
                f"Salesforce refused the SOAP username/password login: {exc.code} "
                f"{exc.auth_message}"
            ) from None
        except requests.RequestException as exc:
            raise Transient(f"Salesforce SOAP login failed: {type(exc).__name__}") from None
        log.info("salesforce.token_fetched", mode="SOAP login")
        return AccessToken(session_id, f"https://{instance}")


@dataclass(frozen=True)
class SalesforceCredentials:
    """What the operator configured to log in with (`CONNECTOR_SALESFORCE_*`): any mode's
    values, each possibly absent; `auth_for` picks the mode. Secrets stay out of the repr."""

    domain: str = "login"
    login_url: str | None = None
    api_version: str = "62.0"
    consumer_key: str | None = None
    consumer_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    private_key_file: Path | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    instance_url: str | None = None
    session_id: str | None = field(default=None, repr=False)


def auth_for(credentials: SalesforceCredentials) -> SalesforceAuth:
    """The strongest mode the credentials allow: JWT bearer, client credentials,
    username/password, then a bare session id. `ConfigError` names the variables when none is
    complete."""
    domain = credentials.domain or "login"
    login_url = credentials.login_url or default_login_url(domain)
    consumer_key = credentials.consumer_key
    consumer_secret = credentials.consumer_secret
    username = credentials.username
    if consumer_key and username and credentials.private_key_file:
        audience = default_login_url("test" if domain == "test" else "login")
        return JwtBearerAuth(
            consumer_key=consumer_key,
            username=username,
            private_key_file=credentials.private_key_file,
            login_url=login_url,
            audience=audience,
        )
    if username and credentials.password:
        return PasswordAuth(
            username=username,
            password=credentials.password,
            security_token=credentials.security_token,
            login_url=login_url,
            domain=domain,
            api_version=credentials.api_version,
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
        )
    if consumer_key and consumer_secret:
        return ClientCredentialsAuth(
            consumer_key=consumer_key, consumer_secret=consumer_secret, login_url=login_url
        )
    if credentials.session_id and credentials.instance_url:
        return SessionIdAuth(credentials.instance_url, credentials.session_id)
    raise ConfigError(
        "invalid configuration:\n  CONNECTOR_SALESFORCE_*: incomplete credentials; give one of "
        "CONSUMER_KEY + USERNAME + PRIVATE_KEY_FILE (JWT bearer), CONSUMER_KEY + "
        "CONSUMER_SECRET (client credentials), USERNAME + PASSWORD (retiring), or SESSION_ID + "
        "INSTANCE_URL"
    )
