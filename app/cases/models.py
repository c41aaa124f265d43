"""The case ledger (办件台账): one row per case, and its per-day tallies for the figures."""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

DIMENSIONS = ("department", "window", "staff", "item")


class ServiceCase(Base):
    """A case (办件) as the business systems hand it over, known by its 办件编号.

    A case belongs to the period of its accepted time (受理时间, Asia/Shanghai)."""

    __tablename__ = "service_case"
    __table_args__ = (
        CheckConstraint("finished_at IS NULL OR finished_at >= accepted_at", name="finished"),
        CheckConstraint("rating_count >= 0", name="rating_count"),
        Index("ix_service_case_department_accepted_at", "department_code", "accepted_at"),
        Index("ix_service_case_accepted_at", "accepted_at"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(64), unique=True)
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str | None] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    service_item_code: Mapped[str | None] = mapped_column(String(64))
    service_item_name: Mapped[str | None] = mapped_column(String(200))
    accepted_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    # 按时办结: true finished within the promised time, false late, null not (yet) known.
    on_time: Mapped[bool | None]
    # Counted applicant ratings naming this case (status valid; survey channels apart), kept
    # by the ratings' hooks: the case is rated (主动评价) when this is above 0.
    rating_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    imported_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CaseDay(Base):
    """Cases per local accepted month (grain m) and day (grain d), department and one
    dimension's key (window, staff member, service item; '' when absent, and '' for the
    department's own line): what the figures sum — a period's whole months from the month
    rows, its other days from the day rows — so that a year reads a few thousand rows, not
    every case."""

    __tablename__ = "case_day"
    __table_args__ = (
        CheckConstraint("dimension IN ('department', 'window', 'staff', 'item')", name="dimension"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    dimension: Mapped[str] = mapped_column(String(12), primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    # The month's first day (grain m) or the day (grain d), local (Asia/Shanghai).
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The service item's name (for dimension item): the latest one imported.
    label: Mapped[str | None] = mapped_column(String(200))
    cases: Mapped[int] = mapped_column(BigInteger)
    finished: Mapped[int] = mapped_column(BigInteger)
    on_time: Mapped[int] = mapped_column(BigInteger)
    rated: Mapped[int] = mapped_column(BigInteger)
