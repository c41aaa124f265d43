"""Work orders (整改工单): opening, actions, reading, warnings, complaints, calendar, figures."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.auth.service import Principal
from app.config import BUSINESS_TZ, Settings, get_settings
from app.errors import Conflict, Forbidden, NotFound, ProblemError, ValidationProblem, field_error
from app.notify import service as notify
from app.pagination import decode_cursor, encode_cursor, row_id
from app.privacy.masking import mask_name, mask_phone, mask_text
from app.workorders import states
from app.workorders.calendar import WorkCalendar, YearArrangement, package_arrangement
from app.workorders.deadlines import DeadlinePolicy
from app.workorders.models import (
    CalendarYear,
    Complaint,
    RatingStatusChange,
    WorkOrder,
    WorkOrderEvent,
)

# Who may see work orders at all (reader sees counts only).
log = logging.getLogger(__name__)

ORDER_ROLES = ("admin", "department", "hotline")


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


SYSTEM = Actor()


class ActionConflict(Conflict):
    type, title = "action-not-allowed", "This action is not allowed in the order's current state"


class RatingNotWithdrawable(Conflict):
    type, title = "rating-not-withdrawable", "This rating cannot be withdrawn now"


class OrderNoReused(ProblemError):
    status, type, title = (
        422,
        "order-no-reused",
        "This order number was already used with a different payload",
    )


# --- calendar and policy -------------------------------------------------------------------------


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    """The package's years overridden by the years administrators entered."""
    rows = (await session.execute(select(CalendarYear))).scalars()
    return WorkCalendar(
        YearArrangement(r.year, frozenset(r.holidays), frozenset(r.workdays)) for r in rows
    )


def current_policy(settings: Settings | None = None) -> DeadlinePolicy:
    return DeadlinePolicy.parse((settings or get_settings()).deadline_policy)


def _iso(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).isoformat()


def _stage_names(order: WorkOrder) -> tuple[str, ...]:
    return tuple(order.policy)


def _deadline(order: WorkOrder, stage: str | None) -> datetime | None:
    if stage is None:
        return None
    return datetime.fromisoformat(order.deadlines[stage])


def _refresh_due(order: WorkOrder) -> None:
    """Derive the stage being worked against and its deadline from the state."""
    stage = states.current_stage(
        order.state,
        extended=order.extended,
        stages=_stage_names(order),
        appeal_from=order.appeal_from,
        withdrawal_from=order.withdrawal_from,
    )
    order.current_stage = stage
    order.next_due_at = _deadline(order, stage)
    resolution = "complex" if order.extended and "complex" in order.policy else "rectify"
    order.resolve_due_at = _deadline(order, resolution)


def _set_deadlines(order: WorkOrder, cal: WorkCalendar) -> None:
    policy = DeadlinePolicy.parse(order.policy)
    deadlines, provisional = policy.deadlines(cal, order.deadline_basis_at)
    order.deadlines = {name: _iso(due) for name, due in deadlines.items()}
    order.provisional = provisional
    _refresh_due(order)


# --- opening -------------------------------------------------------------------------------------


def _new_order(
    *,
    source: str,
    department_code: str,
    opened_at: datetime,
    real_name: bool,
    policy: DeadlinePolicy,
    cal: WorkCalendar,
    tags: list[str] | None = None,
    window_no: str | None = None,
    staff_id: str | None = None,
    summary: str | None = None,
    rating_id: int | None = None,
    complaint_id: int | None = None,
    created_by: uuid.UUID | None = None,
) -> WorkOrder:
    order = WorkOrder(
        source=source,
        rating_id=rating_id,
        complaint_id=complaint_id,
        department_code=department_code,
        window_no=window_no,
        staff_id=staff_id,
        summary=summary,
        real_name=real_name,
        tags=list(tags or []),
        state="open",
        extended=False,
        appealed_before=False,
        reopen_count=0,
        rounds=[],
        late_rounds=0,
        withdrawal_requests=0,
        withdrawal_refusals=0,
        opened_at=opened_at,
        deadline_basis_at=opened_at,
        policy=policy.as_dict(),
        created_by=created_by,
    )
    _set_deadlines(order, cal)
    return order


async def _insert_orders(
    session: AsyncSession, orders: list[WorkOrder], actor: Actor, *, now: datetime, note: str | None
) -> None:
    """Store new orders with their first history entry and their ticket.opened events."""
    session.add_all(orders)
    await session.flush()
    await session.execute(
        insert(WorkOrderEvent),
        [
            {
                "work_order_id": o.id,
                "seq": 1,
                "action": "open",
                "at": now,
                "actor_key_id": actor.key_id,
                "actor_client_id": actor.client_id,
                "actor_name": actor.name,
                "actor_role": actor.role,
                "note": note,
                "state_before": None,
                "state_after": "open",
                "data": {"deadlines": o.deadlines, "provisional": o.provisional},
            }
            for o in orders
        ],
    )
    await notify.enqueue(session, "ticket.opened", [_event_data(o) for o in orders], now=now)


def _is_real_name(name: str | None, phone: str | None) -> bool:
    return bool(name or phone)


async def open_for_ratings(
    session: AsyncSession,
    records: list[dict[str, Any]],
    *,
    policy: DeadlinePolicy,
) -> list[WorkOrder]:
    """Open a work order for every new 差评, in the rating's own transaction.

    Counted from receipt; an imported historical rating is counted from when it was rated, so
    that an order late then is late now."""
    bad = [r for r in records if r["level"] <= 2]
    if not bad:
        return []
    cal = await load_calendar(session)
    orders = [
        _new_order(
            source="rating",
            rating_id=r["id"],
            department_code=r["department_code"],
            window_no=r.get("window_no"),
            staff_id=r.get("staff_id"),
            opened_at=r["rated_at"] if r.get("historical") else r["received_at"],
            real_name=_is_real_name(r.get("rater_name"), r.get("rater_phone")),
            tags=r.get("tags"),
            summary=_summary(r.get("comment"), r.get("rater_name")),
            policy=policy,
            cal=cal,
        )
        for r in bad
    ]
    now = max(r["received_at"] for r in bad)
    await _insert_orders(session, orders, SYSTEM, now=now, note="差评")
    return orders


