"""Console sessions: a key exchanged once for a session id (the key is never stored), each
request checked against idle and absolute expiry and against the key still being valid."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service as auth_service
from app.auth.service import Principal
from app.config import ConsoleSettings
from app.console.models import ConsoleSession

COOKIE = "hcp_console"
# The sign-in form's own CSRF token (before there is a session): a cookie and a hidden field.
LOGIN_COOKIE = "hcp_console_login"
# Who may sign in: people's keys. Devices, portals and the hotline are systems.
CONSOLE_ROLES = ("admin", "reader", "department")


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    if not expected or not given:
        return False
    return secrets.compare_digest(expected.encode(), given.encode())


async def sign_in(
    session: AsyncSession, key: str, *, now: datetime, settings: ConsoleSettings
) -> tuple[str, ConsoleSession, Principal] | None:
    """A new session for a valid person's key: (the cookie's value, the row, the principal);
    None for an unknown, revoked or system key, or one that must sign its requests."""
    principal = await auth_service.authenticate(session, key.strip())
    if principal is None or principal.role not in CONSOLE_ROLES or principal.require_signature:
        return None
    # The key's finished sessions go (sign-ins and sign-outs stay in the audit log).
    await session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.key_id == principal.key_id,
            or_(ConsoleSession.ended_at.is_not(None), ConsoleSession.expires_at <= now),
        )
    )
    token = new_token()
    row = ConsoleSession(
        id_hash=_hash(token),
        key_id=principal.key_id,
        role=principal.role,
        department_code=principal.department_code,
        csrf_token=new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_lifetime_hours),
    )
    session.add(row)
    await session.flush()
    return token, row, principal


async def resume(
    session: AsyncSession, token: str, *, now: datetime, settings: ConsoleSettings
) -> tuple[ConsoleSession, Principal] | None:
    """The live session of a cookie and its principal, its last_seen_at moved to `now`; None
    when absent, ended, idle too long, past its lifetime, or its key revoked or changed."""
    if not token or len(token) > 100:
        return None
    row = (
        await session.execute(
            select(ConsoleSession).where(
                ConsoleSession.id_hash == _hash(token), ConsoleSession.ended_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    idle = timedelta(minutes=settings.idle_timeout_minutes)
    if now >= row.expires_at or now - row.last_seen_at >= idle:
        return None
    principal = await auth_service.principal_for_key_id(session, row.key_id)
    if (
        principal is None
        or principal.role != row.role
        or principal.department_code != row.department_code
    ):
        return None
    row.last_seen_at = max(row.last_seen_at, now)
    return row, principal


async def sign_out(session: AsyncSession, token: str, *, now: datetime) -> bool:
    """End the cookie's session; whether there was one to end."""
    result = await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id_hash == _hash(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now, end_reason="signed_out")
    )
    return result.rowcount > 0
