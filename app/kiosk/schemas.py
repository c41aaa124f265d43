"""The kiosk's requests and answers: enrolment, the session at a device, rating links, and a
rating from the QR-code page."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.limits import InputModel
from app.ratings.schemas import (
    BAD_TAGS,
    PRAISE_TAGS,
    TAG_NAMES,
    ShortText,
    Tag,
    checked_phone,
)
from app.timefmt import LocalDateTime

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{20,64}$"
Token = Field(min_length=20, max_length=64, pattern=TOKEN_PATTERN)


class EnrolmentOut(BaseModel):
    device_id: uuid.UUID
    url: str = Field(
        description="Open on the tablet (or scan qr_svg): /kiosk#enrol=<token>; the token is "
        "in the fragment, which browsers never send to a server"
    )
    token: str = Field(description="One-time, shown once; only its SHA-256 is stored")
    expires_at: LocalDateTime
    qr_svg: str = Field(description="The link as a QR code (SVG), for the tablet's camera")


class RedeemIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Token


class PlaceOut(BaseModel):
    """Where a device or a link rates: the department and the window, with their names."""

    department_code: str
    department_name: str
    window_no: str | None
    window_name: str | None


class RedeemedOut(PlaceOut):
    device_id: uuid.UUID
    key_id: uuid.UUID
    key: str = Field(description="The device's new key, handed over once: sign with it")
    server_time: int = Field(description="The service's clock, Unix seconds")


class SessionIn(InputModel):
    """Who is on duty at a device; `staff_id` null when nobody is."""

    model_config = ConfigDict(extra="forbid")

    staff_id: ShortText | None = Field(description="工号 of the staff member on duty")
    case_no: ShortText | None = Field(default=None, description="办件编号 of the case in hand")


class SessionOut(PlaceOut):
    device_id: uuid.UUID
    staff_id: str | None
    staff_name: str | None = Field(description="The registered name of staff_id (工作人员登记)")
    staff_photo_url: str | None = Field(
        description="Path of the staff member's photo for the tablet page (under the service's "
        "root), or null"
    )
    case_no: str | None
    set_by: Literal["device", "system"] | None
    updated_at: LocalDateTime | None
    server_time: int = Field(description="The service's clock, Unix seconds")


class CaseLinkIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    department_code: str = Field(min_length=1, max_length=64)
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    case_no: ShortText = Field(description="办件编号")
    staff_id: ShortText | None = None


class LinkOut(BaseModel):
    kind: Literal["window", "case"]
    url: str = Field(description="The rating page, /r/<token>; print it or draw it as a QR code")
    token: str
    department_code: str
    window_no: str | None
    case_no: str | None
    expires_at: LocalDateTime | None


class RaterNameIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else checked_phone(value)


class QrRatingIn(InputModel):
    """A rating from the QR-code page; the token says for which window or case."""

    model_config = ConfigDict(extra="forbid")

    token: str = Token
    event_id: str = Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="Made by the page"
    )
    level: int = Field(ge=1, le=5, strict=True)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    comment: str | None = Field(default=None, max_length=500)
    rater: RaterNameIn | None = Field(default=None, description="For a real-name rating (实名)")
    consent: bool = Field(
        default=False, description="The rater agreed to the use of their name and phone"
    )


class QrRatingOut(BaseModel):
    event_id: str
    level: int
    assess_number: int = Field(description="1 the first rating, 2 the follow-up (追评)")
    real_name: bool
    rated_at: LocalDateTime


REASONS = {tag: TAG_NAMES[tag] for tag in BAD_TAGS}
PRAISE = {tag: TAG_NAMES[tag] for tag in PRAISE_TAGS}
LEVELS = ((5, "非常满意"), (4, "满意"), (3, "基本满意"), (2, "不满意"), (1, "非常不满意"))
