"""How the Salesforce adapter logs in: the four modes, token expiry and a bounded refresh, and
login failures as the connector's errors (CredentialsError pauses Salesforce and shows in
/readyz; a login server that is down is only Transient)."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog.testing

from connector import bootstrap
from connector.core.errors import ConfigError, CredentialsError, Transient
from connector.crm.salesforce import (
    ClientCredentialsAuth,
    JwtBearerAuth,
    PasswordAuth,
    SalesforceConfig,
    SalesforceCredentials,
    SessionIdAuth,
    auth_for,
    from_config,
)
from connector.crm.salesforce.auth import SalesforceAuth
from connector.store.crm_records import SqlContactCache
from tests.conftest import make_settings
from tests.crm.salesforce_kit import make_adapter, rule, task
from tests.fakes.salesforce import ERR_INVALID_SESSION, FakeSalesforce, generate_rsa_keypair

TOKEN = r"/services/oauth2/token$"
ALONE = rule(on_no_match="unassociated")


def client_credentials(fake: FakeSalesforce, secret: str | None = None) -> ClientCredentialsAuth:
    return ClientCredentialsAuth(
        consumer_key=fake.consumer_key,
        consumer_secret=secret or fake.consumer_secret,
        login_url=fake.instance_url,
    )


def jwt_bearer(fake: FakeSalesforce, tmp_path: Path) -> JwtBearerAuth:
    private_key, public_key = generate_rsa_keypair(tmp_path)
    fake.jwt_public_key = public_key
    return JwtBearerAuth(
        consumer_key=fake.consumer_key,
        username=fake.username,
        private_key_file=private_key,
        login_url=fake.instance_url,
    )


def writes_after_expiry(fake: FakeSalesforce, cache: SqlContactCache, auth: SalesforceAuth) -> None:
    adapter = make_adapter(fake, cache, auth)
    assert adapter.write([task(contact_rule=ALONE)])[0].crm_id
    fake.expire_tokens()
    assert adapter.write([task(contact_rule=ALONE)])[0].crm_id
    assert fake.count("POST", TOKEN, status=200) == 2


# --- modes ---------------------------------------------------------------------------------------


def test_jwt_bearer_signs_an_assertion_and_renews_an_expired_token(
    fake: FakeSalesforce, cache: SqlContactCache, tmp_path: Path
) -> None:
    writes_after_expiry(fake, cache, jwt_bearer(fake, tmp_path))
    form = next(r for r in fake.requests if r.path.endswith("/oauth2/token")).form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_client_credentials_use_basic_auth_and_renew_an_expired_token(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    writes_after_expiry(fake, cache, client_credentials(fake))
    token_request = next(r for r in fake.requests if r.path.endswith("/oauth2/token"))
    assert token_request.form == {"grant_type": "client_credentials"}
    assert token_request.headers["authorization"].startswith("Basic ")


def test_username_password_works_with_a_warning_that_salesforce_retires_it(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    with structlog.testing.capture_logs() as logs:
        auth = PasswordAuth(
            username=fake.username,
            password=fake.password,
            security_token=None,
            login_url=fake.instance_url,
            consumer_key=fake.consumer_key,
            consumer_secret=fake.consumer_secret,
        )
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "salesforce.password_login_retiring"
    ]
    writes_after_expiry(fake, cache, auth)


def test_a_refused_soap_login_is_a_credentials_error(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    # Without a consumer key the password mode uses SOAP login() on https://login.salesforce.com;
    # the fake's session routes that host to the fake, which refuses SOAP logins.
    auth = PasswordAuth(
        username=fake.username, password="pw", security_token="tok", login_url=fake.instance_url
    )
    adapter = make_adapter(fake, cache, auth, session=fake.session())
    with pytest.raises(CredentialsError, match="SOAP username/password login"):
        adapter.write([task(contact_rule=ALONE)])


def test_an_expired_session_id_cannot_be_renewed_and_pauses_salesforce(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache, SessionIdAuth(fake.instance_url, fake.session_id))
    fake.expire_tokens()
    with pytest.raises(CredentialsError, match="cannot be renewed") as refused:
        adapter.write([task(contact_rule=ALONE)])
    assert fake.session_id not in refused.value.reason
    assert fake.count("POST", TOKEN) == 0


# --- refresh is bounded --------------------------------------------------------------------------


def test_a_persistent_invalid_session_stops_after_a_bounded_number_of_new_tokens(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache, client_credentials(fake), max_token_refreshes=2)
    fake.inject("*", r"/services/data/", 401, ERR_INVALID_SESSION, times=None)
    with pytest.raises(CredentialsError, match="after 2 fresh tokens"):
        adapter.write([task(contact_rule=ALONE)])
    assert fake.count("POST", TOKEN) == 3  # the first token and two renewals, no more


# --- login failures ------------------------------------------------------------------------------


def test_a_refused_login_is_a_credentials_error_without_the_secret(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = make_adapter(fake, cache, client_credentials(fake, secret="wrong-secret"))
    with pytest.raises(CredentialsError) as refused:
        adapter.write([task(contact_rule=ALONE)])
    assert "invalid_client" in refused.value.reason
    assert "wrong-secret" not in refused.value.reason


def test_a_login_server_that_is_down_is_transient(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    fake.inject("POST", TOKEN, 503, {"error": "unavailable"})
    adapter = make_adapter(fake, cache, client_credentials(fake))
    with pytest.raises(Transient):
        adapter.write([task(contact_rule=ALONE)])
    assert adapter.write([task(contact_rule=ALONE)])[0].crm_id  # next attempt logs in


def test_an_unreadable_private_key_is_a_credentials_error_naming_the_file(
    fake: FakeSalesforce, cache: SqlContactCache, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.pem"
    auth = JwtBearerAuth(
        consumer_key=fake.consumer_key,
        username=fake.username,
        private_key_file=missing,
        login_url=fake.instance_url,
    )
    with pytest.raises(CredentialsError, match=str(missing)):
        make_adapter(fake, cache, auth).write([task(contact_rule=ALONE)])


# --- settings ------------------------------------------------------------------------------------


def test_the_credentials_choose_the_strongest_complete_mode(tmp_path: Path) -> None:
    key_file = tmp_path / "key.pem"
    jwt = auth_for(
        SalesforceCredentials(
            consumer_key="ck", username="u@example.com", private_key_file=key_file, domain="test"
        )
    )
    assert isinstance(jwt, JwtBearerAuth)
    assert (jwt.token_url, jwt.audience) == (
        "https://test.salesforce.com/services/oauth2/token",
        "https://test.salesforce.com",
    )
    credentials = auth_for(
        SalesforceCredentials(consumer_key="ck", consumer_secret="cs", domain="acme.my")
    )
    assert isinstance(credentials, ClientCredentialsAuth)
    assert credentials.login_url == "https://acme.my.salesforce.com"
    password = auth_for(SalesforceCredentials(username="u@example.com", password="pw"))
    assert isinstance(password, PasswordAuth)
    direct = auth_for(
        SalesforceCredentials(instance_url="https://acme.my.salesforce.com", session_id="x")
    )
    assert isinstance(direct, SessionIdAuth) and not direct.refreshable
    with pytest.raises(ConfigError, match="CONNECTOR_SALESFORCE_"):
        auth_for(SalesforceCredentials(username="u@example.com"))


def test_the_settings_hand_the_adapter_its_credentials_and_limits(tmp_path: Path) -> None:
    config = bootstrap.salesforce_config(
        make_settings(
            tmp_path,
            salesforce_username="u@example.com",
            salesforce_password="pw-secret",
            salesforce_domain="test",
            salesforce_timeout_seconds=12,
            salesforce_api_usage_hard=0.9,
            crm_cache_seconds=60,
        )
    )
    assert config.credentials.username == "u@example.com"
    assert config.credentials.password == "pw-secret"
    assert config.credentials.domain == "test"
    assert (config.connect_timeout, config.read_timeout) == (5.0, 12.0)
    assert (config.api_usage_soft, config.api_usage_hard) == (0.80, 0.9)
    assert config.cache_seconds == 60
    assert "pw-secret" not in repr(config)


def test_the_adapter_built_from_its_config_writes(
    fake: FakeSalesforce, cache: SqlContactCache
) -> None:
    adapter = from_config(
        SalesforceConfig(
            SalesforceCredentials(instance_url=fake.instance_url, session_id=fake.session_id)
        ),
        cache,
    )
    assert adapter.client.timeout == (5.0, 30.0)
    assert adapter.write([task(contact_rule=ALONE)])[0].crm_id
