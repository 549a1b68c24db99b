"""The one cheap call that says whether a CRM still accepts the connector's credentials.

A CRM paused for refused credentials is re-checked with it every 30 seconds, so it must pass on
good credentials and raise CredentialsError on refused ones, against each CRM's real SDK.
"""

from __future__ import annotations

import pytest

from connector.core.errors import CredentialsError
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.salesforce import SalesforceAdapter
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.salesforce import FakeSalesforce


def test_hubspot_passes_with_a_valid_token_in_one_call(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hs.reset_calls()

    hubspot.check_credentials()

    assert len(hs.calls) == 1


def test_hubspot_raises_a_credentials_error_for_a_refused_token(
    hs: FakeHubSpot, hubspot: HubSpotAdapter
) -> None:
    hubspot.api = type(hubspot.api)("revoked-token", hs.url)

    with pytest.raises(CredentialsError):
        hubspot.check_credentials()


def test_salesforce_passes_with_a_valid_session_in_one_call(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    before = fake.count(None, r"/services/data/")

    salesforce.check_credentials()

    assert fake.count(None, r"/services/data/") == before + 1


def test_salesforce_raises_a_credentials_error_for_an_expired_session(
    fake: FakeSalesforce, salesforce: SalesforceAdapter
) -> None:
    fake.expire_tokens()  # the adapter logs in with the org's session id

    with pytest.raises(CredentialsError):
        salesforce.check_credentials()
