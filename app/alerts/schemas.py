"""Alert rules (one typed body per kind) and alerts as the API shows them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.limits import InputModel
from app.timefmt import LocalDateTime

Kind = Literal["window_bad_burst", "department_good_rate", "device_silent", "order_due_soon"]
AlertState = Literal["open", "acknowledged", "all"]

_NAME = Field(min_length=1, max_length=200, examples=["A01 窗口差评激增"])
_DEPARTMENT = Field(
    default=None,
    min_length=1,
    max_length=64,
    description="The department the rule watches; absent or null: the whole centre",
)


class _RuleBase(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = _NAME
    department_code: str | None = _DEPARTMENT
    active: bool = True


class WindowBadBurst(_RuleBase):
    """差评 at one window reach `threshold` within `minutes` (a sliding window)."""

    kind: Literal["window_bad_burst"]
    window_no: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="One window of department_code; absent: every window in scope",
    )
    threshold: int = Field(ge=1, le=10_000, description="N: this many 差评 or more")
    minutes: int = Field(ge=1, le=1440, description="M: within this many minutes")

    @model_validator(mode="after")
    def _window_needs_department(self) -> WindowBadBurst:
        if self.window_no is not None and self.department_code is None:
            raise PydanticCustomError(
                "window_needs_department",
                "window_no needs department_code (a window is one department's)",
            )
        return self


class DepartmentGoodRate(_RuleBase):
    """A department's 好评率 over its last `sample_size` counted ratings is below the threshold
    (judged only once it has that many)."""

    kind: Literal["department_good_rate"]
    sample_size: int = Field(ge=1, le=10_000, description="K: the last K counted ratings")
    min_rate_percent: float = Field(gt=0, le=100, description="X: warn below this 好评率 (%)")


class DeviceSilent(_RuleBase):
    """A tablet whose window is open has posted no rating for `working_days` working days;
    judged on working days during working hours only."""

    kind: Literal["device_silent"]
    working_days: int = Field(default=1, ge=1, le=10)


class OrderDueSoon(_RuleBase):
    """A work order's current deadline falls within one working day (and has not passed)."""

    kind: Literal["order_due_soon"]


_KINDS = get_args(Kind)


class RuleIn(
    RootModel[
        Annotated[
            WindowBadBurst | DepartmentGoodRate | DeviceSilent | OrderDueSoon,
            Field(discriminator="kind"),
        ]
    ]
):
    """A rule: `kind` picks the body. Errors name the field as sent (`threshold`, not
    `window_bad_burst.threshold`; an unknown kind names `kind`)."""

    @model_validator(mode="wrap")
    @classmethod
    def _plain_field_names(cls, value: Any, handler: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            errors = []
            for error in exc.errors():
                loc = tuple(error["loc"])
                if error["type"].startswith("union_tag_"):
                    loc = ("kind",)
                elif loc and loc[0] in _KINDS:
                    loc = loc[1:]
                if error["type"] == "window_needs_department":
                    loc = ("window_no",)
                errors.append(
                    {
                        "type": PydanticCustomError(error["type"], error["msg"], error.get("ctx")),
                        "loc": loc,
                        "input": error["input"],
                    }
                )
            raise ValidationError.from_exception_data(exc.title, errors) from None


# The kind's own fields, stored as the rule's params.
COMMON_FIELDS = ("name", "department_code", "active", "kind")


class RuleUpdate(InputModel):
    """A partial update: the fields given replace the rule's, then the whole rule is checked
    against its kind (the kind cannot change); null clears department_code and window_no only."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    department_code: str | None = Field(default=None, min_length=1, max_length=64)
    active: bool | None = None
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    threshold: int | None = Field(default=None, ge=1, le=10_000)
    minutes: int | None = Field(default=None, ge=1, le=1440)
    sample_size: int | None = Field(default=None, ge=1, le=10_000)
    min_rate_percent: float | None = Field(default=None, gt=0, le=100)
    working_days: int | None = Field(default=None, ge=1, le=10)


class RuleOut(BaseModel):
    id: int
    name: str
    kind: Kind
    department_code: str | None
    active: bool
    params: dict[str, Any] = Field(description="The kind's parameters")
    created_at: LocalDateTime
    updated_at: LocalDateTime


class Acknowledgement(BaseModel):
    at: LocalDateTime
    key_id: uuid.UUID | None
    client_id: uuid.UUID | None
    name: str | None
    role: str | None
    note: str | None


class AlertOut(BaseModel):
    id: int
    rule_id: int | None = Field(description="null once the rule was deleted")
    rule_name: str
    kind: Kind
    state: Literal["open", "acknowledged"]
    active: bool = Field(description="The condition still holds (the episode is not over)")
    subject_type: Literal["window", "department", "device", "order"]
    subject_key: str
    department_code: str | None
    window_no: str | None
    evidence: dict[str, Any]
    first_seen_at: LocalDateTime
    last_seen_at: LocalDateTime
    cleared_at: LocalDateTime | None
    acknowledged: Acknowledgement | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class AckIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500, examples=["已电话联系窗口负责人"])
