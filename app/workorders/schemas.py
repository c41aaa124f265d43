"""Work orders, complaints and the calendar as the API takes and returns them."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from app.limits import InputModel
from app.ratings.schemas import PHONE_PATTERN, RatingOut, Tag
from app.timefmt import LocalDateTime
from app.workorders.categories import COMPLAINT_CATEGORIES, COMPLAINT_SOURCES
from app.workorders.states import ACTIONS, EVIDENCE_KINDS, STATES

Action = Literal[*ACTIONS]
State = Literal[*STATES]
Source = Literal["rating", "complaint", "inspection"]
ComplaintSource = Literal[*COMPLAINT_SOURCES]
ComplaintCategory = Literal[*COMPLAINT_CATEGORIES]


class EvidenceIn(InputModel):
    """The rater's confirmation of a withdrawal: a callback record (`callback`: when the rater
    was called, what they said) or the rater's own request (`rater_request`: when they asked,
    their reason)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[*EVIDENCE_KINDS]
    called_at: AwareDatetime | None = Field(
        default=None, description="callback: when the rater was called (ISO 8601 with offset)"
    )
    requested_at: AwareDatetime | None = Field(
        default=None, description="rater_request: when the rater asked (ISO 8601 with offset)"
    )
    note: str = Field(
        min_length=1, max_length=2000, description="What the rater said, or their reason"
    )
    reference: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Where the record is kept, e.g. the call recording's number (录音编号)",
    )


class ActionIn(InputModel):
    """One step on an order. `note` says why or what was done (required where it matters)."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    note: str | None = Field(default=None, min_length=1, max_length=2000)
    substantiated: bool | None = Field(
        default=None, description="verify: is the problem real (an explanation if not)"
    )
    satisfied: bool | None = Field(
        default=None, description="callback: is the rater satisfied (no reopens the order)"
    )
    department_code: str | None = Field(
        default=None, min_length=1, max_length=64, description="transfer: the new department"
    )
    evidence: EvidenceIn | None = Field(
        default=None,
        description="request_withdrawal, withdraw: the rater's confirmation (required there)",
    )


class InspectionIn(InputModel):
    """An order opened by a supervisor from an inspection (暗访/督查)."""

    model_config = ConfigDict(extra="forbid")

    department_code: str = Field(min_length=1, max_length=64)
    summary: str = Field(min_length=1, max_length=2000)
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    staff_id: str | None = Field(default=None, min_length=1, max_length=64)
    tags: list[Tag] = Field(default_factory=list, max_length=16)
    found_at: AwareDatetime | None = Field(
        default=None, description="When the problem was found (default: now)"
    )


class Actor(BaseModel):
    key_id: uuid.UUID | None
    client_id: uuid.UUID | None
    name: str | None
    role: str | None


class HistoryEntry(BaseModel):
    seq: int
    action: str
    at: LocalDateTime
    actor: Actor
    note: str | None
    state_before: str | None
    state_after: str
    data: dict[str, Any]


class RoundOut(BaseModel):
    """One round of work on the order: a reopen starts the next and keeps this one."""

    round: int
    started_at: LocalDateTime = Field(description="What its deadlines are counted from")
    deadlines: dict[str, LocalDateTime]
    resolve_due_at: LocalDateTime = Field(description="Its rectification deadline in force")
    contacted_at: LocalDateTime | None
    resolved_at: LocalDateTime | None
    due_soon_at: LocalDateTime | None
    overdue_at: LocalDateTime | None
    late: bool = Field(description="Resolved after its deadline (or past it unresolved)")
    ended_at: LocalDateTime | None
    ended_by: str | None = Field(description="callback_unsatisfied (reopened), or the outcome")


class RatingStatusChangeOut(BaseModel):
    """A change of the rating's status: who, when, why and on what evidence."""

    status_before: str
    status_after: str
    at: LocalDateTime
    action: str
    actor: Actor
    reason: str | None
    evidence: dict[str, Any]


class ComplaintOut(BaseModel):
    order_no: str
    department_code: str
    window_no: str | None
    staff_id: str | None
    category: str | None
    source: str = Field(description="Where it came in: " + ", ".join(COMPLAINT_SOURCES))
    category_code: str | None = Field(description="Category code (its reason class: see the In)")
    content: str = Field(
        description="Phone numbers, 身份证号 and the caller's own name in it masked"
    )
    citizen: dict[str, str | None] | None = Field(description="Masked name and phone")
    received_at: LocalDateTime
    urgency: str