async def open_inspection(
    session: AsyncSession,
    principal: Principal,
    *,
    department_code: str,
    summary: str,
    found_at: datetime,
    window_no: str | None,
    staff_id: str | None,
    tags: list[str],
    now: datetime,
    policy: DeadlinePolicy,
) -> WorkOrder:
    """A supervisor opens an order by hand, from an inspection (nobody to call back)."""
    await _active_department(session, department_code, "department_code")
    cal = await load_calendar(session)
    order = _new_order(
        source="inspection",
        department_code=department_code,
        opened_at=found_at,
        real_name=False,
        policy=policy,
        cal=cal,
        tags=tags,
        window_no=window_no,
        staff_id=staff_id,
        summary=_summary(summary, None),
        created_by=principal.client_id,
    )
    # The history is never rewritten: its note holds the summary masked, as it is shown.
    await _insert_orders(session, [order], Actor.of(principal), now=now, note=mask_text(summary))
    return order


async def _active_department(session: AsyncSession, code: str, field: str) -> None:
    from app.registry import service as registry

    active = await registry.active_departments(session, {code})
    if code not in active:
        raise ValidationProblem(
            f"Unknown department {code!r}", errors=[field_error(field, "unknown department")]
        )
    if not active[code]:
        raise ValidationProblem(
            f"Department {code!r} is inactive",
            errors=[field_error(field, "the department is inactive", "inactive")],
        )


# --- complaints ----------------------------------------------------------------------------------


_COMPLAINT_FIELDS = (
    "order_no",
    "department_code",
    "window_no",
    "staff_id",
    "category",
    "content",
    "citizen_name",
    "citizen_phone",
    "received_at",
    "urgency",
)


def _complaint_canonical(values: dict[str, Any]) -> bytes:
    """The complaint as sent, in one fixed form (stored only as a keyed digest)."""
    canonical = {
        k: (values[k].isoformat() if isinstance(values[k], datetime) else values[k])
        for k in _COMPLAINT_FIELDS
    }
    return json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


async def receive_complaint(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    *,
    now: datetime,
    settings: Settings,
) -> tuple[Complaint, WorkOrder, bool]:
    """Store a 12345 complaint once per order number and open its order; (…, created)."""
    if principal.role not in ("hotline", "admin"):
        raise Forbidden("Only the 12345 hotline posts complaints")
    values = {**values, "received_at": values["received_at"]}
    if values["received_at"] > now + settings.future_tolerance:
        raise ValidationProblem(
            "received_at is in the future",
            errors=[field_error("received_at", "is in the future", "future")],
        )
    canonical = _complaint_canonical(values)
    digest = privacy.keyring().payload_digest(canonical)
    existing = await _complaint_by_no(session, values["order_no"])
    if existing is None:
        await _active_department(session, values["department_code"], "department_code")
        row = (
            await session.execute(
                text(
                    """
                    INSERT INTO complaint (order_no, client_id, payload_hash, department_code,
                        window_no, staff_id, category, content, citizen_name, citizen_phone,
                        citizen_phone_hash, received_at, urgency)
                    VALUES (:order_no, :client_id, :payload_hash, :department_code, :window_no,
                        :staff_id, :category, :content, :citizen_name, :citizen_phone,
                        :citizen_phone_hash, :received_at, :urgency)
                    ON CONFLICT (order_no) DO NOTHING
                    RETURNING id
                    """
                ),
                {
                    **{k: values[k] for k in _COMPLAINT_FIELDS},
                    **_sealed_citizen(values),
                    "content": privacy.keyring().seal_text(values["content"], "complaint.content"),
                    "client_id": principal.client_id,
                    "payload_hash": digest,
                },
            )
        ).one_or_none()
        if row is not None:
            complaint = await session.get(Complaint, row.id)
            cal = await load_calendar(session)
            order = _new_order(
                source="complaint",
                complaint_id=complaint.id,
                department_code=complaint.department_code,
                window_no=complaint.window_no,
                staff_id=complaint.staff_id,
                opened_at=complaint.received_at,
                real_name=_is_real_name(values["citizen_name"], values["citizen_phone"]),
                summary=_summary(values["content"], values["citizen_name"]),
                policy=current_policy(settings),
                cal=cal,
                created_by=principal.client_id,
            )
            await _insert_orders(
                session, [order], Actor.of(principal), now=now, note=f"12345 {complaint.order_no}"
            )
            return complaint, order, True
        # A concurrent request stored it first (its transaction has committed).
        existing = await _complaint_by_no(session, values["order_no"])
    if existing.client_id != principal.client_id or not privacy.keyring().payload_matches(
        bytes(existing.payload_hash), canonical
    ):
        raise OrderNoReused(
            f"Order number {values['order_no']!r} was already used with a different payload",
            errors=[field_error("order_no", "already used with a different payload", "reused")],
        )
    order = (
        await session.execute(select(WorkOrder).where(WorkOrder.complaint_id == existing.id))
    ).scalar_one()
    return existing, order, False


async def _complaint_by_no(session: AsyncSession, order_no: str) -> Complaint | None:
    return (
        await session.execute(select(Complaint).where(Complaint.order_no == order_no))
    ).scalar_one_or_none()


async def get_complaint(
    session: AsyncSession, principal: Principal, order_no: str
) -> tuple[Complaint, WorkOrder]:
    complaint = await _complaint_by_no(session, order_no)
    if complaint is None:
        raise NotFound(f"No complaint {order_no!r}")
    order = (
        await session.execute(select(WorkOrder).where(WorkOrder.complaint_id == complaint.id))
    ).scalar_one()
    if not _may_see(principal, order, complaint):
        raise NotFound(f"No complaint {order_no!r}")
    return complaint, order


