"""The current-client dependency and role guards."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import Principal, authenticate
from app.db import Session
from app.errors import Forbidden, NotAuthenticated

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def current_principal(
    request: Request,
    session: Session,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    key = bearer.credentials if bearer else header_key
    if not key:
        raise NotAuthenticated(
            "Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await authenticate(session, key)
    if principal is None:
        raise NotAuthenticated("Unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str):
    """A dependency that lets only the given roles through (403 otherwise)."""

    async def _guard(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(
                f"This needs one of the roles {', '.join(roles)}; "
                f"this key has role {principal.role}"
            )
        return principal

    return _guard


AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
