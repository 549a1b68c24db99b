"""HubSpot: MMS conversations logged as Communications on the contact's timeline.

`HubSpotAdapter` is the `CrmAdapter`; `HubSpotError` is the one error the SDK's many exception
classes and urllib3's errors become inside the adapter (never seen above it).
"""

from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.hubspot.errors import HubSpotError

__all__ = ["HubSpotAdapter", "HubSpotError"]
