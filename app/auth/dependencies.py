"""The current-client dependency and role guards.

A request authenticates with its API key (`Authorization: Bearer` or `X-API-Key`) or is signed
(app/auth/signing.py: key id, timestamp, nonce and HMAC in `X-HCP-*` headers). A client with
`require_signature` is refused unsigned. Then the client's rate limit is applied (429).
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.auth import signing
from app.auth.service import Principal, authenticate, authenticate_signed, spend_nonce
from app.auth.usage import KeyUsage
from app.config import Settings
from app.db import Session
from app.errors import Forbidden, NotAuthenticated
from app.ratelimit import RateLimiter

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")

# Scope state under which app/ratings/fastpath/ hands over a request it authenticated: a
# private object, so that no other code can set it by name.
HANDED_OVER = object()

_SIGNED_CHALLENGE = {"WWW-Authenticate": signing.SCHEME}
_BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def install(app: FastAPI, settings: Settings) -> None:
    """The per-process state of authentication: key usage notes and rate-limit buckets."""
    app.state.key_usage = KeyUsage()
    app.state.rate_limiter = RateLimiter(settings.role_rate_limits)


def request_target(request: Request) -> str:
    """The path and query as the client sent them (what a signature covers)."""
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = raw_path.split(b"?", 1)[0].decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"")
    return path + "?" + query.decode("latin-1") if query else path


async def _signed_principal(request: Request, session, settings: Settings) -> Principal:
    now = request.app.state.clock().timestamp()  # the 5-minute window is the app's clock
    try:
        signed = signing.parse(request.headers)
        principal = await authenticate_signed(
            session,
            signed,
            method=request.method,
            target=request_target(request),
            body=await request.body(),
            now=now,
            tolerance=settings.signature_tolerance_seconds,
        )
    except signing.SignatureError as exc:
        extra = {"reason": exc.reason}
        if exc.reason == "stale":
            extra["server_time"] = int(now)
        raise NotAuthenticated(exc.detail, headers=_SIGNED_CHALLENGE, **extra) from None
    request.app.state.rate_limiter.enforce(principal.client_id, principal.role)
    if not await spend_nonce(session, signed, tolerance=settings.signature_tolerance_seconds):
        raise NotAuthenticated(
            "This nonce was already used: a replayed request. Sign every attempt with a new nonce",
            headers=_SIGNED_CHALLENGE,
            reason="replay",
        )
    return principal


async def current_principal(
    request: Request,
    session: Session,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> Principal:
    handed_over = request.scope.get("state", {}).get(HANDED_OVER)
    if handed_over is not None:
        # Authenticated by the single-event ingest path, its rate-limit token spent.
        return handed_over
    key = bearer.credentials if bearer else header_key
    settings: Settings = request.app.state.settings
    if signing.is_signed(request.headers):
        if key or "authorization" in request.headers:
            raise NotAuthenticated(
                "Send either an API key or a signature, not both", headers=_SIGNED_CHALLENGE
            )
        principal = await _signed_principal(request, session, settings)
    else:
        if not key:
            raise NotAuthenticated(
                "Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers=_BEARER_CHALLENGE,
            )
        principal = await authenticate(session, key)
        if principal is None:
            raise NotAuthenticated("Unknown or revoked API key", headers=_BEARER_CHALLENGE)
        if principal.require_signature:
            raise NotAuthenticated(
                "This client must sign its requests (X-HCP-Key-Id, X-HCP-Timestamp, "
                "X-HCP-Nonce, X-HCP-Signature); see the README, 'Signed requests'",
                headers=_SIGNED_CHALLENGE,
                reason="signature-required",
            )
        request.app.state.rate_limiter.enforce(principal.client_id, principal.role)
    request.app.state.key_usage.note(principal.key_id)
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