def _sealed_citizen(values: dict[str, Any]) -> dict[str, Any]:
    """The caller's name and phone as stored: encrypted, with the phone's keyed hash."""
    ring = privacy.keyring()
    return {
        "citizen_name": ring.encrypt(values["citizen_name"], "complaint.citizen_name"),
        "citizen_phone": ring.encrypt(values["citizen_phone"], "complaint.citizen_phone"),
        "citizen_phone_hash": ring.phone_hash(values["citizen_phone"]),
    }


def _summary(text: str | None, name: str | None) -> str | None:
    """An order's summary as stored: the comment or content it was opened from, masked with
    the rater's or caller's name (the whole text stays with the rating or complaint, for the
    audited read), and sealed."""
    return privacy.keyring().seal_text(mask_text(text, (name,)), "work_order.summary")


def summary_view(order: WorkOrder) -> str | None:
    """The summary as every response shows it (masked again: rows stored before migration
    0009 were whole and in clear)."""
    try:
        return mask_text(privacy.keyring().open_text(order.summary, "work_order.summary"))
    except privacy.DataKeyError as exc:
        log.error("work order %s: summary unreadable: %s", order.id, exc)
        return "***"


def _citizen(complaint: Complaint) -> tuple[str | None, str | None]:
    ring = privacy.keyring()
    return (
        ring.decrypt(complaint.citizen_name, "complaint.citizen_name"),
        ring.decrypt(complaint.citizen_phone, "complaint.citizen_phone"),
    )


def complaint_view(complaint: Complaint) -> dict[str, Any]:
    citizen, name = None, None
    if complaint.citizen_name or complaint.citizen_phone:
        try:
            name, phone = _citizen(complaint)
            citizen = {"name": mask_name(name), "phone": mask_phone(phone)}
        except privacy.DataKeyError as exc:
            log.error("complaint %s: personal data unreadable: %s", complaint.id, exc)
            citizen = {"name": "***", "phone": "***"}
    try:
        content = privacy.keyring().open_text(complaint.content, "complaint.content")
        content = mask_text(content, (name,))
    except privacy.DataKeyError as exc:
        log.error("complaint %s: content unreadable: %s", complaint.id, exc)
        content = "***"
    return {
        "order_no": complaint.order_no,
        "department_code": complaint.department_code,
        "window_no": complaint.window_no,
        "staff_id": complaint.staff_id,
        "category": complaint.category,
        "content": content,
        "citizen": citizen,
        "received_at": complaint.received_at,
        "urgency": complaint.urgency,
    }


def complaint_personal_data(complaint: Complaint) -> dict[str, Any]:
    """The caller's name and phone, and the content whole, in clear (an admin's audited read)."""
    name, phone = _citizen(complaint)
    return {
        "order_no": complaint.order_no,
        "name": name,
        "phone": phone,
        "content": privacy.keyring().open_text(complaint.content, "complaint.content"),
        "erased_at": complaint.citizen_erased_at,
    }


# Every complaint is visited once past its time (its content is free text, whoever called):
# citizen_erased_at says that it was.
_EXPIRED_COMPLAINTS = text(
    """
    SELECT id, citizen_name, content FROM complaint
     WHERE citizen_erased_at IS NULL AND received_at < :before
     ORDER BY received_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
    """
)
_ERASE_CITIZENS = text(
    """
    UPDATE complaint c
       SET citizen_name = NULL, citizen_phone = NULL, citizen_phone_hash = NULL,
           citizen_erased_at = :now, content = e.content
      FROM unnest(CAST(:ids AS bigint[]), CAST(:contents AS text[])) AS e(id, content)
     WHERE c.id = e.id
    """
)


async def erase_citizen_data(
    session: AsyncSession, *, before: datetime, now: datetime, limit: int = 5000
) -> int:
    """Erase the caller's name and phone of up to `limit` complaints received before `before`,
    and reduce their contents to the masked form (sealed again), as the ratings' comments."""
    rows = (await session.execute(_EXPIRED_COMPLAINTS, {"before": before, "limit": limit})).all()
    if not rows:
        return 0
    ring = privacy.keyring()
    contents = []
    for row in rows:
        try:
            name = ring.decrypt(row.citizen_name, "complaint.citizen_name")
            content = mask_text(ring.open_text(row.content, "complaint.content"), (name,))
        except privacy.DataKeyError as exc:
            log.error("complaint %s: personal data unreadable, erased whole: %s", row.id, exc)
            content = "***"  # the column is NOT NULL
        contents.append(ring.seal_text(content, "complaint.content"))
    await session.execute(
        _ERASE_CITIZENS, {"ids": [r.id for r in rows], "contents": contents, "now": now}
    )
    return len(rows)


# --- who sees what -------------------------------------------------------------------------------


def _may_see(principal: Principal, order: WorkOrder, complaint: Complaint | None) -> bool:
    if principal.role == "admin":
        return True
    if principal.role == "department":
        return order.department_code == principal.department_code
    if principal.role == "hotline":
        return complaint is not None and complaint.client_id == principal.client_id
    return False


def require_order_reader(principal: Principal) -> None:
    if principal.role not in ORDER_ROLES:
        raise Forbidden(f"Role {principal.role} does not see work orders")


async def get_order(
    session: AsyncSession, principal: Principal, order_id: int, *, for_update: bool = False
) -> tuple[WorkOrder, Complaint | None]:
    """The order if this key may see it; 404 otherwise (another department's included)."""
    require_order_reader(principal)
    query = select(WorkOrder).where(WorkOrder.id == order_id)
    if for_update:
        query = query.with_for_update()
    order = (await session.execute(query)).scalar_one_or_none()
    complaint = None
    if order is not None and order.complaint_id is not None:
        complaint = await session.get(Complaint, order.complaint_id)
    if order is None or not _may_see(principal, order, complaint):
        raise NotFound(f"No work order {order_id}")
    return order, complaint


# --- views ---------------------------------------------------------------------------------------


