"""Fixtures of the CRM adapter tests: each CRM's loopback fake, a real contact cache, an adapter.

A fake server starts once per test module (a few hundred milliseconds) and is wiped before each
test (`fresh`), with what `mappings setup` would have created; a module whose tests need another
starting point overrides `hs` or `fake`. The adapters are the real ones, on the CRMs' real SDKs,
with the short timeouts of the kits.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.crm.hubspot import HubSpotAdapter
from connector.crm.salesforce import SalesforceAdapter
from connector.store.crm_records import SqlContactCache
from connector.store.db import Database
from tests.crm import hubspot_kit, salesforce_kit
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce


@pytest.fixture
def cache(sqlite_database: Database) -> SqlContactCache:
    return SqlContactCache(sqlite_database)


@pytest.fixture(scope="module")
def hubspot_server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def hs(hubspot_server: FakeHubSpot) -> FakeHubSpot:
    """The module's HubSpot, wiped, with the key and thread properties."""
    return hubspot_kit.fresh(hubspot_server)


@pytest.fixture
def hubspot(hs: FakeHubSpot, cache: SqlContactCache) -> Iterator[HubSpotAdapter]:
    built = hubspot_kit.make_adapter(hs, cache)
    yield built
    built.close()


@pytest.fixture(scope="module")
def salesforce_server() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


@pytest.fixture
def fake(salesforce_server: FakeSalesforce, monkeypatch: pytest.MonkeyPatch) -> FakeSalesforce:
    """The module's Salesforce org, wiped, with the connector's fields prepared."""
    return salesforce_kit.fresh(salesforce_server, monkeypatch)


@pytest.fixture
def salesforce(fake: FakeSalesforce, cache: SqlContactCache) -> Iterator[SalesforceAdapter]:
    built = salesforce_kit.make_adapter(fake, cache)
    yield built
    built.close()
