"""Clients (devices and named systems) and their API keys."""

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Client(Base):
    """Who holds keys: a device or a named system. Event ids are unique per client."""

    __tablename__ = "client"
    __table_args__ = (
        CheckConstraint(
            "role IN ('admin', 'device', 'portal', 'hotline', 'department', 'reader')", name="role"
        ),
        CheckConstraint(
            "(role = 'department') = (department_code IS NOT NULL)", name="department_bound"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("department.code"), nullable=True
    )
    # Refuse requests that are not signed (app/auth/signing.py). Devices start with it on.
    require_signature: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """A key is shown once; only its SHA-256 is stored (keys are 256-bit random, no KDF needed)."""

    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_client_id", "client_id"),)

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("client.id"))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class RequestNonce(Base):
    """A nonce spent by a signed request, kept until its timestamp is too old to be accepted."""

    __tablename__ = "request_nonce"
    __table_args__ = (
        PrimaryKeyConstraint("key_id", "nonce"),
        Index("ix_request_nonce_expires_at", "expires_at"),
    )

    key_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
