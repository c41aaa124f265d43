"""Aggregates of ratings: counts per calendar bucket, kept exact behind a roll-up watermark.

Each rollup table holds, for every grain (y year, q quarter, m month, d day; buckets start on
their first local day in Asia/Shanghai), the number of ratings per combination of its dimensions
and current status. Ratings with id <= `rating_rollup_watermark.rolled_to` are counted here;
readers add the raw ratings above the watermark (the tail) in the same statement.
Absent window or staff is stored as '' (part of the key).
"""

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, SmallInteger, String, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

_GRAIN = "grain IN ('y', 'q', 'm', 'd')"


class RatingRollupWatermark(Base):
    """One row: every rating with id <= rolled_to is in the rollups (and no other)."""

    __tablename__ = "rating_rollup_watermark"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    rolled_to: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # Changes when the row is recreated (e.g. after a truncation): a roll-up planned against
    # an older epoch is dropped.
    epoch: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), server_default=text("gen_random_uuid()")
    )
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RatingRollup(Base):
    """Ratings per bucket, department, channel, rater type, status and level."""

    __tablename__ = "rating_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    rater_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RatingDepartmentRollup(Base):
    """Ratings per bucket, department, status and level (the department table, unfiltered)."""

    __tablename__ = "rating_department_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RatingSplitRollup(Base):
    """Ratings per bucket, channel, rater type, status and level (the centre's splits)."""

    __tablename__ = "rating_split_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    rater_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RatingStaffRollup(Base):
    """Ratings per department, bucket, window, staff member (工号), status and level."""

    __tablename__ = "rating_staff_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        # the centre-wide window and staff tables read one period's buckets, every department
        Index("ix_rating_staff_rollup_bucket", "grain", "bucket"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    window_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RatingTagRollup(Base):
    """Tag (reason) counts per bucket, department, channel, rater type, status, 差评 or not."""

    __tablename__ = "rating_tag_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    rater_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    is_bad: Mapped[bool] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RatingStaffTagRollup(Base):
    """Tag counts per department, bucket, window, staff member and status (praise per person)."""

    __tablename__ = "rating_staff_tag_rollup"
    __table_args__ = (
        CheckConstraint(_GRAIN, name="grain"),
        Index("ix_rating_staff_tag_rollup_bucket", "grain", "bucket"),
        {"postgresql_with": {"fillfactor": 80}},
    )

    department_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    bucket: Mapped[date] = mapped_column(Date, primary_key=True)
    window_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
