"""Dependencies shared by the routers, declared once as `Annotated` aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connector.bootstrap import Connector


def get_connector(request: Request) -> Connector:
    connector: Connector = request.app.state.connector
    return connector


ConnectorDep = Annotated[Connector, Depends(get_connector)]

_bearer = HTTPBearer(auto_error=False)


def require_token(
    connector: ConnectorDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The `/v1` API answers only to the operator's bearer tokens (`CONNECTOR_API_TOKENS`)."""
    tokens = connector.settings.api_tokens
    if not tokens:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "no API tokens are configured (CONNECTOR_API_TOKENS)"
        )
    given = credentials.credentials.encode() if credentials else b""
    if not any(hmac.compare_digest(given, t.get_secret_value().encode()) for t in tokens):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


TokenDep = Depends(require_token)
