"""`/compose`: the composer a CRM record embeds, and the small API its script calls.

A CRM-side integration asks `POST /v1/compose-links` (bearer token) for a short-lived signed
link that names the CRM record and the recipient; the record's iframe opens it. The page's
script sends that token back in `X-Compose-Token` with every call, and the recipient and the CRM
record always come from the token, never from the browser. Every verdict and every refusal text
comes from the send service and the one rule engine (`connector.sync.outbound`, `core.rules`):
the script only arranges what they answer.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, field_validator

from connector.api.deps import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    ComposeScope,
    ConnectorDep,
    RowId,
    SecretDep,
    SettingsDep,
)
from connector.api.pages_lines import LineView, find_line, line_views
from connector.api.pages_render import link_problem, page
from connector.api.uploads import RefusalOut, RefusalsOut, keep_uploads
from connector.bootstrap import Connector
from connector.core import catalogue, phone
from connector.core.catalogue import Refusal
from connector.core.keys import KeyRing
from connector.core.model import DeliveryStatus, Direction
from connector.core.rules import Candidate, validate
from connector.core.sniff import SNIFF_BYTES
from connector.media.links import LinkKind, media_url, sign, verify
from connector.media.page_links import (
    ComposeGrant,
    CrmRecord,
    PageLinkExpired,
    PageLinkInvalid,
    compose_url,
    sign_compose,
    verify_compose,
)
from connector.media.uploads import MalformedUpload, UploadRefused
from connector.sync import outbound

links_router = APIRouter(prefix="/v1", tags=["compose"])
router = APIRouter(prefix="/compose", tags=["compose"])

EXPIRED_TITLE = "This composer link has expired"
INVALID_TITLE = "This composer link is not valid"
REOPEN = "Close this panel and open the composer again from the CRM record."


# -- the link a CRM integration asks for -------------------------------------------------------


class CrmRecordIn(BaseModel):
    system: Literal["hubspot", "salesforce"]
    object: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    record_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class ComposeLinkIn(BaseModel):
    crm: CrmRecordIn
    to: str = Field(description="The recipient, E.164 (other formats are normalised).")
    expires_in: int = Field(
        default=3600, ge=60, le=12 * 3600, description="Seconds the link stays valid."
    )

    @field_validator("to")
    @classmethod
    def _phone(cls, value: str) -> str:
        # A refusal in the validation shape (`detail: [{loc, msg}]`) the schema documents.
        normalized = phone.try_normalize(value)
        if normalized is None:
            raise ValueError("not a phone number")
        return normalized


class ComposeLinkOut(BaseModel):
    url: str
    expires_at: str


@links_router.post(
    "/compose-links",
    dependencies=[ComposeScope],
    response_model=ComposeLinkOut,
    responses={**AUTH_RESPONSES, **BODY_RESPONSES},
    status_code=status.HTTP_201_CREATED,
    summary="A short-lived composer link for one CRM record and recipient",
    description=(
        "Called by the CRM-side integration (a HubSpot app card's serverless function, a "
        "Salesforce Apex controller), never by the browser: the answer's `url` is what the "
        "record's iframe opens. The link carries the record and the recipient, signed and "
        "expiring, so no API token reaches the browser."
    ),
)
def create_compose_link(
    body: ComposeLinkIn, settings: SettingsDep, secret: SecretDep
) -> ComposeLinkOut:
    record = CrmRecord(body.crm.system, body.crm.object, body.crm.record_id)
    token, grant = sign_compose(secret, record, body.to, ttl=timedelta(seconds=body.expires_in))
    return ComposeLinkOut(
        url=compose_url(settings.public_url, token),
        expires_at=grant.expires_at.isoformat().replace("+00:00", "Z"),
    )


# -- the page ----------------------------------------------------------------------------------


def _grant_or_page(connector: Connector, token: str) -> ComposeGrant | HTMLResponse:
    try:
        return verify_compose(connector.secret, token)
    except PageLinkExpired:
        return link_problem(connector.settings, status_code=401, title=EXPIRED_TITLE, detail=REOPEN)
    except PageLinkInvalid:
        return link_problem(connector.settings, status_code=401, title=INVALID_TITLE, detail=REOPEN)


@router.get("", response_class=HTMLResponse, summary="The composer page (signed link)")
async def compose_page(
    connector: ConnectorDep, token: Annotated[str, Query(max_length=2048)] = ""
) -> HTMLResponse:
    found = _grant_or_page(connector, token)
    if isinstance(found, HTMLResponse):
        return found
    lines = await anyio.to_thread.run_sync(line_views, connector, found)
    return page(
        connector.settings,
        "compose.html",
        token=token,
        grant=found,
        state={
            "to": found.to,
            "draftKey": found.draft_key,
            "expiresAt": found.expires_at.isoformat(),
            "lines": [line.public() for line in lines],
            "texts": {"unknown": catalogue.UNKNOWN_ERROR_TEXT},
        },
    )


# -- the page's API ----------------------------------------------------------------------------


def require_grant(
    secret: SecretDep,
    token: Annotated[str, Header(alias="X-Compose-Token", max_length=2048)] = "",
) -> ComposeGrant:
    """The composer token of the page's calls; 401 when missing, altered or expired."""
    try:
        return verify_compose(secret, token)
    except PageLinkExpired:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{EXPIRED_TITLE}. {REOPEN}") from None
    except PageLinkInvalid:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{INVALID_TITLE}. {REOPEN}") from None


