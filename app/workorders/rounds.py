"""An order's rounds: the one being worked, and those kept with their lateness at a reopen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.workorders.models import WorkOrder
from app.workorders.timing import iso


def _resolved_late(resolved_at: datetime | None, due_at: datetime, *, now: datetime | None) -> bool:
    """Resolved after the deadline in force, or (still open at `now`) past it unresolved."""
    if resolved_at is not None:
        return resolved_at > due_at
    return now is not None and now > due_at


def current_round(order: WorkOrder, *, now: datetime) -> dict[str, Any]:
    """The round being worked now (the last one, ended when the order closed)."""
    pending = now if order.state != "closed" else None
    return {
        "round": order.reopen_count + 1,
        "started_at": order.deadline_basis_at,
        "deadlines": {k: datetime.fromisoformat(v) for k, v in order.deadlines.items()},
        "resolve_due_at": order.resolve_due_at,
        "contacted_at": order.contacted_at,
        "resolved_at": order.resolved_at,
        "due_soon_at": order.due_soon_at,
        "overdue_at": order.overdue_at,
        "late": _resolved_late(order.resolved_at, order.resolve_due_at, now=pending),
        "ended_at": order.closed_at,
        "ended_by": order.outcome,
    }


def round_out(stored: dict[str, Any]) -> dict[str, Any]:
    """An earlier round as stored (ISO 8601 strings) with its instants parsed."""

    def instant(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    out = {k: instant(stored.get(k)) for k in _ROUND_INSTANTS}
    out["deadlines"] = {k: datetime.fromisoformat(v) for k, v in stored["deadlines"].items()}
    return {"round": stored["round"], **out, "late": stored["late"], "ended_by": stored["ended_by"]}


_ROUND_INSTANTS = (
    "started_at",
    "resolve_due_at",
    "contacted_at",
    "resolved_at",
    "due_soon_at",
    "overdue_at",
    "ended_at",
)


def close_round(order: WorkOrder, *, now: datetime, ended_by: str) -> dict[str, Any]:
    """Keep the round that ends now (its deadlines, warnings and lateness) before a reopen
    starts the next; returns what was kept."""
    late = _resolved_late(order.resolved_at, order.resolve_due_at, now=now)
    kept = {
        "round": order.reopen_count + 1,
        "started_at": iso(order.deadline_basis_at),
        "deadlines": dict(order.deadlines),
        "provisional": order.provisional,
        "resolve_due_at": iso(order.resolve_due_at),
        "contacted_at": iso(order.contacted_at) if order.contacted_at else None,
        "resolved_at": iso(order.resolved_at) if order.resolved_at else None,
        "due_soon_at": iso(order.due_soon_at) if order.due_soon_at else None,
        "overdue_at": iso(order.overdue_at) if order.overdue_at else None,
        "late": late,
        "ended_at": iso(now),
        "ended_by": ended_by,
    }
    order.rounds = [*(order.rounds or []), kept]
    order.late_rounds += int(late)
    return kept
