"""The audit log as the API returns it."""

import uuid
from typing import Any

from pydantic import BaseModel, Field

from app.timefmt import LocalDateTime


class AuditEntryOut(BaseModel):
    id: int
    at: LocalDateTime
    actor: str = Field(description="'<role>:<client name>', or 'system:<job>', 'cli:<command>'")
    actor_key_id: uuid.UUID | None
    actor_client_id: uuid.UUID | None
    action: str = Field(
        description="'<METHOD> <route>' for writes, or a named action such as "
        "'rating.personal_data.read'"
    )
    target: str | None
    result: str
    request_id: str | None
    detail: dict[str, Any] | None = Field(
        description="For writes: rows changed per table ('changed') and the route's notes "
        "(e.g. created/duplicate/rejected counts of a rating batch)"
    )


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