def _facts(order: WorkOrder) -> states.Facts:
    return states.Facts(
        state=order.state,
        source=order.source,
        real_name=order.real_name,
        extended=order.extended,
        can_extend="complex" in order.policy,
        appeal_from=order.appeal_from,
        appealed_before=order.appealed_before,
        substantiated=order.substantiated,
        withdrawal_from=order.withdrawal_from,
    )


def flags(order: WorkOrder, *, now: datetime, soon_limit: datetime) -> tuple[bool, bool]:
    """(due_soon, overdue) at `now`, whatever the sweeper has recorded."""
    due = order.next_due_at
    if due is None:
        return False, False
    overdue = now > due
    return (not overdue and due <= soon_limit), overdue


def order_view(
    order: WorkOrder,
    *,
    role: str | None,
    now: datetime,
    soon_limit: datetime,
    complaint: Complaint | None = None,
) -> dict[str, Any]:
    """The order as the API shows it; allowed_actions: those a key of `role` may take now."""
    due_soon, overdue = flags(order, now=now, soon_limit=soon_limit)
    current = current_round(order, now=now)
    # What was late stays late: an earlier round's lateness is never cleared by a reopen.
    late = overdue or current["late"] or order.late_rounds > 0
    return {
        "id": order.id,
        "source": order.source,
        "state": order.state,
        "department_code": order.department_code,
        "window_no": order.window_no,
        "staff_id": order.staff_id,
        "summary": summary_view(order),
        "real_name": order.real_name,
        "tags": list(order.tags or []),
        "rating_id": order.rating_id,
        "complaint_order_no": complaint.order_no if complaint is not None else None,
        "opened_at": order.opened_at,
        "policy": order.policy,
        "deadlines": {k: datetime.fromisoformat(v) for k, v in order.deadlines.items()},
        "provisional": order.provisional,
        "current_stage": order.current_stage,
        "next_due_at": order.next_due_at.astimezone(BUSINESS_TZ) if order.next_due_at else None,
        "due_soon": due_soon,
        "overdue": overdue,
        "late": late,
        "extended": order.extended,
        "substantiated": order.substantiated,
        "callback_satisfied": order.callback_satisfied,
        "outcome": order.outcome,
        "resolved_at": order.resolved_at,
        "closed_at": order.closed_at,
        "due_soon_at": order.due_soon_at,
        "overdue_at": order.overdue_at,
        "reopen_count": order.reopen_count,
        "round": current["round"],
        "late_rounds": order.late_rounds + int(current["late"]),
        "rounds": [_round_out(r) for r in order.rounds or []] + [current],
        "withdrawal_requests": order.withdrawal_requests,
        "withdrawal_refusals": order.withdrawal_refusals,
        "allowed_actions": states.allowed_for(_facts(order), role),
    }


# --- rounds --------------------------------------------------------------------------------------


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


def _round_out(stored: dict[str, Any]) -> dict[str, Any]:
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
        "started_at": _iso(order.deadline_basis_at),
        "deadlines": dict(order.deadlines),
        "provisional": order.provisional,
        "resolve_due_at": _iso(order.resolve_due_at),
        "contacted_at": _iso(order.contacted_at) if order.contacted_at else None,
        "resolved_at": _iso(order.resolved_at) if order.resolved_at else None,
        "due_soon_at": _iso(order.due_soon_at) if order.due_soon_at else None,
        "overdue_at": _iso(order.overdue_at) if order.overdue_at else None,
        "late": late,
        "ended_at": _iso(now),
        "ended_by": ended_by,
    }
    order.rounds = [*(order.rounds or []), kept]
    order.late_rounds += int(late)
    return kept


def _event_data(order: WorkOrder) -> dict[str, Any]:
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


async def history(session: AsyncSession, order_id: int) -> list[WorkOrderEvent]:
    return list(
        (
            await session.execute(
                select(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id == order_id)
                .order_by(WorkOrderEvent.seq)
            )
        ).scalars()
    )


