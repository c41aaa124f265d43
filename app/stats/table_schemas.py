"""The window, staff and region tables as the API returns them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.stats.schemas import SAMPLE_GROUP_TEXT, PeriodOut, RatingsBlock

_RATE = "in %, half-up to 2 decimals; null when the denominator is 0"
_RANK = (
    "Competition rank (1, 1, 3) by the sort, highest first, among the rows of the sample-size "
    "group asked for (else all); the listing breaks ties by counted ratings (more first), then "
    "by the key; null for a 好评率 with nothing counted (listed last)"
)


class ComplaintsBySource(BaseModel):
    counted: int = Field(
        description="投诉数: windows and staff, the counted complaint orders opened against it in "
        "the period; regions, the complaints received in the period"
    )
    by_source: dict[str, int] = Field(
        description="hotline_12345, gov_platform, cannot_do_window, onsite, other"
    )


class TargetFigures(BaseModel):
    ratings: RatingsBlock
    praise: dict[str, int] = Field(
        description="表扬标签: counted ratings with each praise tag (praise_attitude, "
        "praise_efficiency, praise_professional)"
    )
    complaints: ComplaintsBySource
    inspections: int = Field(description="督查数: counted inspection orders opened against it")
    deadline_due: int = Field(description="应按期数 of all its orders (差评, 投诉, 督查)")
    on_time: int = Field(description="按期整改数 of all its orders")
    on_time_rate: float | None = Field(description=f"按期整改率 = on_time / deadline_due, {_RATE}")
    sample_group: str = Field(description=SAMPLE_GROUP_TEXT)
    rank: int | None = Field(description=_RANK)


class WindowTableRow(TargetFigures):
    department_code: str
    department_name: str
    window_no: str
    name: str | None = Field(description="The registered window's name; null if unregistered")


class StaffTableRow(TargetFigures):
    staff_id: str = Field(description="工号")
    name: str = Field(description="The registered name; the staff id itself if unregistered")
    registered: bool
    department_code: str | None = Field(
        description="The registered department, else that of its ratings (the first by code)"
    )
    department_name: str | None
    window_no: str | None = Field(description="The registered window")


class TableFiltersOut(BaseModel):
    department: str | None
    include_children: bool
    region: str | None
    channel: str | None
    rater_type: str | None
    sample_group: str | None


class WindowTable(BaseModel):
    period: PeriodOut
    filters: TableFiltersOut
    sort: str
    total: int = Field(description="Rows before `limit`")
    windows: list[WindowTableRow]


class StaffTable(BaseModel):
    period: PeriodOut
    filters: TableFiltersOut
    sort: str
    total: int = Field(description="Rows before `limit`")
    staff: list[StaffTableRow]


class RegionRow(BaseModel):
    region_code: str = Field(description="行政区划代码 (6 digits) of the province, city or county")
    level: str
    departments: int = Field(description="Departments of the region in the table")
    ratings: RatingsBlock
    complaints: ComplaintsBySource
    rank: int | None = Field(description="By 好评率, then by volume (1, 2, 2, 4)")
    band: str | None
    sample_group: str = Field(description=SAMPLE_GROUP_TEXT)


class RegionTable(BaseModel):
    period: PeriodOut
    level: str
    region: str | None
    region_prefix: str | None
    unassigned_departments: int = Field(description="Departments without a region code")
    regions: list[RegionRow]
