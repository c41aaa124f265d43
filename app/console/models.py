"""The console's sign-in sessions: one row per session, its id kept only as a hash."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class ConsoleSession(Base):
    """A person signed in with their key: the key itself is never stored, here or in the
    browser (the browser holds a random session id; this row its SHA-256)."""

    __tablename__ = "console_session"

    id_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    key_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("api_key.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str | None] = mapped_column(Text)
    csrf_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
