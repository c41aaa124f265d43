"""Provincial docking as the API shows it: results, push targets, the push log, figures."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints, model_validator

from app.limits import InputModel
from app.timefmt import LocalDateTime

Event = Literal["ratings", "rectifications"]
TargetUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]
Credentials = Annotated[
    dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")],
        Annotated[str, Field(max_length=500)],
    ],
    Field(max_length=10, description="Headers sent with every push (e.g. appKey, token); sealed"),
]


class ProvincialBatchIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    ratings: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 documents (each as in POST /v1/provincial/ratings), "
        "judged one by one",
        json_schema_extra={"items": {"$ref": "#/components/schemas/ProvincialRatingIn"}},
    )


class FieldError(BaseModel):
    field: str
    message: str
    code: str


class ProvincialResult(BaseModel):
    index: int
    projectNo: str | int | None
    assessNumber: str | int | None
    status: Literal["created", "duplicate", "rejected"]
    rating_id: int | None
    is_default: bool = Field(description="A default rating (系统默认评价): counted apart")
    errors: list[FieldError] | None


class ProvincialBatchResult(BaseModel):
    created: int
    duplicate: int
    rejected: int
    results: list[ProvincialResult]


class ProfileOut(BaseModel):
    name: str
    title: str
    channels: dict[int, str]
    rater_types: dict[int, str]
    reasons: dict[str, str]
    time_format: str


class TargetIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: TargetUrl
    profile: str = Field(min_length=1, max_length=64)
    credentials: Credentials | None = None
    area_code: str | None = Field(default=None, pattern=r"^\d{6}(\d{3}|\d{6})?$")
    events: list[Event] = Field(min_length=1, max_length=2)


class TargetUpdate(InputModel):
    model_config = ConfigDict(extra="forbid")

    url: TargetUrl | None = None
    credentials: Credentials | None = None
    events: list[Event] | None = Field(default=None, min_length=1, max_length=2)
    active: bool | None = None


class TargetOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    profile: str
    area_code: str | None
    events: list[str]
    active: bool
    has_credentials: bool
    rating_cursor: int
    created_at: LocalDateTime


class PushItemOut(BaseModel):
    id: int
    kind: Literal["rating", "rectification"]
    ref_id: int
    ref_at: LocalDateTime
    status: Literal["pending", "acknowledged", "failed"]
    attempts: int
    repushes: int
    sent_at: LocalDateTime | None
    answered_at: LocalDateTime | None
    last_status_code: int | None
    last_answer_code: str | None = Field(description="The target's own codes, e.g. status.code=200")
    last_error: str | None
    acknowledged_at: LocalDateTime | None
    next_attempt_at: LocalDateTime


class RepushIn(InputModel):
    """One item (`item_id`), or a period (`from` and `to`, Beijing days, inclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    item_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="after")
    def _one(self) -> RepushIn:
        period = self.from_ is not None or self.to is not None
        if (self.item_id is None) == (not period):
            if self.item_id is not None:
                raise ValueError("give item_id or from/to, not both")
            raise ValueError("give item_id, or from and to")
        if period and (self.from_ is None or self.to is None or self.to < self.from_):
            raise ValueError("from and to: both, to not before from")
        if period and (self.to - self.from_).days > 366:
            raise ValueError("from and to: at most a year")
        return self


class RepushOut(BaseModel):
    requeued: int = Field(description="Items sent again")
    queued: int = Field(description="Ratings of the period that had never been queued")


class Reconciliation(BaseModel):
    day: date
    ratings: int = Field(description="Ratings of the day (Beijing time), default ratings apart")
    default_ratings: int
    queued: int
    pushed: int
    acknowledged: int
    failed: int
    missing: int = Field(description="ratings - acknowledged")
