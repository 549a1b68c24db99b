"""A contact's primary company and open deals, for records the mapping links to them too.

Kept in memory for a few minutes: the SDK's v3 objects API has no batch read of associations,
so this costs one read per contact (and one batch read of its deals) per few minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from connector.core.errors import ConnectorError
from connector.crm.base import Associations
from connector.crm.hubspot.batches import Halt, chunks
from connector.crm.hubspot.client import HubSpotApi
from connector.crm.hubspot.errors import HubSpotError
from connector.crm.ratelimit import Clock

LINKS_TTL_SECONDS = 600.0  # how long a contact's company and open deals are trusted


class ContactLinks:
    """contact id -> the companies and deals its records are linked to besides it."""

    def __init__(self, api: HubSpotApi, clock: Clock) -> None:
        self.api = api
        self.clock = clock
        self._known: dict[str, tuple[float, str | None, list[str]]] = {}
        self._lock = threading.Lock()

    def targets(
        self, contacts: Mapping[str, Associations]
    ) -> dict[str, list[tuple[str, str]] | ConnectorError]:
        """contact id -> [(object type, id)] to associate besides the contact, or the error."""
        now = self.clock()
        with self._lock:
            fresh = {c: v for c, v in self._known.items() if v[0] > now and c in contacts}
        out: dict[str, list[tuple[str, str]] | ConnectorError] = {}
        to_read = [c for c in contacts if c not in fresh]
        read: dict[str, tuple[str | None, list[str]]] = {}
        for contact_id in to_read:
            try:
                read[contact_id] = self._read(contact_id)
            except HubSpotError as failure:
                if failure.concerns_every_record:
                    raise Halt(failure.as_connector_error()) from failure
                out[contact_id] = failure.as_connector_error()
        try:
            open_deals = self._open_deals({d for _, deals in read.values() for d in deals})
        except HubSpotError as failure:
            if failure.concerns_every_record:
                raise Halt(failure.as_connector_error()) from failure
            for contact_id in read:
                out[contact_id] = failure.as_connector_error()
            read = {}
        with self._lock:
            for contact_id, (company, deals) in read.items():
                kept = [d for d in deals if d in open_deals]
                self._known[contact_id] = (now + LINKS_TTL_SECONDS, company, kept)
                fresh[contact_id] = self._known[contact_id]
        for contact_id, wants in contacts.items():
            if contact_id in out or contact_id not in fresh:
                continue
            _, company, deals = fresh[contact_id]
            links: list[tuple[str, str]] = []
            if wants.company and company:
                links.append(("companies", company))
            if wants.open_deals:
                links.extend(("deals", d) for d in deals)
            out[contact_id] = links
        return out

    def _read(self, contact_id: str) -> tuple[str | None, list[str]]:
        contact = self.api.get("contacts", contact_id, [], ["companies", "deals"])
        companies = contact.associations.get("companies", [])
        primary = sorted(
            (0 if kind == "contact_to_company" else 1, int(i) if i.isdigit() else 0, i)
            for i, kind in companies
        )
        deals = sorted({i for i, _ in contact.associations.get("deals", [])})
        return (primary[0][2] if primary else None), deals

    def _open_deals(self, deal_ids: set[str]) -> set[str]:
        open_ids: set[str] = set()
        for chunk in chunks(sorted(deal_ids)):
            answer = self.api.batch_read("deals", chunk, ["hs_is_closed", "dealstage"])
            open_ids.update(
                d.id for d in answer.results if (d.properties.get("hs_is_closed") or "") != "true"
            )
        return open_ids
