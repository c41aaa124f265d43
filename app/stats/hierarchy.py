"""Departments with their children (parent_code), and the complaints by source per department.

A parent department's own figures hold only its own ratings; asked `include_children`, each
row sums the department and every department below it (counts only: rates are taken again on
the sums).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.registry import service as registry
from app.stats.periods import Period
from app.stats.queries import Flagged
from app.stats.scope import descendants
from app.stats.tally import Tally
from app.workorders import figures as workorders
from app.workorders.categories import COMPLAINT_SOURCES


async def complaint_sources(session: AsyncSession, period: Period) -> dict[str, dict[str, int]]:
    """{department_code: {source: complaints received in the period}}."""
    out: dict[str, dict[str, int]] = {}
    for code, _, source, n in await workorders.complaint_reasons(
        session, start=period.start_at, end=period.end_at, departments=None
    ):
        by = out.setdefault(code, dict.fromkeys(COMPLAINT_SOURCES, 0))
        by[source] += n
    return out


def _sum_counts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):
                out[key] = _sum_counts([out.get(key, {}), value])
            else:
                out[key] = out.get(key, 0) + value
    return out


async def subtrees(
    session: AsyncSession,
    departments: list[tuple[str, str | None, Tally]],
    orders: dict[str, Any],
    flagged: Flagged,
    complaints: dict[str, dict[str, int]],
) -> tuple[list[tuple[str, str | None, Tally]], dict[str, Any], Flagged, dict[str, Any]]:
    """The department rows, work-order counts, flagged counts and complaints, each
    department's summed over itself and its descendants."""
    registered = await registry.department_tree(session)
    tallies = {code: tally for code, _, tally in departments}
    out_rows, out_orders, out_flagged, out_complaints = [], {}, {}, {}
    for code, name, _ in departments:
        below = descendants(registered, code) | {code}
        total = Tally()
        for member in below:
            for (status, level), n in tallies.get(member, Tally()).counts.items():
                total.add(status, level, n)
        out_rows.append((code, name, total))
        out_orders[code] = _sum_counts([orders[m] for m in below if m in orders])
        out_flagged[code] = sum(flagged.of("department", m) for m in below)
        out_complaints[code] = _sum_counts([complaints[m] for m in below if m in complaints])
    by = {**flagged.by, "department": out_flagged}
    return out_rows, out_orders, Flagged(flagged.total, by), out_complaints
