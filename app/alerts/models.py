"""Alert rules and their alerts: one row per episode, unique while it is open."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

KINDS = ("window_bad_burst", "department_good_rate", "device_silent", "order_due_soon")
SUBJECT_TYPES = ("window", "department", "device", "order")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class AlertRule(Base):
    """What a supervisor asks to be warned of: a kind, its scope and its typed parameters."""

    __tablename__ = "alert_rule"
    __table_args__ = (CheckConstraint(_in("kind", KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    # The scope: one department, or the whole centre (NULL).
    department_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("department.code"))
    # The kind's parameters (app/alerts/schemas.py validates them per kind).
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Alert(Base):
    """One episode of a rule's condition on one subject: raised once, cleared once."""

    __tablename__ = "alert"
    __table_args__ = (
        CheckConstraint(_in("subject_type", SUBJECT_TYPES), name="subject_type"),
        # Two evaluation rounds cannot open the same episode twice.
        Index(
            "uq_alert_open_episode",
            "rule_id",
            "subject_key",
            unique=True,
            postgresql_where=text("cleared_at IS NULL"),
        ),
        Index("ix_alert_department_id", "department_code", "id"),
        Index("ix_alert_unacknowledged_id", "id", postgresql_where=text("acknowledged_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # Kept when the rule is deleted (its open episodes are cleared then).
    rule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("alert_rule.id", ondelete="SET NULL")
    )
    rule_name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    subject_type: Mapped[str] = mapped_column(String(20))
    # "SJ/A01" for a window, "SJ" for a department, the device's id, the order's id.
    subject_key: Mapped[str] = mapped_column(String(200))
    department_code: Mapped[str | None] = mapped_column(String(64))
    window_no: Mapped[str | None] = mapped_column(String(32))
    # What the condition was when the episode began (counts, rate, threshold, ...).
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    acknowledged_by_client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(200))
    acknowledged_by_role: Mapped[str | None] = mapped_column(String(20))
    ack_note: Mapped[str | None] = mapped_column(Text)
