"""The composite score's response (the bulletin is a document; its JSON form is its own)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PeriodOut(BaseModel):
    label: str
    from_: str = Field(alias="from")
    to: str


class ScoreWeights(BaseModel):
    good_rate: float
    on_time_rate: float
    callback_rate: float
    complaints: float
    active_rate: float


class ScorePolicyOut(BaseModel):
    formula_version: str
    weights: ScoreWeights = Field(description="Relative weights, as configured")
    complaints_zero_at: float = Field(
        description="Complaints per 1,000 counted ratings at which that input scores 0"
    )
    commend_top: int
    commend_min_score: float | None
    commend_min_counted: int = Field(
        description="Counted ratings a unit needs in the period to be commended (标兵)"
    )
    bottom: int
    rule: str


class UnitCountsOut(BaseModel):
    counted: int
    good: int
    deadline_due: int
    on_time: int
    real_name: int
    real_name_called_back: int
    complaints: int
    cases_handled: int | None
    cases_rated: int | None


class ScoreInputs(BaseModel):
    good_rate: float | None
    on_time_rate: float | None
    callback_rate: float | None
    complaints: float | None
    active_rate: float | None


class ScoredUnit(BaseModel):
    key: str = Field(description="The department's code")
    name: str
    score: float | None = Field(description="0–100, two decimals; null: not scored")
    rank: int | None
    commended: bool = Field(description="标兵 / 优质服务窗口单位")
    bottom: bool
    counts: UnitCountsOut
    inputs: ScoreInputs = Field(description="Each input 0–100 (null: unavailable)")
    effective_weights: ScoreInputs = Field(
        description="The weights applied, in percent, after redistributing the unavailable"
    )
    unavailable: list[str]
    complaints_per_thousand: float | None


class ScoreTable(BaseModel):
    period: PeriodOut
    level: str
    policy: ScorePolicyOut
    unavailable_inputs: dict[str, str] = Field(
        description="Inputs unavailable for every unit of the period, and why"
    )
    units_scored: int
    units: list[ScoredUnit]
