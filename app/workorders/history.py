"""An order's timeline: who acted (Actor), the events appended, their views and webhook data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import Principal
from app.workorders.models import WorkOrder, WorkOrderEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: an API key's client, or the system (key None)."""

    key_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    name: str | None = "system"
    role: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.key_id, principal.client_id, principal.client_name, principal.role)

    def columns(self) -> dict:
        """The actor_* columns of a record it made (timeline events, rating status changes)."""
        return {
            "actor_key_id": self.key_id,
            "actor_client_id": self.client_id,
            "actor_name": self.name,
            "actor_role": self.role,
        }


SYSTEM = Actor()


def event_data(order: WorkOrder) -> dict[str, Any]:
    return {
        "ticket_id": order.id,
        "source": order.source,
        "state": order.state,
        "department_code": order.department_code,
        "current_stage": order.current_stage,
        "next_due_at": order.next_due_at,
        "deadlines": order.deadlines,
        "provisional": order.provisional,
        "outcome": order.outcome,
    }


def event_view(event: WorkOrderEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "action": event.action,
        "at": event.at,
        "actor": {
            "key_id": event.actor_key_id,
            "client_id": event.actor_client_id,
            "name": event.actor_name,
            "role": event.actor_role,
        },
        "note": event.note,
        "state_before": event.state_before,
        "state_after": event.state_after,
        "data": event.data,
    }


async def append(
    session: AsyncSession,
    order: WorkOrder,
    actor: Actor,
    action: str,
    *,
    now: datetime,
    state_before: str | None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    seq = (
        await session.execute(
            select(func.coalesce(func.max(WorkOrderEvent.seq), 0) + 1).where(
                WorkOrderEvent.work_order_id == order.id
            )
        )
    ).scalar_one()
    session.add(
        WorkOrderEvent(
            work_order_id=order.id,
            seq=seq,
            action=action,
            at=now,
            **actor.columns(),
            note=note,
            state_before=state_before,
            state_after=order.state,
            data=data or {},
        )
    )
    await session.flush()
