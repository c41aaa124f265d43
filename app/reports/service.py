"""The composite score served: the units' counts from the statistics and the case ledger,
scored by score.py, per department, window or staff member."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.reports import inputs
from app.reports.inputs import CaseCounts, window_name
from app.reports.score import INPUTS, ScorePolicy, UnitCounts, score_units
from app.stats.periods import Period

LEVELS = ("department", "window", "staff")
# Why an input may be unavailable for every unit of the period.
_NO_SOURCE = {"active_rate": "no case (办件) in the case ledger for the period"}


def department_units(table: dict[str, Any], cases: CaseCounts | None) -> list[UnitCounts]:
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


def window_key(row: dict[str, Any]) -> str:
    return f"{row['department_code']}|{row['window_no']}"


def people_units(
    rows: list[dict[str, Any]], cases: CaseCounts | None, level: str
) -> list[UnitCounts]:
    """One UnitCounts per row of the windows or staff table: 好评率, 按期整改率 (the unit's
    orders due by the period's end), complaints per 1,000 ratings and 主动评价率 (the case
    ledger's cases of that window or staff member); 实名差评回访率 is not kept per window or
    staff member, so it is unavailable there and its weight is shared out."""
    units = []
    for row in rows:
        key = window_key(row) if level == "window" else row["staff_id"]
        handled, rated = (None, None) if cases is None else cases.get(key, (0, 0))
        units.append(
            UnitCounts(
                key=key,
                name=window_name(row) if level == "window" else row["name"],
                counted=row["ratings"]["counted"],
                good=row["ratings"]["good"],
                deadline_due=row["deadline_due"],
                on_time=row["on_time"],
                complaints=row["complaints"]["counted"],
                cases_handled=handled,
                cases_rated=rated,
                extra={"department_code": row["department_code"]},
            )
        )
    return units


def score_table(
    period: Period,
    units: list[UnitCounts],
    cases: CaseCounts | None,
    policy: ScorePolicy,
    *,
    level: str = "department",
    only_department: str | None = None,
) -> dict[str, Any]:
    """Units scored and ranked, with the policy and what was unavailable and why."""
    rows = score_units(units, policy)
    unavailable = {
        name: _NO_SOURCE.get(name, "no unit had a denominator for it")
        for name in INPUTS
        if policy.weight(name) > 0 and rows and all(name in r["unavailable"] for r in rows)
    }
    if cases is None and policy.weight("active_rate") > 0:
        unavailable["active_rate"] = _NO_SOURCE["active_rate"]
    if level != "department" and policy.weight("callback_rate") > 0:
        unavailable["callback_rate"] = f"实名差评回访 not kept per {level}"
    scored = sum(1 for r in rows if r["rank"] is not None)
    if only_department is not None:
        department = {u.key: u.extra.get("department_code", u.key) for u in units}
        rows = [r for r in rows if department[r["key"]] == only_department]
    return {
        "period": period.as_json(),
        "level": level,
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
    level: str = "department",
    only_department: str | None = None,
) -> dict[str, Any]:
    """The 考核得分 of the period's departments, windows or staff (see score.py for the rule)."""
    cases = await inputs.case_rows(session, period, level)
    if level == "department":
        units = department_units(await inputs.department_table(session, period, now=now), cases)
    elif level == "window":
        units = people_units(await inputs.window_rows(session, period, now=now), cases, level)
    else:
        units = people_units(await inputs.staff_rows(session, period, now=now), cases, level)
    return score_table(period, units, cases, policy, level=level, only_department=only_department)
