"""The audit log: append-only (a trigger refuses UPDATE and DELETE; see migration 0005)."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class AuditEntry(Base):
    """Who did what to which record, when, with what result, in which request."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Append-only, in time order: a BRIN index costs the writes almost nothing.
        Index("ix_audit_log_at", "at", postgresql_using="brin"),
        Index("ix_audit_log_actor_client_id_id", "actor_client_id", "id"),
        Index("ix_audit_log_target_id", "target", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    actor_client_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # "<role>:<client name>", or "system:<job>" / "cli:<command>" outside requests.
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
