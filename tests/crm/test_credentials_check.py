"""The one cheap call that says whether a CRM still accepts the connector's credentials.

A CRM paused for refused credentials is re-checked with it every 30 seconds, so it must pass on
good credentials and raise CredentialsError on refused ones, against each CRM's real SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.core.errors import CredentialsError
from connector.crm.salesforce import SessionIdAuth
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm.hubspot_kit import fresh as fresh_hubspot
from tests.crm.hubspot_kit import make_adapter as hubspot_adapter
from tests.crm.salesforce_kit import fresh as fresh_salesforce
from tests.crm.salesforce_kit import make_adapter as salesforce_adapter
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce


@pytest.fixture(scope="module")
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture(scope="module")
def salesforce() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


def test_hubspot_passes_with_a_valid_token_in_one_call(
    hubspot: FakeHubSpot, sqlite_database: Database
) -> None:
    fake = fresh_hubspot(hubspot)
    adapter = hubspot_adapter(fake, SqlContactCache(sqlite_database))
    fake.reset_calls()

    adapter.check_credentials()

    assert len(fake.calls) == 1
    adapter.close()


def test_hubspot_raises_a_credentials_error_for_a_refused_token(
    hubspot: FakeHubSpot, sqlite_database: Database
) -> None:
    fake = fresh_hubspot(hubspot)
    adapter = hubspot_adapter(fake, SqlContactCache(sqlite_database))
    adapter.api = type(adapter.api)("revoked-token", fake.url)

    with pytest.raises(CredentialsError):
        adapter.check_credentials()
    adapter.close()


def test_salesforce_passes_with_a_valid_session_in_one_call(
    salesforce: FakeSalesforce, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fresh_salesforce(salesforce, monkeypatch)
    adapter = salesforce_adapter(fake, SqlContactCache(sqlite_database))
    before = fake.count(None, r"/services/data/")

    adapter.check_credentials()

    assert fake.count(None, r"/services/data/") == before + 1
    adapter.close()


def test_salesforce_raises_a_credentials_error_for_an_expired_session(
    salesforce: FakeSalesforce, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fresh_salesforce(salesforce, monkeypatch)
    adapter = salesforce_adapter(
        fake,
        SqlContactCache(sqlite_database),
        SessionIdAuth(fake.instance_url, fake.session_id),
    )
    fake.expire_tokens()

    with pytest.raises(CredentialsError):
        adapter.check_credentials()
    adapter.close()
