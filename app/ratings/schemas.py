"""Rating events as tablets and portals post them, and as the API returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.limits import InputModel
from app.ratings.flags import FLAGS
from app.ratings.models import CHANNELS
from app.timefmt import LocalDateTime

Channel = Literal[*CHANNELS]
BAD_TAGS = (
    "attitude",
    "efficiency",
    "waiting",
    "notification",
    "multiple_trips",
    "materials",
    "process",
    "guide",
    "promise",
    "discipline",
    "fees",
    "platform",
    "other",
)
PRAISE_TAGS = ("praise_attitude", "praise_efficiency", "praise_professional")
Tag = Literal[*BAD_TAGS, *PRAISE_TAGS]
# Each tag's words, as the tablet shows them and the reports count them (domain.md).
TAG_NAMES = {
    "attitude": "服务态度差",
    "efficiency": "办事效率低",
    "waiting": "排队等待时间长",
    "notification": "一次性告知不到位",
    "multiple_trips": "多次跑动/多窗跑",
    "materials": "材料繁琐/证明过多",
    "process": "流程复杂",
    "guide": "办事指南不清晰或线上线下不一致",
    "promise": "未兑现承诺时限",
    "discipline": "工作纪律(缺岗、串岗、玩手机)",
    "fees": "收费不合理",
    "platform": "网上平台不好用/系统故障",
    "other": "其他",
    "praise_attitude": "服务热情",
    "praise_efficiency": "办事高效",
    "praise_professional": "业务熟练",
}
# Mainland mobile (11 digits from 1[3-9]) or a landline with its area code.
PHONE_PATTERN = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
ShortText = Annotated[str, Field(min_length=1, max_length=64)]
# Earlier than any rating system: a tablet whose clock was reset (to 1970) is caught here.
EARLIEST_RATED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class RaterIn(InputModel):
    """Who rated. Absent means anonymous; a name or phone makes the rating real-name (实名)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["individual", "enterprise"] = Field(
        default="individual", description="自然人 (individual) or 法人/organisation (enterprise)"
    )
    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(
        default=None, max_length=32, description="Mobile 13812345678 or landline 0730-8123456"
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else checked_phone(value)


def checked_phone(value: str) -> str:
    """A phone number as stored: spaces and +86 dropped; a ValueError if it is not one."""
    import re

    value = value.strip().replace(" ", "")
    if value.startswith("+86"):
        value = value[3:]
    if not re.fullmatch(PHONE_PATTERN, value):
        raise ValueError("not a valid phone number (mobile 1XXXXXXXXXX or landline 0XXX-XXXXXXX)")
    return value


class RatingIn(InputModel):
    """One rating event. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The sender's unique id for this event; retries must reuse it",
        examples=["PJQ-000123-20261009-0001"],
    )
    channel: Channel | None = Field(
        default=None, description="Required, except for device keys (default window_device)"
    )
    department_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Filled from the device for device keys",
    )
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    staff_id: ShortText | None = Field(default=None, description="工号 of the staff member")
    case_no: ShortText | None = Field(default=None, description="办件编号")
    service_item_code: ShortText | None = Field(default=None, description="事项编码")
    service_item_name: str | None = Field(default=None, min_length=1, max_length=200)
    level: int = Field(
        ge=1,
        le=5,
        strict=True,
        description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意",
    )
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    comment: str | None = Field(default=None, max_length=500)
    rater: RaterIn | None = None
    rated_at: AwareDatetime = Field(description="ISO 8601 with offset; naive times are refused")
    assess_number: Literal[1, 2] = Field(
        default=1,
        description="1 the first rating of a case, 2 the one follow-up rating (追评): it names "
        "the case_no of a first rating from the same client",
    )

    @field_validator("rated_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # pydantic would read a number as Unix time; the contract is ISO 8601 with an offset.
        if isinstance(value, int | float):
            raise ValueError("must be ISO 8601 text with an offset, e.g. 2026-10-09T09:30:00+08:00")
        return value

    @field_validator("rated_at")
    @classmethod
    def _plausible(cls, value: datetime) -> datetime:
        try:
            instant = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None
        if instant < EARLIEST_RATED_AT:
            raise ValueError("is before 2000-01-01")
        return value

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("tags must not repeat")
        return value


class RatingBatchIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    events: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 rating events (each as in POST /v1/ratings), judged one by one",
        json_schema_extra={"items": {"$ref": "#/components/schemas/RatingIn"}},
    )


class RaterOut(BaseModel):
    type: Literal["individual", "enterprise"]
    name: str | None = Field(description="Masked")
    phone: str | None = Field(description="Masked, e.g. 138****5678")
    real_name: bool


class RatingOut(BaseModel):
    id: int
    event_id: str
    channel: Channel
    department_code: str
    window_no: str | None
    staff_id: str | None
    case_no: str | None
    service_item_code: str | None
    service_item_name: str | None
    level: int
    is_bad: bool
    tags: list[str]
    comment: str | None = Field(
        description="Phone numbers, 身份证号 and the rater's own name in it masked"
    )
    rater: RaterOut | None
    rated_at: LocalDateTime
    received_at: LocalDateTime
    assess_number: int
    historical: bool
    status: Literal["valid", "withdrawn", "invalidated"]
    flags: list[Literal[*FLAGS]] | None = Field(
        default=None,
        description="Integrity flags set at ingestion (刷好评/恶意差评 patterns): rapid_device, "
        "repeat_phone, identical_burst, bare_burst, source_share (app/ratings/flags.py). Shown "
        "to admin, reader and department keys; null for the keys that send ratings",
    )


class ItemError(BaseModel):
    field: str
    message: str
    code: str


class BatchItemResult(BaseModel):
    index: int
    event_id: str | None
    status: Literal["created", "duplicate", "rejected"]
    rating: RatingOut | None = None
    errors: list[ItemError] | None = None


class BatchResult(BaseModel):
    created: int
    duplicate: int
    rejected: int
    results: list[BatchItemResult]


class PhoneLookupIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(min_length=5, max_length=20, description="Mobile or landline")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=200)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return checked_phone(value)


class RaterPersonalData(BaseModel):
    """A rater's personal data in clear (an audited read)."""

    id: int
    rater_type: str
    name: str | None
    phone: str | None
    comment: str | None = Field(
        description="The comment whole (every other response masks phones, ID numbers and the "
        "rater's name in it); once erased, its masked form"
    )
    erased_at: LocalDateTime | None = Field(
        description="When the retention job erased them (then name and phone are null)"
    )


class RatingPage(BaseModel):
    items: list[RatingOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
