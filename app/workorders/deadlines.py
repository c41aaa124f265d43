"""Deadline policy: named stages and their working-day counts (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.config import parse_deadline_policy
from app.workorders.calendar import WorkCalendar

# "3、5、15" (Huanggang); Shanghai uses 1、5、15, Sichuan a single 15 ({"rectify": 15}).
DEFAULT_POLICY = {"contact": 3, "rectify": 5, "complex": 15}


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    stages: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> DeadlinePolicy:
        """Validate a policy written as {stage: working days} (the rules: app.config, which
        refuses a bad HAOCHAPING_DEADLINE_POLICY at start)."""
        return cls(parse_deadline_policy(raw))

    def as_dict(self) -> dict[str, int]:
        return dict(self.stages)

    def has(self, stage: str) -> bool:
        return stage in self.as_dict()

    def deadlines(self, cal: WorkCalendar, basis_at: datetime) -> tuple[dict[str, datetime], bool]:
        """Each stage's deadline counted from receipt, and whether any is provisional."""
        out: dict[str, datetime] = {}
        provisional = False
        for name, days in self.stages:
            deadline = cal.add_working_days(basis_at, days)
            out[name] = deadline.due_at
            provisional = provisional or deadline.provisional
        return out, provisional
