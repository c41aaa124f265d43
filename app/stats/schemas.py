"""Figures as the API returns them (the contract other systems code against)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    label: str = Field(examples=["2023Q4"])
    from_: str = Field(alias="from", description="Start instant, inclusive (+08:00)")
    to: str = Field(description="End instant, exclusive (+08:00)")


class ByLevel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    level_5: int = Field(alias="5", description="非常满意")
    level_4: int = Field(alias="4", description="满意")
    level_3: int = Field(alias="3", description="基本满意")
    level_2: int = Field(alias="2", description="不满意")
    level_1: int = Field(alias="1", description="非常不满意")


class RatingsBlock(BaseModel):
    counted: int = Field(description="Counted ratings (neither withdrawn nor invalidated)")
    by_level: ByLevel
    good: int = Field(description="好评: levels 5, 4, 3")
    bad: int = Field(description="差评: levels 2, 1")
    good_rate: float | None = Field(description="好评率 in %, half-up to 2 decimals; null if none")
    bad_rate: float | None = Field(description="差评率 in %, half-up to 2 decimals; null if none")
    withdrawn: int
    invalidated: int
    flagged: int | None = Field(
        default=None,
        description="Counted ratings carrying integrity flags (刷好评/恶意差评 suspicions: "
        "GET /v1/ratings?flagged=true); on centre and department totals",
    )


class Overview(BaseModel):
    period: PeriodOut
    ratings: RatingsBlock
    by_rater_type: dict[str, RatingsBlock]
    by_channel: dict[str, RatingsBlock]
    workorders: dict[str, Any]
    complaints: dict[str, Any]
    departments_rated: int


class DepartmentRow(BaseModel):
    code: str
    name: str
    ratings: RatingsBlock
    workorders: dict[str, Any]
    rank: int | None = Field(description="By 好评率, then by volume; null with nothing counted")
    band: str | None = Field(description="100, 90-100, 80-90 or below-80 (unrounded rate)")


class DepartmentTable(BaseModel):
    period: PeriodOut
    filters: dict[str, Any]
    bands: dict[str, int]
    departments_ranked: int
    departments: list[DepartmentRow]


class MonthRow(BaseModel):
    month: str
    ratings: RatingsBlock


class WindowRow(BaseModel):
    window_no: str | None
    name: str | None = None
    ratings: RatingsBlock
    rank: int | None


class StaffRow(BaseModel):
    staff_id: str | None
    ratings: RatingsBlock
    rank: int | None


class ReasonRow(BaseModel):
    tag: str
    name: str
    count: int


class DepartmentRef(BaseModel):
    code: str
    name: str


class DepartmentDetail(BaseModel):
    period: PeriodOut
    department: DepartmentRef
    ratings: RatingsBlock
    by_rater_type: dict[str, RatingsBlock]
    by_channel: dict[str, RatingsBlock]
    workorders: dict[str, Any]
    rank: int | None
    departments_ranked: int
    band: str | None
    trend: list[MonthRow]
    windows: list[WindowRow]
    staff: list[StaffRow]
    reasons: list[ReasonRow]


class DepartmentReasons(BaseModel):
    code: str
    name: str
    bad: int
    reasons: list[ReasonRow]


class Reasons(BaseModel):
    period: PeriodOut
    bad: int = Field(description="Counted 差评 in the period")
    reasons: list[ReasonRow]
    departments: list[DepartmentReasons]
