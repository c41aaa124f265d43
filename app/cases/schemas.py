"""Cases as the business systems hand them over, and the case figures as the API returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from app.limits import InputModel
from app.stats.schemas import PeriodOut
from app.timefmt import LocalDateTime

MAX_IMPORT = 10_000
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
Code = Annotated[str, Field(min_length=1, max_length=64)]
Group = Literal["department", "window", "staff", "item"]


class CaseIn(InputModel):
    """One case (办件). Imported again with the same case_no, it replaces the stored one."""

    case_no: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="办件编号, unique across the centre",
        examples=["11420102MB1234567X2023100100001"],
    )
    department_code: Code = Field(description="The department that handled the case")
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    staff_id: Code | None = Field(default=None, description="工号 of the staff member")
    service_item_code: Code | None = Field(default=None, description="事项编码")
    service_item_name: str | None = Field(default=None, min_length=1, max_length=200)
    accepted_at: AwareDatetime = Field(description="受理时间, ISO 8601 with offset")
    finished_at: AwareDatetime | None = Field(default=None, description="办结时间, if finished")
    on_time: bool | None = Field(
        default=None, description="按时办结: finished within the promised time (null: unknown)"
    )

    @field_validator("accepted_at", "finished_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            raise ValueError("must be ISO 8601 text with an offset, e.g. 2023-10-09T09:30:00+08:00")
        return value

    @field_validator("accepted_at", "finished_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        try:
            instant = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None
        if instant < EARLIEST or instant.year > 2100:
            raise ValueError("must fall between 2000 and 2100")
        return instant

    @model_validator(mode="after")
    def _order(self) -> CaseIn:
        if self.finished_at is not None and self.finished_at < self.accepted_at:
            raise ValueError("finished_at is before accepted_at")
        if self.on_time is not None and self.finished_at is None:
            raise ValueError("on_time needs finished_at (a case is on time once finished)")
        return self


class CaseImportIn(InputModel):
    cases: list[CaseIn] = Field(
        min_length=1,
        max_length=MAX_IMPORT,
        description=f"Up to {MAX_IMPORT:,} cases; one bad case refuses the whole call (422)",
    )


class CaseImportResult(BaseModel):
    received: int
    created: int = Field(description="New case numbers")
    updated: int = Field(description="Known case numbers whose fields changed")
    unchanged: int = Field(description="Known case numbers sent again as stored (a retry)")


class CaseOut(BaseModel):
    case_no: str
    department_code: str
    window_no: str | None
    staff_id: str | None
    service_item_code: str | None
    service_item_name: str | None
    accepted_at: LocalDateTime
    finished_at: LocalDateTime | None
    on_time: bool | None
    rated: bool = Field(description="Has at least one counted applicant rating (主动评价)")
    rating_count: int = Field(description="Counted applicant ratings naming this case")


_RATE = "in %, half-up to 2 decimals; null when the denominator is 0"


class Coverage(BaseModel):
    total: int = Field(description="With at least one case in the period")
    rated: int = Field(description="Of those, with at least one rated case")
    rate: float | None = Field(description=f"覆盖率 = rated / total, {_RATE}")


class CaseFigures(BaseModel):
    cases: int = Field(description="办件量: cases accepted in the period")
    finished: int = Field(description="办结数: of those, finished")
    on_time: int = Field(description="按时办结数: of those, finished on time")
    on_time_rate: float | None = Field(description=f"按时办结率 = on_time / finished, {_RATE}")
    rated: int = Field(
        description="已评价办件数: cases with at least one counted applicant rating (a "
        "follow-up does not count a case twice; withdrawn, invalidated and survey ratings "
        "do not count)"
    )
    active_rating_rate: float | None = Field(description=f"主动评价率 = rated / cases, {_RATE}")


class CaseRow(CaseFigures):
    department_code: str
    department_name: str | None
    key: str | None = Field(
        description="window_no, staff_id or service_item_code (null: cases without one); "
        "null in the department table"
    )
    name: str | None = Field(description="The service item's name (group=item), else null")
    windows: Coverage | None = Field(description="窗口覆盖 (group=department), else null")
    items: Coverage | None = Field(description="事项覆盖 (group=department), else null")


class CaseTotal(CaseFigures):
    windows: Coverage = Field(description="窗口全覆盖: windows of the period's cases")
    items: Coverage = Field(description="事项覆盖: service items of the period's cases")


class CaseTable(BaseModel):
    period: PeriodOut
    group: Group
    total: CaseTotal
    rows: list[CaseRow]
