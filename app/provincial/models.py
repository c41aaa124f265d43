"""Provincial push targets and the push log: one row per document for one target."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

CREDENTIALS_CONTEXT = "push_target.credentials"
PUSH_KINDS = ("rating", "rectification")


class PushTarget(Base):
    """A provincial platform that takes our ratings and rectification results (对接推送)."""

    __tablename__ = "push_target"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    profile: Mapped[str] = mapped_column(String(64))
    # Headers sent with every push (an app key, a token), as JSON sealed like personal data.
    credentials: Mapped[str | None] = mapped_column(Text)
    area_code: Mapped[str | None] = mapped_column(String(12))
    events: Mapped[list[str]] = mapped_column(ARRAY(Text))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # The highest rating id queued for this target: the feeder reads past it (no ingest cost).
    rating_cursor: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Work orders closed after this instant are still to be queued.
    rectification_since: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PushItem(Base):
    """One document (a rating, a rectification result) for one target: the push log's line."""

    __tablename__ = "push_item"
    __table_args__ = (
        CheckConstraint("kind IN ('rating', 'rectification')", name="kind"),
        UniqueConstraint("target_id", "kind", "ref_id", "ref_at"),
        Index(
            "ix_push_item_pending",
            "next_attempt_at",
            "id",
            postgresql_where=text("acknowledged_at IS NULL AND failed_at IS NULL"),
        ),
        Index("ix_push_item_target_ref_at", "target_id", "ref_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("push_target.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(20))
    # The rating's or work order's id, and its rated_at or closed_at (a reopened order that
    # closes again is a new result).
    ref_id: Mapped[int] = mapped_column(BigInteger)
    ref_at: Mapped[datetime]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    repushes: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    # The target's own code(s) from its answer, as the profile reads them ("status.code=200").
    last_answer_code: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
