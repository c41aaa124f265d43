import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditPage
from app.auth.dependencies import AdminPrincipal
from app.db import Session
from app.errors import ValidationProblem, field_error

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=AuditPage)
async def list_audit(
    session: Session,
    principal: AdminPrincipal,
    actor: uuid.UUID | None = Query(default=None, description="A client id or a key id"),
    action: str | None = Query(
        default=None, max_length=200, description="Exact, or a prefix ending in '*'"
    ),
    target: str | None = Query(
        default=None, max_length=500, description="Exact, or a prefix ending in '*'"
    ),
    since: datetime | None = Query(default=None, description="Inclusive, ISO 8601 with offset"),
    until: datetime | None = Query(default=None, description="Exclusive, ISO 8601 with offset"),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = Query(default=None, max_length=200),
):
    """The audit log, newest first (admins only): writes, key changes, unmasked reads."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationProblem(
                f"{name} needs a UTC offset",
                errors=[field_error(f"query.{name}", "ISO 8601 with offset, e.g. +08:00")],
            )
    filters = service.AuditFilter(
        actor=actor, action=action, target=target, since=since, until=until
    )
    items, next_cursor = await service.list_entries(session, filters, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}
