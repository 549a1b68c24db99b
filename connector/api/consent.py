"""`/v1/consent`: a number's opt-out state and history, the opted-out list, and admin changes.

GET routes need a token with the `read` scope, `POST /v1/consent` one with `admin`: changing
who may be messaged is an administrator's act.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from connector.api.deps import (
    AUTH_RESPONSES,
    BODY_RESPONSES,
    AdminScope,
    ConnectorDep,
    Offset,
    ReadScope,
)
from connector.core.consent import ConsentSource
from connector.sync import consent
from connector.sync.consent import ChangeView, ConsentView, InvalidConsent

router = APIRouter(prefix="/v1", tags=["consent"])


class ConsentIn(BaseModel):
    """An admin's change: opt a number out, or back in, always with a reason."""

    number: str = Field(description="E.164 (other formats are normalised).", max_length=64)
    opted_out: bool
    reason: str = Field(min_length=1, max_length=500)
    source: Literal["admin", "api", "crm"] = Field(
        default="api",
        description="Who asks: `admin` (the admin page), `api` (a script), `crm` (a CRM-side "
        "integration reporting an opt-out; it cannot opt anyone back in).",
    )
    actor: str | None = Field(default=None, max_length=255, description="Who, e.g. an e-mail.")
    at: datetime | None = Field(default=None, description="When it happened (default: now).")


class OptedOutPage(BaseModel):
    count: int = Field(description="Numbers opted out in all.")
    numbers: list[ChangeView] = Field(description="This page: the latest change of each.")


@router.get(
    "/consent",
    response_model=OptedOutPage,
    dependencies=[ReadScope],
    responses=AUTH_RESPONSES,
    summary="The numbers that are opted out, most recent first",
)
def opted_out(
    connector: ConnectorDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> OptedOutPage:
    count, page = consent.opted_out_numbers(connector, limit=limit, offset=offset)
    return OptedOutPage(count=count, numbers=page)


@router.get(
    "/consent/{number}",
    response_model=ConsentView,
    dependencies=[ReadScope],
    summary="A number's consent: its state, the refusal a send gets, and its history",
    responses={**AUTH_RESPONSES, 422: {"description": "Not a phone number"}},
)
def show(number: str, connector: ConnectorDep) -> ConsentView:
    try:
        return consent.show(connector, number)
    except InvalidConsent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


@router.post(
    "/consent",
    response_model=ChangeView,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AdminScope],
    summary="Opt a number out, or back in, with a reason",
    description=(
        "Recorded in the number's history and written onto its contact in each CRM. Opting "
        "back in is an admin's decision (`source` `admin` or `api`) and needs a reason; a "
        "`crm` source may only opt out."
    ),
    responses={
        **AUTH_RESPONSES,
        **BODY_RESPONSES,
        422: {"description": "Not a phone number, no reason, or a CRM opting in"},
    },
)
def change(body: ConsentIn, connector: ConnectorDep) -> ChangeView:
    try:
        return consent.set_consent(
            connector,
            body.number,
            opted_out=body.opted_out,
            reason=body.reason,
            source=ConsentSource(body.source),
            actor=body.actor,
            at=body.at,
        )
    except InvalidConsent as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
