"""Dependencies shared by the routers, declared once as `Annotated` aliases.

A route declares the parts of the connector it uses (`DatabaseDep`, `SettingsDep`, `SecretDep`,
`MediaStoreDep`, `RegistryDep`); `ConnectorDep`, the whole composition root, is for the few that
hand several parts on to a service (a send, the doctor, the readiness report).

Every `/v1` route names the one scope it needs (`requires`); the mapping is in README.md's
"Security" section. `admin` implies every scope.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from connector.bootstrap import Connector
from connector.config import Settings
from connector.core.access import ApiToken, Scope
from connector.core.keys import KeyRing
from connector.mapping.registry import MappingRegistry
from connector.media.store import MediaStore
from connector.store.db import Database

# Row ids are 64-bit signed integers in both databases: a larger number names no row, and is
# refused by validation (422) instead of overflowing the driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]


def get_connector(request: Request) -> Connector:
    connector: Connector = request.app.state.connector
    return connector


ConnectorDep = Annotated[Connector, Depends(get_connector)]


def get_database(connector: ConnectorDep) -> Database:
    return connector.database


def get_settings(connector: ConnectorDep) -> Settings:
    return connector.settings


def get_secret(connector: ConnectorDep) -> KeyRing:
    """The keys that sign links (the current one) and verify them (every one)."""
    return connector.secret


def get_media_store(connector: ConnectorDep) -> MediaStore:
    return connector.media_store


def get_registry(connector: ConnectorDep) -> MappingRegistry:
    return connector.registry


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SecretDep = Annotated[KeyRing, Depends(get_secret)]
MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]
RegistryDep = Annotated[MappingRegistry, Depends(get_registry)]

_bearer = HTTPBearer(auto_error=False)


class ErrorOut(BaseModel):
    """Every refusal that is not a validation error: one sentence saying what was wrong."""

    detail: str


class ValidationIssue(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorsOut(BaseModel):
    """FastAPI's answer to a request its schema refuses: each issue with where it is."""

    detail: list[ValidationIssue]


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token, or not one of ours"},
    403: {"model": ErrorOut, "description": "The token lacks the scope this route needs"},
}


BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be decoded as JSON"},
}


def not_found(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"model": ErrorOut, "description": f"No such {what}"}}


def authenticate(settings: Settings, given: str) -> ApiToken | None:
    """The configured token whose secret is `given`; every secret is compared in full."""
    found = None
    for token in settings.api_tokens:
        if hmac.compare_digest(given.encode(), token.secret.encode()):
            found = token
    return found


def check_token(
    settings: Settings, credentials: HTTPAuthorizationCredentials | None, scope: Scope
) -> ApiToken:
    """The bearer token of the request when it holds `scope`; 401 or 403 otherwise."""
    if not settings.api_tokens:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "no API tokens are configured (CONNECTOR_API_TOKENS)"
        )
    token = authenticate(settings, credentials.credentials if credentials else "")
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not token.allows(scope):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"the token {token.name!r} lacks the {scope.value!r} scope this route needs",
        )
    return token


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def requires(scope: Scope) -> Any:
    """A dependency admitting only bearer tokens that hold `scope` (or `admin`)."""

    def check(settings: SettingsDep, credentials: BearerDep) -> ApiToken:
        return check_token(settings, credentials, scope)

    check.__name__ = f"requires_{scope.value}"
    return Depends(check)


ComposeScope = requires(Scope.COMPOSE)
SendScope = requires(Scope.SEND)
ReadScope = requires(Scope.READ)
AdminScope = requires(Scope.ADMIN)
