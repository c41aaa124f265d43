"""What each kind of rule finds at `now`: the subjects whose condition holds, with evidence.

Read-only SQL over recent, indexed ranges (nothing here runs on the ingest path): a burst counts
the 差评 rated in the last M minutes (ix_rating_rated_at_id, or the department's index); a good
rate reads each department's last K ratings backwards on ix_rating_department_rated_at_id; a
silent tablet is one with no rating since one working day back within its department's recent
ratings; an order due soon is found on ix_work_order_next_due_at. Counted ratings are the valid
ones (withdrawn and appeal-invalidated ratings do not count, as in the figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.timefmt import BUSINESS_TZ
from app.workorders.calendar import WorkCalendar


@dataclass(frozen=True, slots=True)
class Finding:
    """A subject whose condition holds now."""

    subject_type: str
    subject_key: str
    department_code: str | None
    window_no: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


def _scope(department_code: str | None, column: str) -> str:
    return f" AND {column} = :department_code" if department_code else ""


_BURST = """
    SELECT department_code, window_no, count(*) AS bad
      FROM rating
     WHERE rated_at > :since AND rated_at <= :now AND is_bad AND status = 'valid'
       AND window_no IS NOT NULL{scope}
     GROUP BY department_code, window_no
    HAVING count(*) >= :threshold
"""


async def window_bad_burst(
    session: AsyncSession, params: dict[str, Any], department_code: str | None, now: datetime
) -> list[Finding]:
    """Windows with at least `threshold` 差评 rated in the last `minutes` minutes."""
    since = now - timedelta(minutes=params["minutes"])
    scope = _scope(department_code, "department_code")
    if params.get("window_no"):
        scope += " AND window_no = :window_no"
    rows = await session.execute(
        text(_BURST.format(scope=scope)),
        {
            "since": since,
            "now": now,
            "threshold": params["threshold"],
            "department_code": department_code,
            "window_no": params.get("window_no"),
        },
    )
    return [
        Finding(
            "window",
            f"{code}/{window_no}",
            code,
            window_no,
            {
                "bad_count": bad,
                "threshold": params["threshold"],
                "minutes": params["minutes"],
                "since": since,
            },
        )
        for code, window_no, bad in rows.all()
    ]


_GOOD_RATE = """
    SELECT d.code, s.counted, s.good
      FROM department d
     CROSS JOIN LATERAL (
           SELECT count(*) AS counted, count(*) FILTER (WHERE NOT last.is_bad) AS good
             FROM (SELECT r.is_bad
                     FROM rating r
                    WHERE r.department_code = d.code AND r.rated_at <= :now
                      AND r.status = 'valid'
                    ORDER BY r.rated_at DESC, r.id DESC
                    LIMIT :sample_size) AS last
           ) AS s
     WHERE d.active{scope} AND s.counted >= :sample_size
       AND s.good * 100.0 < CAST(:min_rate AS float8) * s.counted
"""


async def department_good_rate(
    session: AsyncSession, params: dict[str, Any], department_code: str | None, now: datetime
) -> list[Finding]:
    """Departments whose 好评率 over their last K counted ratings is below X%."""
    rows = await session.execute(
        text(_GOOD_RATE.format(scope=_scope(department_code, "d.code"))),
        {
            "now": now,
            "sample_size": params["sample_size"],
            "min_rate": params["min_rate_percent"],
            "department_code": department_code,
        },
    )
    return [
        Finding(
            "department",
            code,
            code,
            None,
            {
                "ratings": counted,
                "good": good,
                "good_rate": f"{good * 100 / counted:.2f}",
                "min_rate_percent": f"{params['min_rate_percent']:.2f}",
                "sample_size": params["sample_size"],
            },
        )
        for code, counted, good in rows.all()
    ]


def working_day_back(cal: WorkCalendar, now: datetime, days: int) -> datetime:
    """The same Beijing clock time `days` working days before `now`."""
    local = now.astimezone(BUSINESS_TZ)
    day = local.date()
    counted = 0
    while counted < days:
        day -= timedelta(days=1)
        if cal.is_workday(day):
            counted += 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=BUSINESS_TZ)


def in_working_hours(cal: WorkCalendar, now: datetime, start: time, end: time) -> bool:
    """A working day, between the working hours (Beijing)."""
    local = now.astimezone(BUSINESS_TZ)
    return cal.is_workday(local.date()) and start <= local.time() < end


_SILENT = """
    SELECT dv.id, dv.serial_no, dv.department_code, dv.window_no
      FROM device dv
      JOIN service_window w
        ON w.department_code = dv.department_code AND w.window_no = dv.window_no
      JOIN department d ON d.code = dv.department_code
     WHERE dv.active AND w.active AND d.active AND dv.created_at <= :since{scope}
       AND NOT EXISTS (
           SELECT 1 FROM rating r
            WHERE r.department_code = dv.department_code AND r.rated_at > :since
              AND r.client_id = dv.client_id)
"""


async def device_silent(
    session: AsyncSession,
    params: dict[str, Any],
    department_code: str | None,
    now: datetime,
    *,
    cal: WorkCalendar,
) -> list[Finding]:
    """Active tablets at active windows with no rating for `working_days` working days (a tablet
    registered since then is not judged yet)."""
    since = working_day_back(cal, now, params.get("working_days", 1))
    rows = await session.execute(
        text(_SILENT.format(scope=_scope(department_code, "dv.department_code"))),
        {"since": since, "department_code": department_code},
    )
    return [
        Finding(
            "device",
            str(device_id),
            code,
            window_no,
            {
                "serial_no": serial_no,
                "silent_since": since,
                "working_days": params.get("working_days", 1),
            },
        )
        for device_id, serial_no, code, window_no in rows.all()
    ]


_DUE_SOON = """
    SELECT id, department_code, window_no, current_stage, next_due_at
      FROM work_order
     WHERE next_due_at > :now AND next_due_at <= :soon_limit{scope}
"""


async def order_due_soon(
    session: AsyncSession,
    params: dict[str, Any],
    department_code: str | None,
    now: datetime,
    *,
    cal: WorkCalendar,
) -> list[Finding]:
    """Work orders whose current deadline falls within one working day and has not passed."""
    rows = await session.execute(
        text(_DUE_SOON.format(scope=_scope(department_code, "department_code"))),
        {"now": now, "soon_limit": cal.due_soon_limit(now), "department_code": department_code},
    )
    return [
        Finding(
            "order",
            str(order_id),
            code,
            window_no,
            {"order_id": order_id, "stage": stage, "due_at": due_at},
        )
        for order_id, code, window_no, stage, due_at in rows.all()
    ]
