"""The composite score served: departments' counts from the statistics, scored by score.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.reports import inputs
from app.reports.score import INPUTS, ScorePolicy, UnitCounts, score_units
from app.stats.periods import Period

# Why an input may be unavailable for every unit of the period.
_NO_SOURCE = {"active_rate": "no case ledger (办件量) kept for the period"}


def department_units(
    table: dict[str, Any], cases: dict[str | None, tuple[int, int]] | None
) -> list[UnitCounts]:
    """One UnitCounts per department row of the statistics' department table."""
    units = []
    for row in table["departments"]:
        ratings, orders = row["ratings"], row["workorders"]
        handled, rated = (None, None) if cases is None else cases.get(row["code"], (0, 0))
        units.append(
            UnitCounts(
                key=row["code"],
                name=row["name"],
                counted=ratings["counted"],
                good=ratings["good"],
                deadline_due=orders["rating"]["deadline_due"],
                on_time=orders["rating"]["on_time"],
                real_name=orders["rating"]["real_name"],
                real_name_called_back=orders["rating"]["real_name_called_back"],
                complaints=orders["complaint"]["counted"],
                cases_handled=handled,
                cases_rated=rated,
            )
        )
    return units


def score_table(
    period: Period,
    table: dict[str, Any],
    cases: dict[str | None, tuple[int, int]] | None,
    policy: ScorePolicy,
    *,
    only_department: str | None = None,
) -> dict[str, Any]:
    """Departments scored and ranked, with the policy and what was unavailable and why."""
    rows = score_units(department_units(table, cases), policy)
    unavailable = {
        name: _NO_SOURCE.get(name, "no unit had a denominator for it")
        for name in INPUTS
        if policy.weight(name) > 0 and rows and all(name in r["unavailable"] for r in rows)
    }
    if cases is None and policy.weight("active_rate") > 0:
        unavailable["active_rate"] = _NO_SOURCE["active_rate"]
    scored = sum(1 for r in rows if r["rank"] is not None)
    if only_department is not None:
        rows = [r for r in rows if r["key"] == only_department]
    return {
        "period": period.as_json(),
        "level": "department",
        "policy": policy.as_json(),
        "unavailable_inputs": unavailable,
        "units_scored": scored,
        "units": rows,
    }


async def scores(
    session: AsyncSession,
    period: Period,
    *,
    now: datetime,
    policy: ScorePolicy,
    only_department: str | None = None,
) -> dict[str, Any]:
    """The departments' 考核得分 for the period (see score.py for the rule)."""
    table = await inputs.department_table(session, period, now=now)
    cases = await inputs.case_rows(session, period)
    return score_table(period, table, cases, policy, only_department=only_department)