GrantDep = Annotated[ComposeGrant, Depends(require_grant)]


def _refused(status_code: int, refusals: list[Refusal]) -> JSONResponse:
    body = RefusalsOut(errors=[RefusalOut.of(r) for r in refusals])
    return JSONResponse(body.model_dump(), status_code=status_code)


def _line_or_422(connector: Connector, grant: ComposeGrant, number: str) -> LineView:
    line = find_line(connector, grant, number)
    if line is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "from: not one of the configured lines"
        )
    return line


@router.get("/api/lines", summary="The lines this composer may send from, with their state")
async def lines(connector: ConnectorDep, grant: GrantDep) -> dict[str, Any]:
    views = await anyio.to_thread.run_sync(line_views, connector, grant)
    return {"to": grant.to, "lines": [view.public() for view in views]}


class FileOut(BaseModel):
    """One file as the composer shows it: its reference for the send when the rules took it."""

    index: int
    name: str
    size: int
    type: str
    ok: bool
    ref: str | None = Field(None, description="What the send's `media` names this file by.")
    thumb: str | None = Field(None, description="The file's link, relative to this origin.")
    errors: list[RefusalOut]


@router.post("/api/uploads", summary="Upload files (multipart) and judge them for a line")
async def upload(
    request: Request,
    connector: ConnectorDep,
    grant: GrantDep,
    line: Annotated[str, Query(alias="from")],
) -> JSONResponse:
    view = _line_or_422(connector, grant, line)
    try:
        results = await keep_uploads(request, connector, view.offer.provider)
    except MalformedUpload as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except UploadRefused as exc:
        return _refused(exc.status, exc.refusals)
    files = []
    for result in results:
        verdict = result.verdicts[view.offer.provider]
        ref = None
        if verdict.ok and result.upload_id is not None:
            ref = sign(connector.secret, LinkKind.UPLOAD, result.upload_id)
        files.append(
            FileOut(
                index=result.index,
                name=result.name,
                size=result.size,
                type=result.sniffed_type,
                ok=ref is not None,
                ref=ref,
                thumb=media_url("", ref) if ref else None,
                errors=[
                    RefusalOut.of(e.model_copy(update={"index": result.index}))
                    for e in verdict.errors
                ],
            )
        )
    return JSONResponse({"files": [f.model_dump() for f in files]}, status_code=201)


class ProbeIn(BaseModel):
    """A file too large to be worth uploading: its size and first bytes are all the rules need."""

    from_: str = Field(alias="from")
    name: str = Field(default="", max_length=255)
    size: int = Field(ge=0)
    head: str = Field(description="The file's first bytes, base64.", max_length=SNIFF_BYTES * 2)


@router.post("/api/uploads/probe", summary="Judge a file by its size and first bytes")
def probe(body: ProbeIn, connector: ConnectorDep, grant: GrantDep) -> dict[str, Any]:
    view = _line_or_422(connector, grant, body.from_)
    try:
        head = base64.b64decode(body.head, validate=True)[:SNIFF_BYTES]
    except (binascii.Error, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "head: not base64") from None
    verdict = validate(
        connector.settings.policy(view.offer.provider),
        line=view.line,
        other_party=grant.to,
        attachments=[Candidate(name=body.name, size=body.size, head=head)],
        direction=Direction.OUTBOUND,
        mms=False,  # the file alone: numbers and account are the line's verdict
    ).attachments[0]
    return {
        "ok": verdict.ok,
        "type": verdict.sniffed_type,
        "errors": [RefusalOut.of(e).model_dump() for e in verdict.errors],
    }