async def order_detail(
    session: AsyncSession,
    principal: Principal,
    order: WorkOrder,
    complaint: Complaint | None,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The order with its timeline and the rating or complaint it came from."""
    cal = await load_calendar(session)
    body = order_view(
        order,
        role=principal.role,
        now=now,
        soon_limit=cal.due_soon_limit(now),
        complaint=complaint,
    )
    body["history"] = [event_view(e) for e in await history(session, order.id)]
    body["rating_status_changes"] = [
        status_change_view(c) for c in await rating_status_changes(session, order)
    ]
    body["rating"] = None
    body["complaint"] = complaint_view(complaint) if complaint is not None else None
    if order.rating_id is not None:
        from app.ratings import service as ratings

        body["rating"] = ratings.view(
            await ratings.get_rating(session, order.rating_id),
            with_flags=ratings.sees_flags(principal),
        )
    return body


# --- a rating's fate ----------------------------------------------------------------------------


async def rating_status_changes(
    session: AsyncSession, order: WorkOrder
) -> list[RatingStatusChange]:
    if order.rating_id is None:
        return []
    query = (
        select(RatingStatusChange)
        .where(RatingStatusChange.rating_id == order.rating_id)
        .order_by(RatingStatusChange.id)
    )
    return list((await session.execute(query)).scalars())


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


async def _change_rating_status(
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
            actor_key_id=actor.key_id,
            actor_client_id=actor.client_id,
            actor_name=actor.name,
            actor_role=actor.role,
            reason=reason,
            evidence=evidence,
        )
    )


async def _last_event(session: AsyncSession, order_id: int, action: str) -> WorkOrderEvent | None:
    return (
        await session.execute(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == order_id, WorkOrderEvent.action == action)
            .order_by(WorkOrderEvent.seq.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _requester(event: WorkOrderEvent) -> dict[str, Any]:
    return {
        "requested_at": _iso(event.at),
        "requested_by": {
            "client_id": str(event.actor_client_id) if event.actor_client_id else None,
            "name": event.actor_name,
            "role": event.actor_role,
        },
        "request_note": event.note,
    }


_EVIDENCE_AT = {"callback": "called_at", "rater_request": "requested_at"}


def evidence_record(
    evidence: dict[str, Any] | None, order: WorkOrder, *, now: datetime
) -> dict[str, Any] | None:
    """The rater's confirmation as kept: its instant required by its kind, not before the
    order was opened nor in the future; 422 naming the field otherwise."""
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
    if when > now + get_settings().future_tolerance:
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
    record = {"kind": kind, field: _iso(when), "note": evidence["note"]}
    for extra in ("reference", "channel"):
        if evidence.get(extra):
            record[extra] = evidence[extra]
    return record


# --- actions -------------------------------------------------------------------------------------


async def _append(
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
            actor_key_id=actor.key_id,
            actor_client_id=actor.client_id,
            actor_name=actor.name,
            actor_role=actor.role,
            note=note,
            state_before=state_before,
            state_after=order.state,
            data=data or {},
        )
    )
    await session.flush()


async def _flag_warnings(
    session: AsyncSession, order: WorkOrder, *, now: datetime, soon_limit: datetime
) -> list[str]:
    """Record (once) that the order became due soon or overdue, with history and webhooks."""
    due_soon, overdue = flags(order, now=now, soon_limit=soon_limit)
    raised = []
    detail = (
        {"stage": order.current_stage, "due_at": _iso(order.next_due_at)}
        if (order.next_due_at)
        else {}
    )
    if overdue and order.overdue_at is None:
        order.overdue_at = now
        raised.append("overdue")
    elif due_soon and order.due_soon_at is None and order.overdue_at is None:
        order.due_soon_at = now
        raised.append("due_soon")
    for kind in raised:
        await _append(session, order, SYSTEM, kind, now=now, state_before=order.state, data=detail)
        await notify.enqueue(session, f"ticket.{kind}", [_event_data(order)], now=now)
    return raised


async def act(
    session: AsyncSession,
    principal: Principal,
    order_id: int,
    action: str,
    *,
    note: str | None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
    department_code: str | None = None,
    evidence: dict[str, Any] | None = None,
    now: datetime,
) -> tuple[WorkOrder, Complaint | None]:
    """Apply one action: check who and when, move the state, record it, notify."""
    order, complaint = await get_order(session, principal, order_id, for_update=True)
    return await _take(
        session,
        Actor.of(principal),
        order,
        complaint,
        action,
        note=note,
        substantiated=substantiated,
        satisfied=satisfied,
        department_code=department_code,
        evidence=evidence,
        now=now,
    )


async def withdraw_by_rater(
    session: AsyncSession, principal: Principal, rating_id: int, *, reason: str, now: datetime
) -> dict[str, Any]:
    """The rater's own withdrawal of a 差评, relayed by the portal it was rated on (the same
    client): the order closes as withdrawn, the request kept as the evidence."""
    from app.ratings import service as ratings

    if principal.role != "portal":
        raise Forbidden(
            "A rater's own withdrawal comes through the portal key that posted the rating; "
            + (
                states.refusal(principal.role, "withdraw", "rating")
                or "a supervisor withdraws with the rater's confirmation as evidence through "
                "POST /v1/tickets/{id}/actions"
            )
        )
    rating = await ratings.get_rating(session, rating_id)
    if rating.client_id != principal.client_id:
        raise NotFound(f"No rating {rating_id}")  # another client's: not shown to exist
    order = (
        await session.execute(
            select(WorkOrder).where(WorkOrder.rating_id == rating_id).with_for_update()
        )
    ).scalar_one_or_none()
    if order is None:
        raise RatingNotWithdrawable(
            f"Rating {rating_id} is not a 差评: only a 差评 (level 1–2) is withdrawn",
            rating_status=rating.status,
        )
    if rating.status != "valid" or order.state == "closed":
        raise RatingNotWithdrawable(
            f"Rating {rating_id} is {rating.status} and its work order {order.state}: "
            "its fate is decided",
            rating_status=rating.status,
            ticket_state=order.state,
        )
    evidence = {"kind": "rater_request", "requested_at": now, "note": reason, "channel": "portal"}
    await _take(
        session,
        Actor.of(principal),
        order,
        None,
        "withdraw",
        note=reason,
        evidence=evidence,
        now=now,
    )
    return {
        "rating_id": rating_id,
        "status": "withdrawn",
        "ticket_id": order.id,
        "withdrawn_at": now,
        "evidence": evidence_record(evidence, order, now=now),
    }


async def _take(
    session: AsyncSession,
    actor: Actor,
    order: WorkOrder,
    complaint: Complaint | None,
    action: str,
    *,
    note: str | None,
    substantiated: bool | None = None,
    satisfied: bool | None = None,
    department_code: str | None = None,
    evidence: dict[str, Any] | None = None,
    now: datetime,
) -> tuple[WorkOrder, Complaint | None]:
    """One action on a locked order by `actor` (states.ROLE_ACTIONS decides whether it may)."""
    refused = states.refusal(actor.role, action, order.source)
    if refused:
        raise Forbidden(refused)
    if evidence is not None and action not in states.NEEDS_EVIDENCE:
        message = f"{action} takes no evidence (only {', '.join(sorted(states.NEEDS_EVIDENCE))})"
        raise ValidationProblem(message, errors=[field_error("evidence", message, "extra")])
    facts = _facts(order)
    try:
        step = states.apply(
            facts,
            action,
            note=note,
            substantiated=substantiated,
            satisfied=satisfied,
            evidence=evidence,
        )
        kept_evidence = evidence_record(evidence, order, now=now)
    except states.ActionNotAllowed:
        allowed = states.allowed_for(facts, actor.role)
        raise ActionConflict(
            f"{action} is not allowed in state {order.state}; allowed: "
            f"{', '.join(allowed) or 'none'}",
            state=order.state,
            allowed_actions=allowed,
        ) from None
    except states.MissingInput as exc:
        raise ValidationProblem(exc.message, errors=[field_error(exc.field, exc.message)]) from None

    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    # Lateness is recorded before the action that comes too late.
    await _flag_warnings(session, order, now=now, soon_limit=soon_limit)

    if "extend" in step.effects and order.resolve_due_at is not None and now > order.resolve_due_at:
        raise ActionConflict(
            "The rectify deadline has passed: an extension must be asked for before it",
            state=order.state,
            allowed_actions=[a for a in states.allowed_for(facts, actor.role) if a != "extend"],
        )
    data: dict[str, Any] = {}
    if "transfer" in step.effects:
        if not department_code:
            raise ValidationProblem(
                "transfer needs the department to transfer to",
                errors=[field_error("department_code", "Field required", "missing")],
            )
        if department_code == order.department_code:
            raise ValidationProblem(
                "The order is already with this department",
                errors=[field_error("department_code", "same department", "same")],
            )
        await _active_department(session, department_code, "department_code")
        data = {"from": order.department_code, "to": department_code}
        order.department_code = department_code

    state_before = order.state
    order.state = step.state_after
    if action == "contact":
        order.contacted_at = now
    if action == "verify":
        order.substantiated = substantiated
        data["substantiated"] = substantiated
    if "extend" in step.effects:
        order.extended = True
    if "resolved" in step.effects and order.resolved_at is None:
        order.resolved_at = now
    if "appeal" in step.effects:
        order.appeal_from = state_before
        order.appealed_before = True
    if "appeal_rejected" in step.effects:
        order.appeal_from = None
    if "called_back" in step.effects:
        order.called_back_at = order.called_back_at or now
        order.callback_satisfied = satisfied
        data["satisfied"] = satisfied
    if "reopen" in step.effects:
        # Still unsatisfied: a new round, with fresh deadlines counted from the callback; the
        # round that ends is kept with its deadlines and lateness.
        data["round_ended"] = close_round(order, now=now, ended_by="callback_unsatisfied")
        order.reopen_count += 1
        order.deadline_basis_at = now
        order.substantiated = None
        order.resolved_at = None
        order.contacted_at = None
        order.due_soon_at = None
        order.overdue_at = None
        _set_deadlines(order, cal)
    if step.outcome and "close" in step.effects:
        order.outcome = step.outcome
    if "close" in step.effects:
        order.closed_at = now
    if "withdrawal_requested" in step.effects:
        order.withdrawal_from = state_before
        order.withdrawal_requests += 1
        data["evidence"] = kept_evidence
    if "withdrawal_refused" in step.effects:
        order.withdrawal_from = None
        order.withdrawal_refusals += 1
    if action == "withdraw":
        data["evidence"] = kept_evidence
    if action == "confirm_withdrawal":
        request = await _last_event(session, order.id, "request_withdrawal")
        data["evidence"] = {**request.data.get("evidence", {}), **_requester(request)}
    if action in ("confirm_withdrawal", "withdraw", "refuse_withdrawal"):
        order.withdrawal_from = None
    if "invalidate_rating" in step.effects and order.rating_id is not None:
        appeal = await _last_event(session, order.id, "appeal")
        evidence = {"kind": "appeal", "appeal_note": appeal.note, **_requester(appeal)}
        data["evidence"] = evidence
        await _change_rating_status(
            session, order, actor, action, "invalidated", now=now, reason=note, evidence=evidence
        )
    if "withdraw_rating" in step.effects and order.rating_id is not None:
        await _change_rating_status(
            session,
            order,
            actor,
            action,
            "withdrawn",
            now=now,
            reason=note or data["evidence"].get("note"),
            evidence=data["evidence"],
        )
    _refresh_due(order)
    if "reopen" in step.effects or "extend" in step.effects:
        data["deadlines"] = order.deadlines
    order.updated_at = now
    await _append(
        session,
        order,
        actor,
        action,
        now=now,
        state_before=state_before,
        note=note,
        data=data,
    )
    if "close" in step.effects:
        await notify.enqueue(session, "ticket.closed", [_event_data(order)], now=now)
        if complaint is not None:
            await notify.enqueue(
                session,
                "complaint.closed",
                [
                    {
                        "order_no": complaint.order_no,
                        "ticket_id": order.id,
                        "outcome": order.outcome,
                        "closed_at": now,
                        "note": note,
                    }
                ],
                now=now,
            )
    return order, complaint


# --- the queue -----------------------------------------------------------------------------------


@dataclass(slots=True)
class OrderFilter:
    department_code: str | None = None
    state: list[str] | None = None
    source: str | None = None
    overdue: bool | None = None
    due_soon: bool | None = None
    due_before: datetime | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    hotline_client_id: uuid.UUID | None = None


SORTS = ("deadline", "newest")
_FAR = datetime(9999, 1, 1, tzinfo=BUSINESS_TZ)


def _decode(cursor: str, sort: str) -> tuple[datetime, int]:
    def order_key(fields: list[str]) -> tuple[datetime, int]:
        kind, stamp, order_id = fields
        key = datetime.fromisoformat(stamp)
        if kind != sort or key.tzinfo is None:
            raise ValueError(kind)
        return key, row_id(order_id)

    return decode_cursor(cursor, order_key, message="not a cursor this API returned for this sort")


def visible_filter(principal: Principal, filters: OrderFilter) -> OrderFilter:
    """Narrow the filter to what the key may see (asking for another department is 403)."""
    require_order_reader(principal)
    if principal.role == "department":
        if filters.department_code not in (None, principal.department_code):
            raise Forbidden("A department key sees its own department's orders only")
        filters.department_code = principal.department_code
    if principal.role == "hotline":
        filters.hotline_client_id = principal.client_id
        filters.source = filters.source or "complaint"
    return filters


def _where(filters: OrderFilter, *, now: datetime, soon_limit: datetime) -> list[Any]:
    conditions: list[Any] = []
    if filters.department_code:
        conditions.append(WorkOrder.department_code == filters.department_code)
    if filters.state:
        conditions.append(WorkOrder.state.in_(filters.state))
    if filters.source:
        conditions.append(WorkOrder.source == filters.source)
    if filters.overdue is True:
        conditions.append(WorkOrder.next_due_at < now)
    elif filters.overdue is False:
        conditions.append(or_(WorkOrder.next_due_at.is_(None), WorkOrder.next_due_at >= now))
    if filters.due_soon is not None:
        soon = and_(WorkOrder.next_due_at >= now, WorkOrder.next_due_at <= soon_limit)
        conditions.append(soon if filters.due_soon else ~func.coalesce(soon, False))
    if filters.due_before:
        conditions.append(WorkOrder.next_due_at < filters.due_before)
    if filters.opened_from:
        conditions.append(WorkOrder.opened_at >= filters.opened_from)
    if filters.opened_to:
        conditions.append(WorkOrder.opened_at < filters.opened_to)
    if filters.hotline_client_id:
        conditions.append(
            WorkOrder.complaint_id.in_(
                select(Complaint.id).where(Complaint.client_id == filters.hotline_client_id)
            )
        )
    return conditions


async def list_orders(
    session: AsyncSession,
    filters: OrderFilter,
    *,
    sort: str,
    limit: int,
    cursor: str | None,
    now: datetime,
    role: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The queue: nearest deadline first (orders without one last), or newest first; each
    order's allowed_actions are those a key of `role` may take."""
    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    query = select(WorkOrder).where(*_where(filters, now=now, soon_limit=soon_limit))
    if sort == "deadline":
        key = func.coalesce(WorkOrder.next_due_at, _FAR)
        if cursor:
            after, after_id = _decode(cursor, sort)
            query = query.where(or_(key > after, and_(key == after, WorkOrder.id > after_id)))
        query = query.order_by(key, WorkOrder.id)
    else:
        if cursor:
            after, after_id = _decode(cursor, sort)
            query = query.where(
                or_(
                    WorkOrder.opened_at < after,
                    and_(WorkOrder.opened_at == after, WorkOrder.id < after_id),
                )
            )
        query = query.order_by(WorkOrder.opened_at.desc(), WorkOrder.id.desc())
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        stamp = (last.next_due_at or _FAR) if sort == "deadline" else last.opened_at
        next_cursor = encode_cursor(sort, stamp, last.id)
    complaints = {}
    ids = [o.complaint_id for o in rows if o.complaint_id is not None]
    if ids:
        complaints = {
            c.id: c
            for c in (
                await session.execute(select(Complaint).where(Complaint.id.in_(ids)))
            ).scalars()
        }
    items = [
        order_view(
            o, role=role, now=now, soon_limit=soon_limit, complaint=complaints.get(o.complaint_id)
        )
        for o in rows
    ]
    return items, next_cursor


