"""The Salesforce adapter: MMS conversations as Tasks on the matching Contact or Lead.

Built on simple-salesforce, with the parts it lacks added around it: token fetching from a
configurable login URL with a bounded refresh (`auth`, `client`), timeouts on every call,
pacing by `Sforce-Limit-Info` (`limits`), Salesforce's errors in the connector's classes
(`errors`), phone matching (`contacts`), batched upserts by key (`records`) and the External ID
fields setup (`setup`).
"""

from connector.crm.salesforce.adapter import SalesforceAdapter, SalesforceConfig, from_config
from connector.crm.salesforce.auth import (
    AccessToken,
    ClientCredentialsAuth,
    JwtBearerAuth,
    PasswordAuth,
    SalesforceAuth,
    SalesforceCredentials,
    SessionIdAuth,
    auth_for,
)
from connector.crm.salesforce.limits import ApiBudget, ApiUsage

__all__ = [
    "AccessToken",
    "ApiBudget",
    "ApiUsage",
    "ClientCredentialsAuth",
    "JwtBearerAuth",
    "PasswordAuth",
    "SalesforceAdapter",
    "SalesforceAuth",
    "SalesforceConfig",
    "SalesforceCredentials",
    "SessionIdAuth",
    "auth_for",
    "from_config",
]
