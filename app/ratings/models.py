"""Rating events, one row per accepted event, unique per (client, event_id) for good."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    Index,
    LargeBinary,
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

CHANNELS = (
    "window_device",
    "pc",
    "mobile",
    "self_service",
    "qr_code",
    "sms",
    "hotline",
    "phone_callback",
    "onsite_survey",
)
RATER_TYPES = ("individual", "enterprise", "anonymous")
# valid: counted; withdrawn: the rater withdrew the 差评; invalidated: an appeal was upheld.
RATING_STATUSES = ("valid", "withdrawn", "invalidated")


def _in(column: str, values: tuple[str, ...]) -> str:
    # One constant array: PostgreSQL reads a CHECK back from text on every INSERT statement, and
    # `IN ('a', 'b')` is stored as an array of one cast constant per value (migration 0019).
    return f"{column}::text = ANY ('{{{','.join(values)}}}'::text[])"


class Rating(Base):
    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("client_id", "event_id"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level"),
        CheckConstraint("assess_number IN (1, 2)", name="assess_number"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("rater_type", RATER_TYPES), name="rater_type"),
        CheckConstraint(_in("status", RATING_STATUSES), name="status"),
        Index("ix_rating_rated_at_id", "rated_at", "id"),
        Index("ix_rating_department_rated_at_id", "department_code", "rated_at", "id"),
        # Flagged ratings are few: GET /v1/ratings?flagged=true and the flagged counts.
        Index(
            "ix_rating_flagged_rated_at_id",
            "rated_at",
            "id",
            postgresql_where=text("flags IS NOT NULL"),
        ),
        # One phone's ratings of a department in a day (the repeat_phone flag, admin lookup).
        Index(
            "ix_rating_phone_hash",
            "rater_phone_hash",
            "department_code",
            "rated_at",
            postgresql_where=text("rater_phone_hash IS NOT NULL"),
        ),
        # A client's ratings of one case: a follow-up (追评) needs the first, and comes once
        # (app/ratings/rules.py; migration 0006).
        Index(
            "ix_rating_client_case_no",
            "client_id",
            "case_no",
            "assess_number",
            postgresql_where=text("case_no IS NOT NULL"),
        ),
        # The ratings naming a case, whatever their client (the case ledger, app/cases/).
        Index("ix_rating_case_no", "case_no", postgresql_where=text("case_no IS NOT NULL")),
        Index(
            "uq_rating_follow_up",
            "client_id",
            "case_no",
            unique=True,
            postgresql_where=text("assess_number = 2"),
        ),
        # The retention job finds real-name or commented ratings past their time without a scan.
        Index(
            "ix_rating_personal_data_rated_at",
            "rated_at",
            postgresql_where=text(
                "rater_name IS NOT NULL OR rater_phone IS NOT NULL OR comment_hash IS NOT NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # client_id and department_code name a client and a department without a foreign key: its
    # check locked the parent row on every insert. The INSERT joins the active department, the
    # client is the principal's, and neither parent is ever deleted nor re-keyed (a guard
    # refuses it; migration 0019).
    client_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_id: Mapped[str] = mapped_column(String(128))
    # SHA-256 of the normalised event: a retry must carry the same payload.
    payload_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    channel: Mapped[str] = mapped_column(String(20))
    department_code: Mapped[str] = mapped_column(String(64))
    window_no: Mapped[str | None] = mapped_column(String(32))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    case_no: Mapped[str | None] = mapped_column(String(64))
    service_item_code: Mapped[str | None] = mapped_column(String(64))
    service_item_name: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(SmallInteger)
    # 差评 = levels 1 and 2
    is_bad: Mapped[bool] = mapped_column(Computed("level <= 2", persisted=True))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Encrypted like the rater's phone (free text may hold a phone, an ID number, a name);
    # its keyed digest finds equal comments (identical_burst) and is cleared once the
    # retention job has reduced the comment to its masked form.
    comment: Mapped[str | None] = mapped_column(Text)
    comment_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    rater_type: Mapped[str] = mapped_column(String(20))
    # Encrypted (app/privacy.py envelopes); the phone's keyed hash serves exact lookups.
    rater_name: Mapped[str | None] = mapped_column(Text)
    rater_phone: Mapped[str | None] = mapped_column(Text)
    rater_phone_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Set when the retention job erased the rater's name and phone (the rating stays).
    rater_erased_at: Mapped[datetime | None]
    rated_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    assess_number: Mapped[int] = mapped_column(SmallInteger, server_default=text("1"))
    # Imported by an admin from a previous system, older than the age limit.
    historical: Mapped[bool] = mapped_column(server_default=text("false"))
    status: Mapped[str] = mapped_column(String(20), server_default=text("'valid'"))
    status_changed_at: Mapped[datetime | None]
    # Integrity flags (app/ratings/flags.py) set at ingestion; NULL when none.
    flags: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    # A default rating (系统默认评价: the system rated for an applicant who did not), received
    # from a provincial platform (app/provincial): counted apart, never an active rating.
    is_default: Mapped[bool] = mapped_column(server_default=text("false"))
