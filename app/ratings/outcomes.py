"""What ingestion makes of each event: its outcome, and what is to be stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ItemOutcome:
    index: int
    event_id: str | None
    status: str = "rejected"  # created | duplicate | rejected
    rating: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # HTTP status for a rejection when the event came alone (422, or 403 for another's data).
    http_status: int = 422
    problem_type: str = "validation-error"


@dataclass(slots=True)
class Accepted:
    outcome: ItemOutcome
    values: dict[str, Any]
    # The event as sent, in canonical form, and its keyed digest (privacy.payload_digest).
    canonical: bytes
    payload_hash: bytes
    # Refusals that depend on when or where the event arrives (too old, department since
    # deactivated): they apply to a new event, not to a retry of one already stored.
    deferred: list[dict[str, Any]] = field(default_factory=list)
