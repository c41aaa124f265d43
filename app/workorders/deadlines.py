"""Deadline policy: named stages and their working-day counts (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.workorders.calendar import WorkCalendar

# contact: reach the rater; rectify: rectify and give feedback; complex: the extended deadline.
STAGES = ("contact", "rectify", "complex")
# "3、5、15" (Huanggang); Shanghai uses 1、5、15, Sichuan a single 15 ({"rectify": 15}).
DEFAULT_POLICY = {"contact": 3, "rectify": 5, "complex": 15}


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    stages: tuple[tuple[str, int], ...]

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> DeadlinePolicy:
        """Validate a policy written as {stage: working days}."""
        unknown = set(raw) - set(STAGES)
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGES)}")
        if "rectify" not in raw:
            raise ValueError("a policy needs a rectify stage")
        stages = []
        for name in STAGES:
            if name not in raw:
                continue
            days = raw[name]
            if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
                raise ValueError(f"stage {name}: working days must be an integer from 1 to 365")
            stages.append((name, days))
        policy = cls(tuple(stages))
        days = policy.as_dict()
        if "complex" in days and days["complex"] <= days["rectify"]:
            raise ValueError("the complex-case deadline must be longer than the rectify one")
        if "contact" in days and days["contact"] > days["rectify"]:
            raise ValueError("the contact deadline cannot be later than the rectify one")
        return policy

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
