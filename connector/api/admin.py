"""The admin page (`/admin`) and the bearer-protected routes it needs beyond `/v1/jobs` and
`/v1/messages`: the readiness report (`GET /v1/status`), "retry all dead"
(`POST /v1/jobs/retry-dead`) and lifting a CRM's pause (`POST /v1/crms/{crm}/resume`).

The page itself carries no secret: its script asks for an API token, keeps it in the tab's
`sessionStorage` and sends it as `Authorization: Bearer …` to the `/v1` routes.
"""

from __future__ import annotations

from typing import Any, Literal

import structlog
from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from connector.api.deps import AUTH_RESPONSES, AdminScope, ConnectorDep, DatabaseDep, SettingsDep
from connector.api.doctor import diagnose
from connector.api.health import readiness
from connector.api.pages_render import page
from connector.bootstrap import CRM_NAMES
from connector.store import queue

log = structlog.get_logger(__name__)

page_router = APIRouter(tags=["admin"])
api_router = APIRouter(
    prefix="/v1", tags=["admin"], dependencies=[AdminScope], responses=AUTH_RESPONSES
)


class ReplayedOut(BaseModel):
    replayed: int


class ResumedOut(BaseModel):
    crm: str
    resumed: bool  # False when it was not paused


@page_router.get("/admin", response_class=HTMLResponse, summary="The admin page")
def admin_page(settings: SettingsDep) -> HTMLResponse:
    response = page(settings, "admin.html")
    # Unlike the embedded pages, the admin page is never framed: it takes an API token.
    policy = response.headers["Content-Security-Policy"]
    kept = [d for d in policy.split("; ") if not d.startswith("frame-ancestors")]
    response.headers["Content-Security-Policy"] = "; ".join([*kept, "frame-ancestors 'none'"])
    response.headers["X-Frame-Options"] = "DENY"
    return response


@api_router.get(
    "/status",
    summary="The readiness report: database, job counts, CRMs and providers, mappings",
    description=(
        "What `/readyz` reports, always with 200 and a `ready` flag: each CRM and provider is "
        "`ok`, `off (…)` or `paused: reason`; `mappings` says `ok` or its `error`."
    ),
)
async def status_report(connector: ConnectorDep) -> dict[str, Any]:
    ready, report = await run_in_threadpool(readiness, connector)
    return {"ready": ready, **report}


@api_router.post("/jobs/retry-dead", summary="Replay every dead job")
def retry_all_dead(database: DatabaseDep) -> ReplayedOut:
    with database.begin() as conn:
        return ReplayedOut(replayed=queue.retry_all_dead(conn))


@api_router.post(
    "/crms/{crm}/resume",
    summary="Lift a CRM's pause now",
    description=(
        "Its waiting jobs run at once, e.g. after new credentials were installed. A pause for "
        "refused credentials is also lifted by itself within 30 seconds of the credentials "
        "working again."
    ),
    responses={404: {"description": "No such CRM"}},
)
def resume_crm(crm: str, database: DatabaseDep) -> ResumedOut:
    if crm not in CRM_NAMES:
        raise HTTPException(404, f"no CRM named {crm!r}: one of {', '.join(CRM_NAMES)}")
    with database.begin() as conn:
        resumed = queue.resume_target(conn, crm)
    if resumed:
        log.info("target.resumed", target=crm, by="admin")
    return ResumedOut(crm=crm, resumed=resumed)


# -- the set-up checklist (`mms-connector doctor`) ------------------------------------------------


class DoctorCheckOut(BaseModel):
    name: str
    state: Literal["pass", "fail", "skip"]
    detail: str
    fix: str


class DoctorOut(BaseModel):
    ok: bool
    checks: list[DoctorCheckOut]


@api_router.get(
    "/doctor",
    summary="The set-up checklist of `mms-connector doctor`",
    description=(
        "Each check `pass`, `fail` (with its `fix`) or `skip` (a CRM or provider that is off); "
        "`ok` only when none fails. Calls the CRMs and providers: seconds, not milliseconds."
    ),
)
async def doctor_report(connector: ConnectorDep) -> DoctorOut:
    report = await run_in_threadpool(diagnose, connector)
    return DoctorOut.model_validate(report.as_json())


router = APIRouter()
router.include_router(page_router, include_in_schema=False)  # a page, not an API
router.include_router(api_router)