async def counts(session: AsyncSession, filters: OrderFilter, *, now: datetime) -> dict[str, Any]:
    """How many orders by state, and how many due soon and overdue now (for readers too)."""
    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    conditions = _where(filters, now=now, soon_limit=soon_limit)
    rows = await session.execute(
        select(WorkOrder.state, func.count()).where(*conditions).group_by(WorkOrder.state)
    )
    by_state = {state: 0 for state in states.STATES}
    by_state.update({state: n for state, n in rows.all()})
    row = (
        await session.execute(
            select(
                func.count().filter(WorkOrder.next_due_at < now),
                func.count().filter(
                    WorkOrder.next_due_at >= now, WorkOrder.next_due_at <= soon_limit
                ),
            ).where(*conditions)
        )
    ).one()
    return {
        "total": sum(by_state.values()),
        "by_state": by_state,
        "overdue": row[0],
        "due_soon": row[1],
    }


# --- the sweeper ---------------------------------------------------------------------------------


async def sweep(session: AsyncSession, *, now: datetime, batch_size: int = 200) -> dict[str, int]:
    """Record the first due-soon and overdue moments of one batch of orders (SKIP LOCKED).

    Safe with any number of processes: each row is taken by one sweeper, and a recorded
    warning is never given twice. Returns how many of each were raised."""
    cal = await load_calendar(session)
    soon_limit = cal.due_soon_limit(now)
    candidates = list(
        (
            await session.execute(
                select(WorkOrder)
                .where(
                    WorkOrder.next_due_at.is_not(None),
                    WorkOrder.overdue_at.is_(None),
                    or_(
                        WorkOrder.next_due_at < now,
                        and_(WorkOrder.due_soon_at.is_(None), WorkOrder.next_due_at <= soon_limit),
                    ),
                )
                .order_by(WorkOrder.next_due_at, WorkOrder.id)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            )
        ).scalars()
    )
    raised = {"due_soon": 0, "overdue": 0, "seen": 0}
    for order in candidates:
        raised["seen"] += 1
        for kind in await _flag_warnings(session, order, now=now, soon_limit=soon_limit):
            raised[kind] += 1
    return raised


