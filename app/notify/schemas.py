"""Webhook subscriptions and their deliveries as the API shows them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints, field_validator

from app.limits import InputModel
from app.timefmt import LocalDateTime

EventType = Literal[
    "ticket.opened",
    "ticket.due_soon",
    "ticket.overdue",
    "ticket.closed",
    "complaint.closed",
    "alert.raised",
    "alert.cleared",
]
WebhookUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048)]


class SubscriptionIn(InputModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: WebhookUrl
    event_types: list[EventType] = Field(min_length=1, max_length=7)
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, description="Generated when absent"
    )


class SubscriptionUpdate(InputModel):
    """A partial update: only the fields given change; null is refused (422)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=7)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    active: bool | None = None

    @field_validator("name", "url", "event_types", "secret", "active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # A partial update: a field left out keeps its value; null is not one.
        if value is None:
            raise ValueError("must not be null (leave the field out to keep its value)")
        return value


class DeliveryStatus(BaseModel):
    delivered: int
    pending: int
    failed: int
    last_delivered_at: LocalDateTime | None
    last_attempt_at: LocalDateTime | None
    last_error: str | None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    event_types: list[str]
    active: bool
    secret: str | None = Field(default=None, description="Shown once, when created")
    created_at: LocalDateTime
    deliveries: DeliveryStatus


class DeliveryOut(BaseModel):
    id: int
    event_id: uuid.UUID
    event_type: str
    created_at: LocalDateTime
    attempts: int
    next_attempt_at: LocalDateTime
    last_attempt_at: LocalDateTime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: LocalDateTime | None
    failed_at: LocalDateTime | None
    status: Literal["pending", "delivered", "failed"]
