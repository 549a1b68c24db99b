"""The lengths CRM fields hold, so `check` warns before a CRM refuses or cuts a record.

Only standard fields whose limits the CRMs document (Salesforce's Object Reference for Task, Lead
and Contact; HubSpot's 65,536-character limit on text properties); custom fields get theirs from
the mapping's `field_limits` or, with `check --online`, from the CRM's own description.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.mapping.schema import Crm

HUBSPOT_TEXT_LIMIT = 65_536  # rich-text and single-line text properties

KNOWN_FIELD_LIMITS: Mapping[Crm, Mapping[str, Mapping[str, int]]] = {
    Crm.HUBSPOT: {
        "communications": {"hs_communication_body": HUBSPOT_TEXT_LIMIT},
        "notes": {"hs_note_body": HUBSPOT_TEXT_LIMIT},
        "contacts": {
            "firstname": HUBSPOT_TEXT_LIMIT,
            "lastname": HUBSPOT_TEXT_LIMIT,
            "phone": HUBSPOT_TEXT_LIMIT,
            "mobilephone": HUBSPOT_TEXT_LIMIT,
        },
    },
    Crm.SALESFORCE: {
        "Task": {"Subject": 255, "Description": 32_000, "CallObject": 255},
        "Lead": {
            "FirstName": 40,
            "LastName": 80,
            "Company": 255,
            "Phone": 40,
            "MobilePhone": 40,
            "Title": 128,
            "Description": 32_000,
        },
        "Contact": {
            "FirstName": 40,
            "LastName": 80,
            "Phone": 40,
            "MobilePhone": 40,
            "Description": 32_000,
        },
    },
}


def known_limit(crm: Crm, object_name: str, field: str) -> int | None:
    return KNOWN_FIELD_LIMITS.get(crm, {}).get(object_name, {}).get(field)
