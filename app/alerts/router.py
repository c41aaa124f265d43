"""Alert rules (admins write, readers read) and alerts (admins and readers see all, a
department key its own department's; admins and departments acknowledge)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.alerts import service
from app.alerts.schemas import (
    AckIn,
    AlertOut,
    AlertPage,
    AlertState,
    Kind,
    RuleIn,
    RuleOut,
    RuleUpdate,
)
from app.auth.dependencies import AdminPrincipal, require_roles
from app.auth.service import Principal
from app.clock import Now
from app.db import Session
from app.errors import Forbidden

_PROBLEM = {"content": {"application/problem+json": {}}}
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

RuleReader = Annotated[Principal, Depends(require_roles("admin", "reader", "department"))]
AlertReader = Annotated[Principal, Depends(require_roles("admin", "reader", "department"))]
AlertAcknowledger = Annotated[Principal, Depends(require_roles("admin", "department"))]

rules_router = APIRouter(prefix="/v1/alert-rules", tags=["alerts"])
alerts_router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


def own_department(principal: Principal, requested: str | None = None) -> str | None:
    """The department whose alerts the key sees: a department key its own (asking for another
    is 403); the others what they asked for (None: all)."""
    if principal.role != "department":
        return requested
    if requested not in (None, principal.department_code):
        raise Forbidden("A department key sees its own department's alerts only")
    return principal.department_code


@rules_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RuleOut,
    responses={403: _PROBLEM, 422: _PROBLEM},
)
async def create_rule(body: RuleIn, session: Session, principal: AdminPrincipal, now: Now):
    """A new alert rule (admins): `kind` picks its parameters (window_bad_burst: threshold,
    minutes, window_no; department_good_rate: sample_size, min_rate_percent; device_silent:
    working_days; order_due_soon: none); department_code narrows it to one department."""
    return service.rule_view(await service.create_rule(session, body, now=now))


@rules_router.get("", response_model=list[RuleOut], responses={403: _PROBLEM})
async def list_rules(session: Session, principal: RuleReader):
    """Every alert rule."""
    return [service.rule_view(r) for r in await service.list_rules(session)]


@rules_router.get("/{rule_id}", response_model=RuleOut, responses={403: _PROBLEM, 404: _PROBLEM})
async def get_rule(rule_id: RowId, session: Session, principal: RuleReader):
    """One alert rule."""
    return service.rule_view(await service.get_rule(session, rule_id))


@rules_router.patch(
    "/{rule_id}", response_model=RuleOut, responses={403: _PROBLEM, 404: _PROBLEM, 422: _PROBLEM}
)
async def update_rule(
    rule_id: RowId, body: RuleUpdate, session: Session, principal: AdminPrincipal, now: Now
):
    """Change a rule (admins); the kind stays. Switched off (`active: false`), its open alerts
    end."""
    changes = body.model_dump(exclude_unset=True)
    return service.rule_view(await service.update_rule(session, rule_id, changes, now=now))


@rules_router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: _PROBLEM, 404: _PROBLEM},
)
async def delete_rule(rule_id: RowId, session: Session, principal: AdminPrincipal, now: Now):
    """Delete a rule (admins): its open alerts end; its alerts stay listed."""
    await service.delete_rule(session, rule_id, now=now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@alerts_router.get("", response_model=AlertPage, responses={403: _PROBLEM, 422: _PROBLEM})
async def list_alerts(
    session: Session,
    principal: AlertReader,
    state: AlertState = "open",
    department_code: str | None = Query(default=None, min_length=1, max_length=64),
    kind: Kind | None = None,
    active: bool | None = Query(default=None, description="The condition still holds"),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = Query(default=None, max_length=200),
):
    """Alerts, newest first. state `open` (default): not yet acknowledged; `acknowledged`;
    `all`. A department key sees its own department's only."""
    items, next_cursor = await service.list_alerts(
        session,
        department_code=own_department(principal, department_code),
        state=state,
        kind=kind,
        active=active,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@alerts_router.get("/{alert_id}", response_model=AlertOut, responses={403: _PROBLEM, 404: _PROBLEM})
async def get_alert(alert_id: RowId, session: Session, principal: AlertReader):
    """One alert (a department key: its own department's)."""
    return await service.get_alert(session, alert_id, department_code=own_department(principal))


@alerts_router.post(
    "/{alert_id}/ack",
    response_model=AlertOut,
    responses={
        403: _PROBLEM,
        404: _PROBLEM,
        409: {"description": "Already acknowledged", **_PROBLEM},
        422: _PROBLEM,
    },
)
async def acknowledge(
    alert_id: RowId,
    session: Session,
    principal: AlertAcknowledger,
    now: Now,
    body: AckIn | None = None,
):
    """Acknowledge an alert: who and when are recorded, with an optional note (once)."""
    return await service.acknowledge(
        session,
        alert_id,
        principal,
        now,
        note=body.note if body else None,
        department_code=own_department(principal),
    )
