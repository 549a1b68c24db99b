"""`GET /v1/records/{crm}/{object}/{id}/conversation`: what a CRM card shows, in one call.

Two callers, two ways in. Salesforce's Apex controller calls through a Named Credential with a
bearer token of the `compose` scope (a card's token: composer links and this read model). A
HubSpot app card calls with `hubspot.fetch()`, which holds no token: HubSpot signs the request
with the app's client secret (`X-HubSpot-Signature-v3`, `CONNECTOR_HUBSPOT_APP_CLIENT_SECRET`)
and names the portal and user in the signed query, so the connector believes the record, portal
and user only because HubSpot signed them. Unsigned, stale (> 5 minutes) or altered requests are
401; a signature reads only HubSpot records, of the configured portal when one is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import anyio
import structlog
from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, status

from connector.api.deps import (
    AUTH_RESPONSES,
    MAX_ROW_ID,
    BearerDep,
    ConnectorDep,
    ErrorOut,
    SettingsDep,
    check_token,
)
from connector.api.record_view import RecordConversationOut, build
from connector.bootstrap import Connector
from connector.core import phone
from connector.core.access import Scope
from connector.crm.hubspot.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    verify_v3,
)
from connector.media.page_links import CrmRecord
from connector.sync.outbound import offered_lines

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/v1", tags=["compose"])

_NAME = r"^[A-Za-z0-9_.:-]+$"


@dataclass(frozen=True)
class CardCaller:
    """Who asked: a bearer token's name, or the HubSpot portal and user that HubSpot signed."""

    via: Literal["token", "hubspot"]
    name: str
    portal_id: str | None = None
    user_id: str | None = None


def _refuse(reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"}
    )


async def _hubspot_caller(request: Request, settings: SettingsDep, crm: str) -> CardCaller:
    if settings.hubspot.app_client_secret is None:
        raise _refuse(
            "signed HubSpot requests are not accepted: CONNECTOR_HUBSPOT_APP_CLIENT_SECRET is unset"
        )
    # The URL HubSpot called is the public one: the proxy in front may rewrite host and scheme.
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = settings.public_url + raw_path.decode("latin-1")
    if query:
        url += "?" + query.decode("latin-1")
    try:
        verify_v3(
            settings.hubspot.app_client_secret.get_secret_value(),
            method=request.method,
            url=url,
            body=await request.body(),
            signature=request.headers.get(SIGNATURE_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
        )
    except SignatureRejected as exc:
        log.info("card.signature_refused", reason=str(exc))
        raise _refuse(str(exc)) from None
    portal = request.query_params.get("portalId")
    if crm != "hubspot":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a HubSpot signature reads HubSpot records")
    expected = settings.hubspot.portal_id
    if expected is not None and portal != str(expected):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the signed request comes from another HubSpot portal (CONNECTOR_HUBSPOT_PORTAL_ID)",
        )
    return CardCaller(
        via="hubspot",
        name=f"hubspot-portal-{portal}",
        portal_id=portal,
        user_id=request.query_params.get("userId"),
    )


async def card_caller(
    request: Request, settings: SettingsDep, credentials: BearerDep, crm: str
) -> CardCaller:
    """A bearer token with the `compose` scope, else a valid HubSpot signature v3."""
    if credentials is None and SIGNATURE_HEADER in request.headers:
        return await _hubspot_caller(request, settings, crm)
    token = check_token(settings, credentials, Scope.COMPOSE)
    return CardCaller(via="token", name=token.name)


def _recipient(connector: Connector, raw: str) -> str | None:
    """`raw` in E.164. CRM phone fields often hold national forms (`(415) 555-0123`): those are
    read in the countries of the connector's own lines, the first that makes a number."""
    found = phone.try_normalize(raw)
    if found is not None:
        return found
    regions = dict.fromkeys(
        region
        for offer in offered_lines(connector)
        if (region := phone.dialing_region(offer.number))
    )
    return next((n for r in regions if (n := phone.try_normalize(raw, r)) is not None), None)


@router.get(
    "/records/{crm}/{object}/{record_id}/conversation",
    response_model=RecordConversationOut,
    responses={
        **AUTH_RESPONSES,
        401: {
            "model": ErrorOut,
            "description": "No bearer token and no valid HubSpot signature (missing, stale "
            "beyond 5 minutes, or not matching the request)",
        },
        403: {
            "model": ErrorOut,
            "description": "The token lacks the `compose` scope, or a signature from another "
            "portal or for a Salesforce record",
        },
    },
    summary="A CRM record's recent MMS, media links, alerts and a composer link",
    description=(
        "What a CRM card shows, in one round trip: the newest messages of the conversations the "
        "connector tied to the record (its contact's numbers), paged with `before`; each "
        "message's media behind signed links, the rules' alerts, the whole-conversation links, "
        "a composer link for `to` (else the latest conversation's number) and `send_refusal`. "
        "Authenticated by a `compose` bearer token (Salesforce Apex through a Named Credential) "
        "or by HubSpot's signature v3 (a HubSpot app card's `hubspot.fetch()`)."
    ),
)
async def record_conversation(
    request: Request,
    connector: ConnectorDep,
    credentials: BearerDep,
    crm: Literal["hubspot", "salesforce"],
    object: Annotated[str, Path(min_length=1, max_length=64, pattern=_NAME)],
    record_id: Annotated[str, Path(min_length=1, max_length=64, pattern=_NAME)],
    to: Annotated[
        str | None,
        Query(max_length=64, description="A number the CRM holds for the record (composer)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ROW_ID, description="`next_before` of the previous page."),
    ] = None,
    signature: Annotated[
        str | None,
        Header(alias=SIGNATURE_HEADER, description="HubSpot's signature v3 (app cards)."),
    ] = None,
    timestamp: Annotated[
        str | None, Header(alias=TIMESTAMP_HEADER, description="When HubSpot signed, in ms.")
    ] = None,
) -> RecordConversationOut:
    caller = await card_caller(request, connector.settings, credentials, crm)
    # CRM phone fields hold anything, notes included: a `to` that is no number is left out, and
    # the composer falls back to the number of the record's latest conversation.
    recipient = _recipient(connector, to) if to else None
    record = CrmRecord(crm, object, record_id)
    log.info(
        "card.read", crm=crm, via=caller.via, caller=caller.name, user=caller.user_id, limit=limit
    )
    return await anyio.to_thread.run_sync(
        lambda: build(connector, record, to=recipient, limit=limit, before=before)
    )