async def sweep_all(sessionmaker, *, now: datetime, batch_size: int = 200) -> dict[str, int]:
    """Sweep in committed batches until nothing is left (the job's entry point)."""
    total = {"due_soon": 0, "overdue": 0, "seen": 0}
    while True:
        async with sessionmaker() as session, session.begin():
            done = await sweep(session, now=now, batch_size=batch_size)
        for k, v in done.items():
            total[k] += v
        if done["seen"] < batch_size:
            return total


# --- the calendar --------------------------------------------------------------------------------


def calendar_view(year: int, entered: CalendarYear | None) -> dict[str, Any]:
    if entered is not None:
        return {
            "year": year,
            "source": "entered",
            "provisional": False,
            "holidays": sorted(entered.holidays),
            "workdays": sorted(entered.workdays),
            "note": entered.note,
            "updated_at": entered.updated_at,
        }
    arrangement = package_arrangement(year)
    if arrangement is not None:
        return {
            "year": year,
            "source": "package",
            "provisional": False,
            "holidays": sorted(arrangement.holidays),
            "workdays": sorted(arrangement.workdays),
            "note": None,
            "updated_at": None,
        }
    return {
        "year": year,
        "source": "none",
        "provisional": True,
        "holidays": [],
        "workdays": [],
        "note": "Not published yet: deadlines in this year count Monday to Friday, provisionally",
        "updated_at": None,
    }


