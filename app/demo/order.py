"""A demo work order as the walker leaves it: its columns at `now`, its history rows, its rounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.config import BUSINESS_TZ

# Who took a step; the loader maps these to the demo's clients.
SYSTEM, DEPARTMENT, SUPERVISOR, HOTLINE = "system", "department", "supervisor", "hotline"


@dataclass(slots=True)
class Step:
    """One history row (work_order_event) of an order."""

    seq: int
    action: str
    at: datetime
    actor: str
    note: str | None
    state_before: str | None
    state_after: str
    data: dict[str, Any]


class Rest(Exception):
    """The next step would come after `now`: the order stays where it is."""


@dataclass(slots=True)
class Order:
    """A work order's columns at `now`, its history, and its rating's status."""

    source: str
    real_name: bool
    opened_at: datetime
    policy: dict[str, int]
    now: datetime
    state: str = "open"
    substantiated: bool | None = None
    extended: bool = False
    appeal_from: str | None = None
    appealed_before: bool = False
    outcome: str | None = None
    deadline_basis_at: datetime | None = None
    deadlines: dict[str, datetime] = field(default_factory=dict)
    provisional: bool = False
    current_stage: str | None = None
    next_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    resolved_at: datetime | None = None
    contacted_at: datetime | None = None
    called_back_at: datetime | None = None
    callback_satisfied: bool | None = None
    closed_at: datetime | None = None
    due_soon_at: datetime | None = None
    overdue_at: datetime | None = None
    reopen_count: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)
    late_rounds: int = 0
    withdrawal_from: str | None = None
    withdrawal_requests: int = 0
    withdrawal_refusals: int = 0
    updated_at: datetime | None = None
    history: list[Step] = field(default_factory=list)
    rating_status: str = "valid"
    rating_status_changed_at: datetime | None = None

    def deadlines_iso(self) -> dict[str, str]:
        return {name: iso(due) for name, due in self.deadlines.items()}


def iso(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).isoformat()


def close_round(order: Order, at: datetime) -> dict[str, Any]:
    """Keep the round that ends at `at` before a reopen, as workorders.rounds.close_round does."""
    resolved = order.resolved_at
    late = resolved > order.resolve_due_at if resolved else at > order.resolve_due_at
    kept = {
        "round": order.reopen_count + 1,
        "started_at": iso(order.deadline_basis_at),
        "deadlines": order.deadlines_iso(),
        "provisional": order.provisional,
        "resolve_due_at": iso(order.resolve_due_at),
        **{
            name: iso(value) if value else None
            for name, value in (
                ("contacted_at", order.contacted_at),
                ("resolved_at", order.resolved_at),
                ("due_soon_at", order.due_soon_at),
                ("overdue_at", order.overdue_at),
            )
        },
        "late": late,
        "ended_at": iso(at),
        "ended_by": "callback_unsatisfied",
    }
    order.rounds.append(kept)
    order.late_rounds += int(late)
    return kept
