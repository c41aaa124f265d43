"""Figures as the API returns them (the contract other systems code against)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.timefmt import LocalDateTime


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    label: str = Field(examples=["2023Q4"])
    from_: LocalDateTime = Field(alias="from", description="Start instant, inclusive (+08:00)")
    to: LocalDateTime = Field(description="End instant, exclusive (+08:00)")


class ByLevel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    level_5: int = Field(alias="5", description="非常满意")
    level_4: int = Field(alias="4", description="满意")
    level_3: int = Field(alias="3", description="基本满意")
    level_2: int = Field(alias="2", description="不满意")
    level_1: int = Field(alias="1", description="非常不满意")


SAMPLE_GROUP_TEXT = (
    "样本量分组 by counted ratings: 50_plus (≥ 50), 30_to_50 (30–49), 10_to_30 (10–29), "
    "under_10 (< 10)"
)
_RATE = "in %, half-up to 2 decimals; null when the denominator is 0"


_EXCLUDE = (
    "exclude_flagged as asked: when true, every ratings count, rate, rank and band leaves out "
    "the valid ratings carrying integrity flags (each ratings block says how many in "
    "excluded_flagged); withdrawn and invalidated counts and the work orders are unchanged"
)


class RatingsBlock(BaseModel):
    counted: int = Field(description="有效评价数: neither withdrawn nor invalidated")
    by_level: ByLevel
    good: int = Field(description="好评数: levels 5, 4, 3")
    bad: int = Field(description="差评数: levels 2, 1")
    good_rate: float | None = Field(description=f"好评率 = good / counted, {_RATE}")
    bad_rate: float | None = Field(description=f"差评率 = bad / counted, {_RATE}")
    withdrawn: int = Field(description="撤回评价数: withdrawn by the rater (not counted)")
    invalidated_on_appeal: int = Field(
        description="申诉核销评价数: invalidated on an upheld appeal (not counted; formerly "
        "`invalidated`)"
    )
    flagged: int = Field(
        description="疑似异常评价数: counted ratings carrying integrity flags (刷好评/恶意差评 "
        "suspicions: GET /v1/ratings?flagged=true); 0 when none, and 0 with "
        "exclude_flagged=true (none of the counted ratings carries flags then)"
    )
    excluded_flagged: int = Field(
        description="已剔除疑似异常评价数: with exclude_flagged=true, the valid ratings carrying "
        "integrity flags left out of every figure of this block (counts, rates) and of the "
        "ranks and bands taken on it; 0 without it"
    )


class OrderFigures(BaseModel):
    """One kind of work order opened in the period; every rate is taken on `counted`."""

    opened: int = Field(description="开单数: orders opened in the period")
    withdrawn: int = Field(description="撤回数: closed because the rater withdrew (not counted)")
    withdrawal_requested: int = Field(
        description="撤回申请数: orders whose department asked a supervisor to confirm the "
        "rater's withdrawal"
    )
    withdrawal_refused: int = Field(
        description="撤回驳回数: of those, orders with a request the supervisor refused"
    )
    appealed: int = Field(description="申诉数: orders the department appealed (误评/恶意差评)")
    appeal_upheld: int = Field(description="申诉核销数: closed by an upheld appeal (not counted)")
    appeal_rejected: int = Field(description="申诉驳回数: appeals the supervisor rejected")
    counted: int = Field(description="工单数: opened − withdrawn − appeal_upheld")
    closed: int = Field(description="办结数: counted orders closed")
    rectification_rate: float | None = Field(
        description=f"整改率 (差评整改率 for rating orders) = closed / counted, {_RATE}"
    )
    deadline_due: int = Field(
        description="应按期数: counted orders whose deadline in force has passed, closed, or "
        "with a late round"
    )
    on_time: int = Field(
        description="按期整改数: of deadline_due, resolved by the deadline in every round (a "
        "round resolved late stays late after a reopen)"
    )
    on_time_rate: float | None = Field(description=f"按期整改率 = on_time / deadline_due, {_RATE}")
    overdue_now: int = Field(description="当前超期数: counted orders past a pending deadline now")
    real_name: int = Field(description="实名数: counted orders from a real-name rater or caller")
    real_name_called_back: int = Field(description="实名已回访数: of real_name, called back")
    real_name_callback_rate: float | None = Field(
        description=f"实名回访率 (实名差评回访率) = real_name_called_back / real_name, {_RATE}"
    )
    called_back: int = Field(description="已回访数: counted orders called back")
    callback_satisfied: int = Field(description="回访满意数: of called_back, the caller satisfied")
    callback_satisfaction_rate: float | None = Field(
        description=f"回访满意率 = callback_satisfied / called_back, {_RATE}"
    )


class WorkOrderFigures(BaseModel):
    """Orders opened in the period, by where they came from (counted apart)."""

    rating: OrderFigures = Field(description="差评工单: opened from 差评")
    complaint: OrderFigures = Field(description="投诉工单: 12345 complaints")
    inspection: OrderFigures = Field(description="督查工单: found by inspection")


class Overview(BaseModel):
    period: PeriodOut
    exclude_flagged: bool = Field(description=_EXCLUDE)
    ratings: RatingsBlock
    by_rater_type: dict[str, RatingsBlock]
    by_channel: dict[str, RatingsBlock]
    workorders: WorkOrderFigures
    departments_rated: int
    default_ratings: int = Field(
        description="Valid default ratings (系统默认评价, e.g. Zhejiang's pf 7) of the period: "
        "counted apart, left out of every figure and rate above"
    )


class DepartmentRow(BaseModel):
    code: str
    name: str
    ratings: RatingsBlock
    workorders: WorkOrderFigures
    rank: int | None = Field(description="By 好评率, then by volume; null with nothing counted")
    band: str | None = Field(description="100, 90-100, 80-90 or below-80 (unrounded rate)")
    sample_group: str = Field(description=SAMPLE_GROUP_TEXT)
    complaints_by_source: dict[str, int] = Field(
        description="Complaints received in the period, by source (hotline_12345, "
        "gov_platform, cannot_do_window, onsite, other)"
    )


class DepartmentTable(BaseModel):
    period: PeriodOut
    exclude_flagged: bool = Field(description=_EXCLUDE)
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
    exclude_flagged: bool = Field(description=_EXCLUDE)
    department: DepartmentRef
    ratings: RatingsBlock
    by_rater_type: dict[str, RatingsBlock]
    by_channel: dict[str, RatingsBlock]
    workorders: WorkOrderFigures
    rank: int | None
    departments_ranked: int
    band: str | None
    trend: list[MonthRow]
    windows: list[WindowRow]
    staff: list[StaffRow]
    reasons: list[ReasonRow]


_EXCLUDED_BAD = (
    "已剔除疑似异常差评数: with exclude_flagged=true, the valid 差评 carrying integrity flags "
    "left out of `bad` and of the reason counts (their tags too); 0 without it"
)


class SourcedReasonRow(BaseModel):
    tag: str = Field(description="The reason class (a 差评 tag code)")
    name: str
    count: int = Field(description="ratings + complaints + inspections")
    ratings: int = Field(description="Counted 差评 with this tag (source ratings or all)")
    complaints: int = Field(
        description="Complaints received whose category code maps to it (complaints or all)"
    )
    inspections: int = Field(description="Counted inspection orders with this tag")


class DepartmentReasons(BaseModel):
    code: str
    name: str
    bad: int
    complaints: int = Field(description="Complaints received (with the source complaints/all)")
    inspections: int = Field(description="Counted inspection orders (inspections/all)")
    excluded_flagged: int = Field(description=_EXCLUDED_BAD)
    reasons: list[SourcedReasonRow]


class Reasons(BaseModel):
    period: PeriodOut
    source: str = Field(description="ratings, complaints, inspections or all, as asked")
    exclude_flagged: bool = Field(
        description="exclude_flagged as asked: when true, the flagged 差评 and their tags are "
        "left out of every count"
    )
    bad: int = Field(description="Counted 差评 in the period (0 unless ratings are analysed)")
    complaints: int = Field(description="Complaints received in the period")
    inspections: int = Field(description="Counted inspection orders opened in the period")
    excluded_flagged: int = Field(description=_EXCLUDED_BAD)
    uncategorised_complaints: int = Field(
        description="Complaints without a category code (in no reason row)"
    )
    reasons: list[SourcedReasonRow]
    departments: list[DepartmentReasons]