class TicketOut(BaseModel):
    id: int
    source: Source
    state: State
    department_code: str
    window_no: str | None
    staff_id: str | None
    summary: str | None = Field(
        description="From the comment or complaint it was opened for, masked as they are"
    )
    real_name: bool
    tags: list[str]
    rating_id: int | None
    complaint_order_no: str | None
    opened_at: LocalDateTime
    policy: dict[str, int] = Field(description="The deadline policy in force when it was opened")
    deadlines: dict[str, LocalDateTime] = Field(
        description="Each stage's deadline, 24:00 Asia/Shanghai of its last working day",
        examples=[{"contact": "2026-10-11T00:00:00+08:00", "rectify": "2026-10-14T00:00:00+08:00"}],
    )
    provisional: bool = Field(
        description="A deadline was counted in a year whose holidays are not yet known"
    )
    current_stage: str | None
    next_due_at: LocalDateTime | None
    due_soon: bool = Field(description="The pending deadline is within one working day")
    overdue: bool
    late: bool = Field(description="Overdue now, or resolved after its deadline")
    extended: bool
    substantiated: bool | None
    callback_satisfied: bool | None
    outcome: str | None
    resolved_at: LocalDateTime | None
    closed_at: LocalDateTime | None
    due_soon_at: LocalDateTime | None = Field(description="First seen due soon")
    overdue_at: LocalDateTime | None = Field(description="First seen overdue")
    reopen_count: int
    round: int = Field(description="The round being worked (1 + reopen_count)")
    late_rounds: int = Field(description="How many rounds were late; a reopen never clears one")
    rounds: list[RoundOut] = Field(description="Every round, the earlier ones as they ended")
    withdrawal_requests: int = Field(description="Withdrawals a department asked for")
    withdrawal_refusals: int = Field(description="Of those, refused by a supervisor")
    allowed_actions: list[str]


class TicketDetail(TicketOut):
    history: list[HistoryEntry]
    rating_status_changes: list[RatingStatusChangeOut] = Field(
        description="The rating's status changes (withdrawn, invalidated on appeal, restored)"
    )
    rating: RatingOut | None
    complaint: ComplaintOut | None


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None


class TicketCounts(BaseModel):
    total: int
    by_state: dict[str, int]
    overdue: int
    due_soon: int


class ComplaintIn(InputModel):
    """A 12345 complaint about a service window. Retrying with the same order_no is safe."""

    model_config = ConfigDict(extra="forbid")

    order_no: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[\x21-\x7e]+$",
        description="The 12345 work-order number (工单编号)",
    )
    department_code: str = Field(min_length=1, max_length=64)
    window_no: str | None = Field(default=None, min_length=1, max_length=32)
    staff_id: str | None = Field(default=None, min_length=1, max_length=64)
    category: str | None = Field(
        default=None, min_length=1, max_length=100, description="Free text: the detail"
    )
    source: ComplaintSource = Field(
        default="hotline_12345",
        description="hotline_12345 (12345热线), gov_platform (政务服务平台/国家平台投诉), "
        "cannot_do_window (办不成事窗口), onsite (现场/意见簿), other",
    )
    category_code: ComplaintCategory | None = Field(
        default=None,
        description="The category, each mapped to a reason class of the rating tags "
        "(counted with them in GET /v1/stats/reasons?source=all): "
        + ", ".join(f"{code} → {reason}" for code, reason in COMPLAINT_CATEGORIES.items()),
    )
    content: str = Field(min_length=1, max_length=5000)
    citizen_name: str | None = Field(default=None, min_length=1, max_length=100)
    citizen_phone: str | None = Field(default=None, max_length=32)
    received_at: AwareDatetime = Field(description="受理时间, ISO 8601 with offset")
    urgency: Literal["normal", "urgent"] = "normal"

    @field_validator("citizen_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().replace(" ", "")
        if value.startswith("+86"):
            value = value[3:]
        if not re.fullmatch(PHONE_PATTERN, value):
            raise ValueError("not a valid phone number")
        return value


class CitizenPersonalData(BaseModel):
    """A 12345 caller's personal data in clear (an audited read)."""

    order_no: str
    name: str | None
    phone: str | None
    content: str = Field(
        description="The content whole (every other response masks phones, ID numbers and the "
        "caller's name in it); once erased, its masked form"
    )
    erased_at: LocalDateTime | None = Field(
        description="When the retention job erased them (then name and phone are null)"
    )


class ComplaintTicket(BaseModel):
    complaint: ComplaintOut
    ticket: TicketDetail


class CalendarIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    holidays: list[date] = Field(
        default_factory=list, max_length=366, description="Days off (weekdays in the holidays)"
    )
    workdays: list[date] = Field(
        default_factory=list, max_length=366, description="Makeup workdays (调休) on weekends"
    )
    note: str | None = Field(default=None, max_length=500, description="e.g. the notice's number")


class CalendarOut(BaseModel):
    year: int
    source: Literal["entered", "package", "none"]
    provisional: bool
    holidays: list[date]
    workdays: list[date]
    note: str | None
    updated_at: LocalDateTime | None
    recomputed_orders: int | None = None


class RatingWithdrawalIn(InputModel):
    """The rater withdraws their 差评, through the portal they rated on."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000, description="The rater's own reason")


class RatingWithdrawalOut(BaseModel):
    rating_id: int
    status: Literal["withdrawn"]
    ticket_id: int
    withdrawn_at: LocalDateTime
    evidence: dict[str, Any] = Field(description="The rater's request, kept as the evidence")
