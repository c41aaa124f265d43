"""Surveys as they are created and worked through, and the sample figures."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.errors import ProblemError
from app.limits import InputModel
from app.ratings.schemas import RaterIn, Tag
from app.stats.periods import parse_period_label
from app.stats.schemas import PeriodOut
from app.surveys.models import FRAMES, INVALID_REASONS, ITEM_STATES, SURVEY_CHANNELS
from app.timefmt import LocalDateTime

SurveyChannel = Literal[*SURVEY_CHANNELS]
Frame = Literal[*FRAMES]
ItemState = Literal[*ITEM_STATES]
InvalidReason = Literal[*INVALID_REASONS]
MAX_SAMPLES = 20_000
MAX_ATTEMPTS = 1000
SampleNo = Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")


class SurveyIn(InputModel):
    """A survey of one period. Frame `cases` or `ratings` draws its task list now."""

    name: str = Field(min_length=1, max_length=200, examples=["2023年一季度群众满意度测评"])
    channel: SurveyChannel = Field(description="phone_callback 电话回访 or onsite_survey 现场拦访")
    period: str = Field(
        min_length=4, max_length=20, description="2023Q1, 2023-01 or 2023 (Asia/Shanghai)"
    )
    frame: Frame = Field(
        description="cases: the period's cases (办件); ratings: its real-name first ratings "
        "(the rater to call back); none: no list (samples added as met, e.g. on site)"
    )
    size: int | None = Field(default=None, ge=1, le=MAX_SAMPLES, description="Samples to draw")
    share: float | None = Field(
        default=None, gt=0, le=100, description="Or: this percentage of the frame"
    )
    seed: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="The same seed draws the same list from the same frame; one is made "
        "when absent",
    )

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        try:
            return parse_period_label(value).label
        except ProblemError as exc:
            raise ValueError((exc.errors or [{"message": exc.detail}])[0]["message"]) from None

    @model_validator(mode="after")
    def _size_or_share(self) -> SurveyIn:
        if self.frame == "none":
            if self.size is not None or self.share is not None or self.seed is not None:
                raise ValueError("frame none draws nothing: no size, share or seed")
        elif (self.size is None) == (self.share is None):
            raise ValueError("give either size or share")
        return self


class SurveyOut(BaseModel):
    id: int
    name: str
    channel: SurveyChannel
    frame: Frame
    period: PeriodOut
    seed: str | None
    size: int | None
    share: float | None
    frame_size: int = Field(description="Cases or ratings in the frame")
    drawn: int = Field(description="Samples drawn")
    strata: dict[str, int] = Field(description="Samples drawn per department (分层抽样)")
    created_at: LocalDateTime
    by_state: dict[str, int] = Field(description="pending, rated, invalid")


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sample_no: str
    position: int | None
    department_code: str
    window_no: str | None
    staff_id: str | None
    case_no: str | None
    service_item_code: str | None
    service_item_name: str | None
    source_rating_id: int | None = Field(
        description="The real-name rating drawn: its rater's phone is read by an admin "
        "through GET /v1/ratings/{id}/personal-data (audited)"
    )
    state: ItemState
    invalid_reason: InvalidReason | None
    rating_id: int | None
    surveyor: str | None
    attempted_at: LocalDateTime | None


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class AttemptIn(InputModel):
    """One attempt: reached and rated, or an invalid sample (无效样本) and why."""

    sample_no: str = SampleNo
    outcome: Literal["rated", "invalid"]
    reason: InvalidReason | None = Field(
        default=None,
        description="For invalid: unreachable 无人接听/无法接通, refused 拒绝, wrong_number "
        "号码错误, not_applicant 非办事人本人, other 其他",
    )
    surveyor: str | None = Field(default=None, min_length=1, max_length=100)
    attempted_at: AwareDatetime
    level: int | None = Field(default=None, ge=1, le=5, strict=True)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    comment: str | None = Field(default=None, max_length=500)
    rater: RaterIn | None = Field(default=None, description="Required when rated")
    # A sample not on the list (an on-site interview): where it was.
    department_code: str | None = Field(default=None, min_length=1, max_length=64)
    staff_id: str | None = Field(default=None, min_length=1, max_length=64)
    case_no: str | None = Field(default=None, min_length=1, max_length=64)
    service_item_code: str | None = Field(default=None, min_length=1, max_length=64)
    service_item_name: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _outcome(self) -> AttemptIn:
        if self.outcome == "invalid":
            if self.reason is None:
                raise ValueError("an invalid sample names its reason")
            if self.level is not None or self.rater is not None or self.tags or self.comment:
                raise ValueError("an invalid sample has no level, rater, tags or comment")
        else:
            if self.reason is not None:
                raise ValueError("a rated sample has no reason")
            if self.level is None or self.rater is None:
                raise ValueError("a rated sample needs level and rater (individual/enterprise)")
        return self


class AttemptsIn(InputModel):
    attempts: list[AttemptIn] = Field(min_length=1, max_length=MAX_ATTEMPTS)


class AttemptsResult(BaseModel):
    recorded: int
    duplicate: int = Field(description="Attempts sent again as recorded")
    rated: int
    invalid: int


class SampleFigures(BaseModel):
    samples: int = Field(description="测评样本: attempted samples (rated + invalid)")
    invalid: int = Field(description="无效样本: reached nobody, refused, …")
    invalid_by_reason: dict[str, int]
    valid: int = Field(description="有效样本: rated")
    counted: int = Field(description="Valid samples whose rating still counts")
    good: int = Field(description="满意 (levels 5, 4, 3) among counted")
    bad: int = Field(description="不满意 (levels 2, 1) among counted")
    good_rate: float | None = Field(
        description="满意度 = good / counted, in %, half-up to 2 decimals; invalid samples "
        "never enter it"
    )
    enterprise: dict[str, int | float | None] = Field(
        description="counted, good, good_rate of enterprise (法人) raters"
    )
    individual: dict[str, int | float | None] = Field(
        description="counted, good, good_rate of individual (自然人) raters"
    )
    pending: int = Field(description="Drawn, not yet attempted (not samples)")


class SampleRow(SampleFigures):
    channel: SurveyChannel | None = None
    department_code: str | None = None
    department_name: str | None = None


class SampleTable(BaseModel):
    period: PeriodOut
    survey_id: int | None
    total: SampleFigures
    by_channel: list[SampleRow]
    by_department: list[SampleRow]