class DraftIn(BaseModel):
    """What the page sends: the line, the text and its files; never the recipient."""

    from_: str = Field(alias="from")
    text: str = Field(default="", max_length=10_000)
    media: list[str] = Field(default_factory=list, max_length=50)


def _request(grant: ComposeGrant, draft: DraftIn, upload_ids: list[int]) -> outbound.SendRequest:
    return outbound.SendRequest.model_validate(
        {
            "from": draft.from_,
            "to": grant.to,
            "text": draft.text,
            "media": [{"upload_id": upload_id} for upload_id in upload_ids],
            "on_invalid_media": "reject",
            "crm": {
                "system": grant.record.system,
                "object": grant.record.object,
                "record_id": grant.record.record_id,
            },
        }
    )


def _upload_ids(secret: KeyRing, refs: list[str]) -> tuple[list[int], list[Refusal]]:
    """The uploads the page's references name; a reference that is not ours is refused."""
    ids: list[int] = []
    bad: list[Refusal] = []
    for index, ref in enumerate(refs):
        target = verify(secret, ref)
        if target is None or target.kind is not LinkKind.UPLOAD:
            bad.append(catalogue.unknown_error(index))
        else:
            ids.append(target.id)
    return ids, bad


@router.post("/api/validate", summary="What the rules say of the draft, without sending")
async def validate_draft(body: DraftIn, connector: ConnectorDep, grant: GrantDep) -> JSONResponse:
    line = _line_or_422(connector, grant, body.from_)
    if not line.can_send:
        return JSONResponse({"sendable": False, "errors": _dump(list(line.send_refusals))})
    upload_ids, bad = _upload_ids(connector.secret, body.media)
    if bad:
        return JSONResponse({"sendable": False, "errors": _dump(bad)})
    request = _request(grant, body, upload_ids)
    checked = await anyio.to_thread.run_sync(outbound.check, connector, request)
    return JSONResponse({"sendable": bool(checked.sendable), "errors": _dump(checked.errors)})


def _dump(refusals: list[Refusal]) -> list[dict[str, Any]]:
    return [RefusalOut.of(r).model_dump() for r in refusals]


class SentOut(BaseModel):
    message_id: int
    status: str
    label: str
    final: bool
    error: str | None = Field(None, description="Why the send failed, once it is Not sent.")


@router.post("/api/messages", status_code=status.HTTP_202_ACCEPTED, summary="Send the draft")
async def send(body: DraftIn, connector: ConnectorDep, grant: GrantDep) -> JSONResponse:
    line = _line_or_422(connector, grant, body.from_)
    if not line.can_send:
        # The line list said `canSend: false`: nothing is queued, whatever the page's script did.
        return _refused(status.HTTP_422_UNPROCESSABLE_CONTENT, list(line.send_refusals))
    upload_ids, bad = _upload_ids(connector.secret, body.media)
    if bad:
        return _refused(status.HTTP_422_UNPROCESSABLE_CONTENT, bad)
    request = _request(grant, body, upload_ids)
    try:
        result = await anyio.to_thread.run_sync(outbound.submit, connector, request)
    except outbound.SendRefused as exc:
        return _refused(status.HTTP_422_UNPROCESSABLE_CONTENT, list(exc.errors))
    sent = SentOut(
        message_id=result.message_id,
        status=result.status.value,
        label=result.status.label,
        final=result.status.is_final,
    )
    return JSONResponse(sent.model_dump(), status_code=status.HTTP_202_ACCEPTED)


@router.get("/api/messages/{message_id}", summary="Where a message sent from here is")
async def message_status(message_id: RowId, connector: ConnectorDep, grant: GrantDep) -> SentOut:
    view = await anyio.to_thread.run_sync(outbound.message_view, connector, message_id)
    # Only what this composer's record sent to this recipient: a link reveals nothing else.
    if view is None or view.direction is not Direction.OUTBOUND or not _sent_from(view, grant):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such message")
    failed = view.status is DeliveryStatus.NOT_SENT
    return SentOut(
        message_id=view.id,
        status=view.status.value,
        label=view.status_label,
        final=view.status.is_final,
        error=(view.send_error or catalogue.UNKNOWN_ERROR_TEXT) if failed else None,
    )


def _sent_from(view: outbound.MessageView, grant: ComposeGrant) -> bool:
    record = grant.record
    origin = view.origin or {}
    return (
        view.other_party == grant.to
        and origin.get("system") == record.system
        and origin.get("object") == record.object
        and origin.get("record_id") == record.record_id
    )
