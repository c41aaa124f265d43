"""Episodes: an alert raised once when a rule's condition starts to hold on a subject, touched
while it holds, cleared when it stops; each raise and clear queues its webhook event in the same
transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.conditions import Finding
from app.alerts.models import Alert, AlertRule
from app.notify import service as notify
from app.timefmt import local_iso


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return local_iso(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def alert_view(alert: Alert) -> dict[str, Any]:
    """An alert as the API, the webhooks and the console show it."""
    acknowledged = None
    if alert.acknowledged_at is not None:
        acknowledged = {
            "at": alert.acknowledged_at,
            "key_id": alert.acknowledged_by_key_id,
            "client_id": alert.acknowledged_by_client_id,
            "name": alert.acknowledged_by_name,
            "role": alert.acknowledged_by_role,
            "note": alert.ack_note,
        }
    return {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "rule_name": alert.rule_name,
        "kind": alert.kind,
        "state": "open" if alert.acknowledged_at is None else "acknowledged",
        "active": alert.cleared_at is None,
        "subject_type": alert.subject_type,
        "subject_key": alert.subject_key,
        "department_code": alert.department_code,
        "window_no": alert.window_no,
        "evidence": alert.evidence,
        "first_seen_at": alert.first_seen_at,
        "last_seen_at": alert.last_seen_at,
        "cleared_at": alert.cleared_at,
        "acknowledged": acknowledged,
    }


async def _open_alerts(session: AsyncSession, rule_id: int) -> list[Alert]:
    return list(
        (
            await session.execute(
                select(Alert)
                .where(Alert.rule_id == rule_id, Alert.cleared_at.is_(None))
                .order_by(Alert.id)
                .with_for_update()
            )
        ).scalars()
    )


async def _clear(session: AsyncSession, alerts: list[Alert], *, now: datetime) -> None:
    for alert in alerts:
        alert.cleared_at = now
    await session.flush()
    await notify.enqueue(session, "alert.cleared", [alert_view(a) for a in alerts], now=now)


async def reconcile(
    session: AsyncSession, rule: AlertRule, findings: list[Finding], *, now: datetime
) -> dict[str, int]:
    """Bring the rule's open episodes in line with what holds now: raise the new ones (once:
    the partial unique index refuses a second open episode), touch the continuing ones, clear
    those whose condition no longer holds. Returns the counts of each."""
    found = {f.subject_key: f for f in findings}
    current = await _open_alerts(session, rule.id)
    gone = [a for a in current if a.subject_key not in found]
    for alert in current:
        if alert.subject_key in found:
            alert.last_seen_at = now
    await _clear(session, gone, now=now)
    known = {a.subject_key for a in current}
    new = [f for key, f in found.items() if key not in known]
    raised: list[Alert] = []
    if new:
        statement = (
            insert(Alert)
            .values(
                [
                    {
                        "rule_id": rule.id,
                        "rule_name": rule.name,
                        "kind": rule.kind,
                        "subject_type": f.subject_type,
                        "subject_key": f.subject_key,
                        "department_code": f.department_code,
                        "window_no": f.window_no,
                        "evidence": _jsonable(f.evidence),
                        "first_seen_at": now,
                        "last_seen_at": now,
                    }
                    for f in new
                ]
            )
            .on_conflict_do_nothing(
                index_elements=["rule_id", "subject_key"],
                index_where=text("cleared_at IS NULL"),
            )
            .returning(Alert)
        )
        raised = list((await session.execute(statement)).scalars())
        await notify.enqueue(session, "alert.raised", [alert_view(a) for a in raised], now=now)
    return {"raised": len(raised), "continuing": len(current) - len(gone), "cleared": len(gone)}


async def clear_rule(session: AsyncSession, rule_id: int, *, now: datetime) -> int:
    """End every open episode of the rule (it was switched off or deleted)."""
    current = await _open_alerts(session, rule_id)
    await _clear(session, current, now=now)
    return len(current)
