"""Work orders (整改工单), their immutable history, 12345 complaints, entered calendar years."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.workorders.categories import COMPLAINT_SOURCES
from app.workorders.states import OUTCOMES, SOURCES, STATES


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CalendarYear(Base):
    """A year's holiday arrangement entered by an administrator; it overrides the package."""

    __tablename__ = "calendar_year"
    __table_args__ = (CheckConstraint("year BETWEEN 2000 AND 2100", name="year"),)

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), server_default=text("'{}'"))
    workdays: Mapped[list[date]] = mapped_column(ARRAY(Date), server_default=text("'{}'"))
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Complaint(Base):
    """A 12345 hotline complaint about a service window, stored once per order number."""

    __tablename__ = "complaint"
    __table_args__ = (
        CheckConstraint("urgency IN ('normal', 'urgent')", name="urgency"),
        CheckConstraint(_in("source", COMPLAINT_SOURCES), name="source"),
        Index("ix_complaint_client_id", "client_id"),
        Index("ix_complaint_received_at", "received_at"),
        Index(
            "ix_complaint_citizen_phone_hash",
            "citizen_phone_hash",
            postgresql_where=text("citizen_phone_hash IS NOT NULL"),
        ),
        # The retention job visits each complaint once past its time (citizen_erased_at).
        Index(
            "ix_complaint_retention_received_at",
            "received_at",
            postgresql_where=text("citizen_erased_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("client.id"))
    payload_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str | None] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(100))
    # Where it came in (12345 unless said otherwise) and its reason class (the rating tags').
    source: Mapped[str] = mapped_column(String(20), server_default=text("'hotline_12345'"))
    category_code: Mapped[str | None] = mapped_column(String(32))
    # Encrypted, as the caller's name and phone (free text may hold either).
    content: Mapped[str] = mapped_column(Text)
    # Encrypted (app/privacy.py envelopes); the phone's keyed hash serves exact lookups.
    citizen_name: Mapped[str | None] = mapped_column(Text)
    citizen_phone: Mapped[str | None] = mapped_column(Text)
    citizen_phone_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Set when the retention job erased the caller's name and phone and reduced the content to
    # its masked form (the complaint stays).
    citizen_erased_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    urgency: Mapped[str] = mapped_column(String(10), server_default=text("'normal'"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WorkOrder(Base):
    __tablename__ = "work_order"
    __table_args__ = (
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint(_in("state", STATES), name="state"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint(
            "(source = 'rating') = (rating_id IS NOT NULL) "
            "AND (source = 'complaint') = (complaint_id IS NOT NULL)",
            name="source_link",
        ),
        Index("ix_work_order_department_next_due", "department_code", "next_due_at", "id"),
        Index("ix_work_order_next_due_at", "next_due_at", "id"),
        Index("ix_work_order_opened_at", "opened_at"),
        # The open orders' counts (the console's dashboard and desk, on every page).
        Index(
            "ix_work_order_open",
            "department_code",
            "state",
            postgresql_where=text("state <> 'closed'"),
        ),
        # The sweeper's candidates: orders with a pending deadline and a warning still to give.
        Index(
            "ix_work_order_sweep",
            "next_due_at",
            postgresql_where=text("next_due_at IS NOT NULL AND overdue_at IS NULL"),
        ),
        Index(
            "ix_work_order_provisional",
            "id",
            postgresql_where=text("provisional AND state <> 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    rating_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rating.id"), unique=True)
    complaint_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("complaint.id"), unique=True
    )
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str | None] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    # The comment or content the order was opened from, masked, then sealed (an envelope).
    summary: Mapped[str | None] = mapped_column(Text)
    real_name: Mapped[bool]
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    state: Mapped[str] = mapped_column(String(20), server_default=text("'open'"))
    substantiated: Mapped[bool | None]
    extended: Mapped[bool] = mapped_column(server_default=text("false"))
    appeal_from: Mapped[str | None] = mapped_column(String(20))
    appealed_before: Mapped[bool] = mapped_column(server_default=text("false"))
    outcome: Mapped[str | None] = mapped_column(String(30))
    # When the order was received (a historical import: when it was rated) and counted from.
    opened_at: Mapped[datetime]
    deadline_basis_at: Mapped[datetime]
    # The policy in force when the order was opened: {"contact": 3, "rectify": 5, ...}.
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Each stage's deadline (ISO 8601), and whether an unknown year entered the count.
    deadlines: Mapped[dict[str, Any]] = mapped_column(JSONB)
    provisional: Mapped[bool] = mapped_column(server_default=text("false"))
    current_stage: Mapped[str | None] = mapped_column(String(20))
    next_due_at: Mapped[datetime | None]
    # The rectification deadline in force (rectify, or complex once extended): 按期整改.
    resolve_due_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    contacted_at: Mapped[datetime | None]
    called_back_at: Mapped[datetime | None]
    callback_satisfied: Mapped[bool | None]
    closed_at: Mapped[datetime | None]
    # First moments the order was seen due soon and overdue (by the sweeper or an action).
    due_soon_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # Earlier rounds (a reopen starts a new one), each with its deadlines and lateness, kept:
    # [{"round", "started_at", "deadlines", "resolve_due_at", "resolved_at", "overdue_at",
    #   "late", "ended_at", ...}]; late_rounds counts the late ones (按期整改 stays lost).
    rounds: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'"))
    late_rounds: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # A withdrawal asked for by the department, waiting for a supervisor (the state before it).
    withdrawal_from: Mapped[str | None] = mapped_column(String(20))
    withdrawal_requests: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    withdrawal_refusals: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WorkOrderEvent(Base):
    """One step in an order's timeline: never updated or deleted (a trigger refuses it)."""

    __tablename__ = "work_order_event"
    __table_args__ = (UniqueConstraint("work_order_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("work_order.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    # Who: the API key and its client; NULL for the system (opening, the sweeper).
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    state_before: Mapped[str | None] = mapped_column(String(20))
    state_after: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))


class RatingStatusChange(Base):
    """A change of a rating's status (withdrawn, invalidated on appeal, restored): who, when,
    why and on what evidence. Never updated or deleted (a trigger refuses it)."""

    __tablename__ = "rating_status_change"
    __table_args__ = (Index("ix_rating_status_change_rating_id", "rating_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rating_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("rating.id"))
    work_order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("work_order.id"))
    status_before: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(30))
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    # The rater's confirmation (callback record or own request), or the appeal decided.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
