"""A rating's fate through its order: the evidence kept, the status changed and its record."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import ValidationProblem, field_error
from app.workorders.history import Actor
from app.workorders.models import RatingStatusChange, WorkOrder, WorkOrderEvent
from app.workorders.timing import iso


def status_change_view(change: RatingStatusChange) -> dict[str, Any]:
    return {
        "status_before": change.status_before,
        "status_after": change.status_after,
        "at": change.at,
        "action": change.action,
        "actor": {
            "key_id": change.actor_key_id,
            "client_id": change.actor_client_id,
            "name": change.actor_name,
            "role": change.actor_role,
        },
        "reason": change.reason,
        "evidence": change.evidence,
    }


async def change_rating_status(
    session: AsyncSession,
    order: WorkOrder,
    actor: Actor,
    action: str,
    status: str,
    *,
    now: datetime,
    reason: str | None,
    evidence: dict[str, Any],
) -> None:
    """Set the order's rating's status (the figures follow in the same transaction) and keep
    who, when, why and on what evidence."""
    from app.ratings import service as ratings

    before = (await ratings.get_rating(session, order.rating_id)).status
    await ratings.set_status(session, order.rating_id, status)
    session.add(
        RatingStatusChange(
            rating_id=order.rating_id,
            work_order_id=order.id,
            status_before=before,
            status_after=status,
            at=now,
            action=action,
            **actor.columns(),
            reason=reason,
            evidence=evidence,
        )
    )


def requester(event: WorkOrderEvent) -> dict[str, Any]:
    return {
        "requested_at": iso(event.at),
        "requested_by": {
            "client_id": str(event.actor_client_id) if event.actor_client_id else None,
            "name": event.actor_name,
            "role": event.actor_role,
        },
        "request_note": event.note,
    }


_EVIDENCE_AT = {"callback": "called_at", "rater_request": "requested_at"}


def evidence_record(
    evidence: dict[str, Any] | None,
    order: WorkOrder,
    *,
    now: datetime,
    future_tolerance: timedelta,
) -> dict[str, Any] | None:
    """The rater's confirmation as kept: its instant required by its kind, not before the
    order was opened nor in the future (beyond the app's `future_tolerance`); 422 naming the
    field otherwise."""
    if evidence is None:
        return None
    kind = evidence["kind"]
    field = _EVIDENCE_AT[kind]
    when = evidence.get(field)
    if when is None:
        message = f"evidence of kind {kind} needs {field}"
        raise ValidationProblem(
            message, errors=[field_error(f"evidence.{field}", message, "missing")]
        )
    if when > now + future_tolerance:
        raise ValidationProblem(
            f"evidence.{field} is in the future",
            errors=[field_error(f"evidence.{field}", "is in the future", "future")],
        )
    if when < order.opened_at:
        raise ValidationProblem(
            f"evidence.{field} is before the order was opened",
            errors=[field_error(f"evidence.{field}", "is before the order was opened", "early")],
        )
    other = next(f for f in _EVIDENCE_AT.values() if f != field)
    if evidence.get(other) is not None:
        message = f"evidence of kind {kind} has {field}, not {other}"
        raise ValidationProblem(message, errors=[field_error(f"evidence.{other}", message)])
    record = {"kind": kind, field: iso(when), "note": evidence["note"]}
    for extra in ("reference", "channel"):
        if evidence.get(extra):
            record[extra] = evidence[extra]
    return record
