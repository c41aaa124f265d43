"""Who reads /metrics: a key of role admin or reader, still honoured during a database outage."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from app.auth import dependencies as auth
from app.auth.service import hash_key
from app.db import Session
from app.errors import Forbidden, is_database_unavailable

METRICS_ROLES = ("admin", "reader")
# While the database cannot be reached (when haochaping_db_up 0 matters most), a key that
# passed the check this recently still reads /metrics; nothing else is let through unchecked.
METRICS_OUTAGE_GRACE_SECONDS = 600.0


async def metrics_reader(
    request: Request,
    session: Session,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(auth._bearer)],
    header_key: Annotated[str | None, Depends(auth._header)],
) -> None:
    """An admin or reader key (403 for other roles, 401 without one)."""
    key = bearer.credentials if bearer else header_key
    checked: dict[bytes, float] = request.app.state.__dict__.setdefault("metrics_keys", {})
    try:
        principal = await auth.current_principal(request, session, bearer, header_key)
    except Exception as exc:
        if key and is_database_unavailable(exc):
            at = checked.get(hash_key(key))
            if at is not None and time.monotonic() - at < METRICS_OUTAGE_GRACE_SECONDS:
                return
        raise
    if principal.role not in METRICS_ROLES:
        raise Forbidden(f"/metrics needs a key of role admin or reader; this key has role "
                        f"{principal.role}")  # fmt: skip
    if key:
        if len(checked) > 100:
            checked.clear()
        checked[hash_key(key)] = time.monotonic()
