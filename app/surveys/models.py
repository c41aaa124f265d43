"""Satisfaction surveys (满意度测评): a task list of samples and what each attempt found."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

SURVEY_CHANNELS = ("phone_callback", "onsite_survey")
FRAMES = ("cases", "ratings", "none")
ITEM_STATES = ("pending", "rated", "invalid")
# 无效样本: 无人接听/无法接通, 拒绝回访, 号码错误, 非办事人本人, 其他
INVALID_REASONS = ("unreachable", "refused", "wrong_number", "not_applicant", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Survey(Base):
    """A phone-callback (电话回访) or on-site (现场拦访) survey of one period."""

    __tablename__ = "survey"
    __table_args__ = (
        CheckConstraint(_in("channel", SURVEY_CHANNELS), name="channel"),
        CheckConstraint(_in("frame", FRAMES), name="frame"),
        Index("ix_survey_period", "period_start_at", "period_end_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    # What the samples were drawn from: the period's cases, its real-name ratings, or nothing
    # (samples are added as the surveyors meet people, e.g. on-site interviews).
    frame: Mapped[str] = mapped_column(String(10))
    period_label: Mapped[str] = mapped_column(String(40))
    period_start_at: Mapped[datetime]
    period_end_at: Mapped[datetime]
    seed: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    share: Mapped[float | None] = mapped_column(Numeric(5, 2))
    frame_size: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("client.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SurveyItem(Base):
    """One sample: drawn (pending until attempted) or added with its attempt."""

    __tablename__ = "survey_item"
    __table_args__ = (
        UniqueConstraint("survey_id", "sample_no"),
        CheckConstraint(_in("state", ITEM_STATES), name="state"),
        CheckConstraint(
            f"(state = 'invalid') = (invalid_reason IS NOT NULL) "
            f"AND (invalid_reason IS NULL OR {_in('invalid_reason', INVALID_REASONS)})",
            name="invalid_reason",
        ),
        CheckConstraint("(state = 'rated') = (rating_id IS NOT NULL)", name="rating"),
        Index("ix_survey_item_survey_state", "survey_id", "state", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    sample_no: Mapped[str] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(Integer)
    department_code: Mapped[str] = mapped_column(String(64), ForeignKey("department.code"))
    window_no: Mapped[str | None] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    case_no: Mapped[str | None] = mapped_column(String(64))
    service_item_code: Mapped[str | None] = mapped_column(String(64))
    service_item_name: Mapped[str | None] = mapped_column(String(200))
    # The real-name rating drawn (frame ratings): its rater is the one to call back.
    source_rating_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10))
    invalid_reason: Mapped[str | None] = mapped_column(String(20))
    # The rating the attempt gave (channel phone_callback or onsite_survey).
    rating_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rating.id"))
    surveyor: Mapped[str | None] = mapped_column(String(100))
    attempted_at: Mapped[datetime | None]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("client.id")
    )
    # SHA-256 of the attempt as recorded: the same attempt sent again is a duplicate.
    attempt_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