async def get_calendar_year(session: AsyncSession, year: int) -> dict[str, Any]:
    return calendar_view(year, await session.get(CalendarYear, year))


async def put_calendar_year(
    session: AsyncSession,
    principal: Principal,
    year: int,
    *,
    holidays: list[date],
    workdays: list[date],
    note: str | None,
    now: datetime,
) -> tuple[dict[str, Any], int]:
    """Enter a year's arrangement; recompute the open orders whose deadlines were provisional."""
    try:
        YearArrangement(year, frozenset(holidays), frozenset(workdays))
    except ValueError as exc:
        raise ValidationProblem(str(exc), errors=[field_error("holidays", str(exc))]) from None
    await session.execute(
        text(
            """
            INSERT INTO calendar_year (year, holidays, workdays, note, updated_at, updated_by)
            VALUES (:year, :holidays, :workdays, :note, :now, :by)
            ON CONFLICT (year) DO UPDATE SET holidays = EXCLUDED.holidays,
                workdays = EXCLUDED.workdays, note = EXCLUDED.note,
                updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
            """
        ),
        {
            "year": year,
            "holidays": sorted(set(holidays)),
            "workdays": sorted(set(workdays)),
            "note": note,
            "now": now,
            "by": principal.client_id,
        },
    )
    session.expire_all()
    recomputed = await recompute_provisional(session, Actor.of(principal), now=now)
    return await get_calendar_year(session, year), recomputed


async def recompute_provisional(session: AsyncSession, actor: Actor, *, now: datetime) -> int:
    """Recount the deadlines of open orders that were provisional (closed orders keep theirs)."""
    cal = await load_calendar(session)
    orders = list(
        (
            await session.execute(
                select(WorkOrder)
                .where(WorkOrder.provisional, WorkOrder.state != "closed")
                .order_by(WorkOrder.id)
                .with_for_update()
            )
        ).scalars()
    )
    changed = 0
    for order in orders:
        before = dict(order.deadlines)
        _set_deadlines(order, cal)
        changed += 1
        await _append(
            session,
            order,
            actor,
            "recompute_deadlines",
            now=now,
            state_before=order.state,
            note="the calendar of a year was entered",
            data={"before": before, "after": order.deadlines, "provisional": order.provisional},
        )
    return changed


# --- figures -------------------------------------------------------------------------------------


async def figures(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    by_department: bool = False,
) -> dict[str, Any]:
    """Raw counts of the orders opened in [start, end), per source (rating, complaint,
    inspection): {source: counts}, or {department_code: {source: counts}} (sources without
    orders left out there). The rates are the statistics' to compute and round.

    Counts: opened; withdrawn and appeal_upheld (reported apart); who asked for what
    (withdrawal_requested, withdrawal_refused: orders with a department's withdrawal request,
    with one refused; appealed, appeal_rejected); counted (the others, the set every rate below
    is taken on); closed (counted and closed); deadline_due (counted, whose deadline in force
    has passed at `now`, that are closed, or that had a late round) and on_time (of those,
    resolved by that deadline in every round: a late round stays late); overdue_now;
    real_name and real_name_called_back."""
    excluded = WorkOrder.outcome.in_(("withdrawn", "appeal_upheld"))
    counted = or_(WorkOrder.outcome.is_(None), ~excluded)
    closed = WorkOrder.state == "closed"
    late_before = WorkOrder.late_rounds > 0
    due = and_(counted, or_(WorkOrder.resolve_due_at < now, closed, late_before))
    upheld = WorkOrder.outcome == "appeal_upheld"
    columns = {
        "opened": func.count(),
        "withdrawn": func.count().filter(WorkOrder.outcome == "withdrawn"),
        "withdrawal_requested": func.count().filter(WorkOrder.withdrawal_requests > 0),
        "withdrawal_refused": func.count().filter(WorkOrder.withdrawal_refusals > 0),
        "appealed": func.count().filter(WorkOrder.appealed_before),
        "appeal_upheld": func.count().filter(upheld),
        "appeal_rejected": func.count().filter(
            WorkOrder.appealed_before,
            WorkOrder.state != "appealed",
            or_(WorkOrder.outcome.is_(None), ~upheld),
        ),
        "counted": func.count().filter(counted),
        "closed": func.count().filter(counted, closed),
        "deadline_due": func.count().filter(due),
        "on_time": func.count().filter(
            due,
            ~late_before,
            WorkOrder.resolved_at.is_not(None),
            WorkOrder.resolved_at <= WorkOrder.resolve_due_at,
        ),
        "overdue_now": func.count().filter(counted, WorkOrder.next_due_at < now),
        "real_name": func.count().filter(counted, WorkOrder.real_name),
        "real_name_called_back": func.count().filter(
            counted, WorkOrder.real_name, WorkOrder.called_back_at.is_not(None)
        ),
    }
    names = list(columns)
    keys = (WorkOrder.department_code, WorkOrder.source) if by_department else (WorkOrder.source,)
    query = (
        select(*keys, *columns.values())
        .where(WorkOrder.opened_at >= start, WorkOrder.opened_at < end)
        .group_by(*keys)
    )
    rows = await session.execute(query)
    if not by_department:
        totals = {source: dict.fromkeys(names, 0) for source in states.SOURCES}
        for source, *values in rows:
            totals[source] = dict(zip(names, values, strict=True))
        return totals
    out: dict[str, dict[str, Any]] = {}
    for code, source, *values in rows:
        out.setdefault(code, {})[source] = dict(zip(names, values, strict=True))
    return out
