"""Departments, their service windows, and the tablet evaluators at the windows."""

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

# 行政区划代码 (GB/T 2260, 6 digits; extended to 9 or 12 for townships and villages)
REGION_CODE_PATTERN = r"^[0-9]{6,12}$"


class Department(Base):
    __tablename__ = "department"
    __table_args__ = (
        CheckConstraint("region_code IS NULL OR region_code ~ '^[0-9]{6,12}$'", name="region_code"),
        Index("ix_department_region_code", "region_code"),
    )

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("department.code"), nullable=True
    )
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ServiceWindow(Base):
    """A 窗口 of a department in the hall, known by its number (e.g. "A12")."""

    __tablename__ = "service_window"
    __table_args__ = (UniqueConstraint("department_code", "window_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Device(Base):
    """A tablet evaluator (评价器) at one window; it posts with its own client's keys."""

    __tablename__ = "device"
    __table_args__ = (
        ForeignKeyConstraint(
            ["department_code", "window_no"],
            ["service_window.department_code", "service_window.window_no"],
            name="fk_device_window",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    serial_no: Mapped[str] = mapped_column(String(64), unique=True)
    department_code: Mapped[str] = mapped_column(String(64))
    window_no: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id"), unique=True)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Staff(Base):
    """A staff member (工作人员) known by the 工号 the ratings carry; tables show the name."""

    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    department_code: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("department.code"), nullable=True
    )
    window_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StaffPhoto(Base):
    """A registered staff member's photo (the tablet shows it); `token` names it in the URL the
    tablet page loads, a new one per upload."""

    __tablename__ = "staff_photo"

    staff_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("staff.staff_id"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(20))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    updated_at: Mapped[datetime] = mapped_column()
