"""A contact's primary company and open deals, for records the mapping links to them too.

Read for a whole batch at once and kept in the shared contact cache (the database, for
`CONNECTOR_CRM_CACHE_SECONDS`), so a contact's associations cost a share of a few calls per
expiry for the whole deployment: the v4 association batch read of up to 100 contacts to their
companies, the same to their deals, and one batch read of those deals' `hs_is_closed`.

The primary company is the one associated with HubSpot's "Primary" type (contact to company,
type id 1); failing that, the oldest (lowest id). The v3 batch read of contacts cannot return
associations, and HubSpot's `associatedcompanyid` contact property is not read because the
association is what the records link by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from connector.core.errors import ConnectorError
from connector.core.model import CrmLinks
from connector.crm.base import Associations, ContactCache
from connector.crm.hubspot.answers import AssociationAnswer
from connector.crm.hubspot.batches import Halt, chunks
from connector.crm.hubspot.client import CRM, HubSpotApi
from connector.crm.hubspot.errors import HubSpotError, ItemError

log = structlog.get_logger(__name__)

PRIMARY_COMPANY_TYPE_ID = 1  # HUBSPOT_DEFINED contact -> company "Primary"


class _ReadRefused(Exception):
    """A 207 of the association read with an error that is not "none found"."""

    def __init__(self, error: ConnectorError) -> None:
        super().__init__(error.reason)
        self.error = error


class ContactLinks:
    """contact id -> the companies and deals its records are linked to besides it."""

    def __init__(self, api: HubSpotApi, cache: ContactCache) -> None:
        self.api = api
        self.cache = cache

    def targets(
        self, contacts: Mapping[str, Associations]
    ) -> dict[str, list[tuple[str, str]] | ConnectorError]:
        """contact id -> [(object type, id)] to associate besides the contact, or the error."""
        known = self.cache.get_links(CRM, list(contacts))
        unknown = sorted(c for c in contacts if c not in known)
        out: dict[str, list[tuple[str, str]] | ConnectorError] = {}
        if unknown:
            try:
                read = self._read(unknown)
            except HubSpotError as failure:
                if failure.concerns_every_record:
                    raise Halt(failure.as_connector_error()) from failure
                out.update({c: failure.as_connector_error() for c in unknown})
                read = {}
            except _ReadRefused as refused:
                out.update({c: refused.error for c in unknown})
                read = {}
            self.cache.put_links(CRM, read)
            known.update(read)
            log.info("hubspot.links_read", contacts=len(unknown))
        for contact_id, wants in contacts.items():
            if contact_id in out:
                continue
            found = known[contact_id]
            links: list[tuple[str, str]] = []
            if wants.company and found.company_id:
                links.append(("companies", found.company_id))
            if wants.open_deals:
                links.extend(("deals", d) for d in found.deal_ids)
            out[contact_id] = links
        return out

    def forget(self, contact_ids: Sequence[str]) -> None:
        """A company or deal they were linked to is gone: read them again next time."""
        self.cache.forget_links(CRM, list(contact_ids))

    # ---- reading ---------------------------------------------------------------------------

    def _read(self, contact_ids: list[str]) -> dict[str, CrmLinks]:
        """Every contact's links (read for all of them: the cache serves every mapping)."""
        companies = self._associated("companies", contact_ids)
        deals = self._associated("deals", contact_ids)
        open_deals = self._open_deals({d for found in deals.values() for d, _ in found})
        return {
            contact_id: CrmLinks(
                company_id=_primary(companies.get(contact_id, [])),
                deal_ids=tuple(
                    sorted(
                        {d for d, _ in deals.get(contact_id, []) if d in open_deals},
                        key=_numeric,
                    )
                ),
            )
            for contact_id in contact_ids
        }

    def _associated(
        self, to_type: str, contact_ids: list[str]
    ) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
        found: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for chunk in chunks(contact_ids):
            answer = self.api.associations("contacts", to_type, chunk)
            _raise_real_errors(answer)
            found.update(answer.results)
        return found

    def _open_deals(self, deal_ids: set[str]) -> set[str]:
        open_ids: set[str] = set()
        for chunk in chunks(sorted(deal_ids, key=_numeric)):
            answer = self.api.batch_read("deals", chunk, ["hs_is_closed"])
            open_ids.update(
                d.id for d in answer.results if (d.properties.get("hs_is_closed") or "") != "true"
            )
        return open_ids


def _primary(companies: list[tuple[str, tuple[int, ...]]]) -> str | None:
    if not companies:
        return None
    ranked = sorted(companies, key=lambda c: (PRIMARY_COMPANY_TYPE_ID not in c[1], _numeric(c[0])))
    return ranked[0][0]


def _numeric(object_id: str) -> tuple[int, str]:
    return (int(object_id) if object_id.isdigit() else 2**63, object_id)


def _raise_real_errors(answer: AssociationAnswer) -> None:
    """A 207 lists contacts without such associations (or no longer existing) as errors: those
    are answers. Anything else (a scope, a server error for some inputs) fails the read."""
    for error in answer.errors:
        if not _means_none(error):
            raise _ReadRefused(error.as_connector_error())


def _means_none(error: ItemError) -> bool:
    return "NO_ASSOCIATIONS_FOUND" in error.sub_category or error.category == "OBJECT_NOT_FOUND"
