"""The dashboard's leaderboards (windows and staff: top by volume and by 非常满意, bottom by
好评率) and its region filter: the same tables as GET /v1/stats/windows and /v1/stats/staff
(app.stats.tables), and the departments' 行政区划 codes (app.stats.scope)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from app.console import figures
from app.console.pages import ConsoleRoute, User, render, require_role
from app.db import Session
from app.registry import service as registry
from app.stats import tables
from app.stats.access import authorise
from app.stats.scope import region_at

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

TOP = 10
_REGION = re.compile(r"[0-9]{6,12}")
REGION_ERROR = "行政区划代码应为 6–12 位数字（如 421102），已显示全部区划"


def region_of(query) -> tuple[str | None, str | None]:
    """(the region filter, or None; the reason in Chinese when the given one is not a code)."""
    value = (query.get("region") or "").strip()
    if not value:
        return None, None
    if _REGION.fullmatch(value):
        return value, None
    return None, REGION_ERROR


async def region_options(session) -> list[str]:
    """The codes a supervisor may pick: every department's code and the city it lies in."""
    codes = {d.region_code for d in await registry.department_tree(session) if d.region_code}
    cities = {region_at(code, "city") for code in codes}
    return sorted(codes | cities)


def _bottom(table: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The last TOP ranked rows by 好评率 (the lowest first); unrated rows are not ranked."""
    ranked = [row for row in table[key] if row["rank"] is not None]
    return list(reversed(ranked[-TOP:]))


@router.get("/dashboard/leaderboards")
async def leaderboards(request: Request, session: Session, user: User):
    """Windows and staff: top TOP by counted ratings and by 非常满意, bottom TOP by 好评率, for
    the dashboard's period, channel and region (a fragment loaded after the page)."""
    require_role(user, "admin", "reader")
    authorise(user.principal)
    q = request.query_params
    choice = figures.choose(dict(q), request.app.state.clock())
    channel = q.get("channel") if q.get("channel") in figures.CHANNEL_ZH else None
    region, _ = region_of(q)
    filters = tables.TableFilters(region=region, channel=channel)
    now = request.app.state.clock()
    boards = []
    for what, table_of, key in (
        ("windows", tables.window_table, "windows"),
        ("staff", tables.staff_table, "staff"),
    ):
        by_count = await table_of(
            session, choice.period, filters, sort="counted", limit=TOP, now=now
        )
        by_best = await table_of(
            session, choice.period, filters, sort="level_5", limit=TOP, now=now
        )
        by_rate = await table_of(session, choice.period, filters, sort="good_rate", now=now)
        boards.append(
            {
                "what": what,
                "title": "窗口" if what == "windows" else "工作人员",
                "lists": [
                    ("counted", f"评价量前 {TOP}", by_count[key]),
                    ("level_5", f"非常满意前 {TOP}", by_best[key]),
                    ("good_rate_bottom", f"好评率后 {TOP}", _bottom(by_rate, key)),
                ],
                "total": by_count["total"],
            }
        )
    context = {"boards": boards, "fmt": figures.fmt, "period": choice.period.label}
    return render(request, "console/leaderboards.html", context, user=user)
