"""Alert rules (admins set them) and alerts (listed, acknowledged): the domain's functions.

The console (dashboard, department desk) reads alerts through `list_alerts`, `count_open`
and `acknowledge`; the evaluation job is app/alerts/evaluator.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.episodes import alert_view, clear_rule
from app.alerts.models import Alert, AlertRule
from app.alerts.schemas import COMMON_FIELDS, RuleIn
from app.auth.service import Principal
from app.errors import Conflict, NotFound, ValidationProblem, field_error, pydantic_errors
from app.pagination import decode_cursor, encode_cursor, row_id
from app.registry import service as registry
from app.timefmt import local_iso

# --- rules --------------------------------------------------------------------------------------


def rule_view(rule: AlertRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "kind": rule.kind,
        "department_code": rule.department_code,
        "active": rule.active,
        "params": rule.params,
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
    }


async def _check_scope(session: AsyncSession, department_code: str | None, params: dict) -> None:
    """The department (and window) a rule names must exist: 422 naming the field otherwise."""
    if department_code is None:
        return
    if department_code not in await registry.active_departments(session, {department_code}):
        raise ValidationProblem(
            "Unknown department",
            errors=[field_error("department_code", f"no department {department_code}")],
        )
    window_no = params.get("window_no")
    if window_no and not await registry.active_windows(session, {(department_code, window_no)}):
        raise ValidationProblem(
            "Unknown window",
            errors=[field_error("window_no", f"no window {window_no} in {department_code}")],
        )


def _split(body: RuleIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(common fields, the kind's parameters) of a validated rule body."""
    data = body.root.model_dump(mode="json")
    return {k: data[k] for k in COMMON_FIELDS}, {
        k: v for k, v in data.items() if k not in COMMON_FIELDS
    }


async def create_rule(session: AsyncSession, body: RuleIn, *, now: datetime) -> AlertRule:
    """A new rule from a validated body (one of the kinds of app/alerts/schemas.py)."""
    common, params = _split(body)
    await _check_scope(session, common["department_code"], params)
    rule = AlertRule(**common, params=params, created_at=now, updated_at=now)
    session.add(rule)
    await session.flush()
    return rule


async def get_rule(session: AsyncSession, rule_id: int) -> AlertRule:
    rule = await session.get(AlertRule, rule_id) if 0 < rule_id < 2**63 else None
    if rule is None:
        raise NotFound(f"No alert rule {rule_id}")
    return rule


async def list_rules(session: AsyncSession) -> list[AlertRule]:
    return list((await session.execute(select(AlertRule).order_by(AlertRule.id))).scalars())


async def update_rule(
    session: AsyncSession, rule_id: int, changes: dict[str, Any], *, now: datetime
) -> AlertRule:
    """Apply the given fields, check the whole rule against its kind (422 naming the field);
    switched off, its open episodes end."""
    rule = await get_rule(session, rule_id)
    for name in ("name", "active", "threshold", "minutes", "sample_size", "min_rate_percent"):
        if name in changes and changes[name] is None:
            raise ValidationProblem(
                "null is not a value", errors=[field_error(name, "null is not a value here")]
            )
    merged = {
        "kind": rule.kind,
        "name": rule.name,
        "department_code": rule.department_code,
        "active": rule.active,
        **rule.params,
        **changes,
    }
    try:
        body = RuleIn.model_validate(merged)
    except ValidationError as exc:
        errors = pydantic_errors(exc.errors())
        raise ValidationProblem(
            f"Not a valid {rule.kind} rule: " + "; ".join(e["field"] for e in errors),
            errors=errors,
        ) from None
    common, params = _split(body)
    await _check_scope(session, common["department_code"], params)
    was_active = rule.active
    for name, value in common.items():
        setattr(rule, name, value)
    rule.params = params
    rule.updated_at = now
    if was_active and not rule.active:
        await clear_rule(session, rule.id, now=now)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: int, *, now: datetime) -> None:
    """Delete the rule; its open episodes end, its alerts stay (rule_id null)."""
    rule = await get_rule(session, rule_id)
    await clear_rule(session, rule.id, now=now)
    await session.delete(rule)
    await session.flush()


# --- alerts -------------------------------------------------------------------------------------


def _alert_key(fields: list[str]) -> int:
    if len(fields) != 2 or fields[0] != "al":
        raise ValueError("not an alert cursor")
    return row_id(fields[1])


def _filtered(query, *, department_code: str | None, state: str, kind: str | None, active):
    if department_code is not None:
        query = query.where(Alert.department_code == department_code)
    if state == "open":
        query = query.where(Alert.acknowledged_at.is_(None))
    elif state == "acknowledged":
        query = query.where(Alert.acknowledged_at.is_not(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if active is not None:
        query = query.where(Alert.cleared_at.is_(None) if active else Alert.cleared_at.is_not(None))
    return query


async def list_alerts(
    session: AsyncSession,
    *,
    department_code: str | None = None,
    state: str = "open",
    kind: str | None = None,
    active: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Alerts newest first, as (views, next cursor). state: "open" (not acknowledged, whether
    or not the condition still holds), "acknowledged" or "all"; active: the episode goes on
    (True) or has ended (False); department_code: one department's alerts only."""
    query = _filtered(
        select(Alert), department_code=department_code, state=state, kind=kind, active=active
    )
    if cursor:
        query = query.where(Alert.id < decode_cursor(cursor, _alert_key))
    rows = list((await session.execute(query.order_by(Alert.id.desc()).limit(limit))).scalars())
    next_cursor = encode_cursor("al", rows[-1].id) if len(rows) == limit else None
    return [alert_view(a) for a in rows], next_cursor


async def count_open(session: AsyncSession, *, department_code: str | None = None) -> int:
    """How many alerts wait for an acknowledgement (the dashboard's and desk's badge)."""
    query = _filtered(
        select(func.count()).select_from(Alert),
        department_code=department_code,
        state="open",
        kind=None,
        active=None,
    )
    return (await session.execute(query)).scalar_one()


async def _get_alert(
    session: AsyncSession, alert_id: int, department_code: str | None, *, lock: bool = False
) -> Alert:
    alert = None
    if 0 < alert_id < 2**63:
        query = select(Alert).where(Alert.id == alert_id)
        alert = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if alert is None or department_code not in (None, alert.department_code):
        raise NotFound(f"No alert {alert_id}")
    return alert


async def get_alert(
    session: AsyncSession, alert_id: int, *, department_code: str | None = None
) -> dict[str, Any]:
    """One alert; with department_code, 404 for another department's."""
    return alert_view(await _get_alert(session, alert_id, department_code))


async def acknowledge(
    session: AsyncSession,
    alert_id: int,
    actor: Principal,
    now: datetime,
    *,
    note: str | None = None,
    department_code: str | None = None,
) -> dict[str, Any]:
    """Record who acknowledged the alert and when (once: 409 when it already is); with
    department_code, only that department's alert."""
    alert = await _get_alert(session, alert_id, department_code, lock=True)
    if alert.acknowledged_at is not None:
        raise Conflict(
            f"Alert {alert_id} was acknowledged by {alert.acknowledged_by_name} "
            f"at {local_iso(alert.acknowledged_at)}"
        )
    alert.acknowledged_at = now
    alert.acknowledged_by_key_id = actor.key_id
    alert.acknowledged_by_client_id = actor.client_id
    alert.acknowledged_by_name = actor.client_name
    alert.acknowledged_by_role = actor.role
    alert.ack_note = note
    await session.flush()
    return alert_view(alert)
