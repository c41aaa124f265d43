"""Enrolments of tablets, the staff on duty at a device, and rating links (QR codes)."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class DeviceEnrolment(Base):
    """A one-time enrolment link: its token's SHA-256 only; redeemed once, before expires_at."""

    __tablename__ = "device_enrolment"
    __table_args__ = (Index("ix_device_enrolment_device_id", "device_id"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    redeemed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The key handed to the page on redemption (revoked when the device is enrolled again).
    key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)


class DeviceSession(Base):
    """Who is on duty at a device (工号), and the case (办件编号) being handled, if any."""

    __tablename__ = "device_session"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), primary_key=True)
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    set_by: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RatingLink(Base):
    """What a QR code or a receipt link lets its holder do: post a rating for one window, or
    for one case. The token is stored as its SHA-256; a window's token also sealed (the data
    key, context `rating_link.token`) so that its QR code can be drawn again."""

    __tablename__ = "rating_link"
    __table_args__ = (
        CheckConstraint("kind IN ('window', 'case')", name="kind"),
        CheckConstraint("(kind = 'case') = (case_no IS NOT NULL)", name="case_bound"),
        # One live token per window (rotation revokes the old one).
        Index(
            "uq_rating_link_window",
            "department_code",
            "window_no",
            unique=True,
            postgresql_where=text("kind = 'window' AND revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    token_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(10))
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str | None] = mapped_column(String(32), nullable=True)
    case_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
