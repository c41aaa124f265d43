"""The supervisor's dashboard and a department's page: the statistics API's figures (the same
service calls, the same access rule: app.stats.access), with charts, and exports a click away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.console import alerts as alert_panel
from app.console import boards, figures
from app.console.pages import ConsoleRoute, User, render, require_role, see_other
from app.db import Session
from app.errors import NotFound
from app.ratings import service as ratings
from app.stats import exports, service, spreadsheet
from app.stats.access import authorise, only_department
from app.workorders import reading, states
from app.workorders.access import counted_filter
from app.workorders.repository import OrderFilter

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

_CHANNELS = tuple(figures.CHANNEL_ZH)


def _channel(query) -> str | None:
    value = query.get("channel")
    return value if value in _CHANNELS else None


async def _together(request: Request, *reads: Callable[[AsyncSession], Awaitable[Any]]):
    """Independent reads, each on a session of its own, at once (the page waits for the
    slowest, not for their sum); nothing is written."""
    maker = request.app.state.sessionmaker

    async def one(read):
        async with maker() as session:
            return await read(session)

    return await asyncio.gather(*(one(read) for read in reads))


def _open(department_code: str | None = None) -> OrderFilter:
    """The orders not closed (what the cards count now)."""
    return OrderFilter(department_code=department_code, state=list(states.NOT_CLOSED))


def _chart_json(data: dict[str, Any]) -> str:
    # In a <script type="application/json">: "</" must not close the element early.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _trend(months: list[tuple[str, dict[str, Any]]]) -> dict[str, list]:
    return {
        "labels": [m for m, _ in months],
        "counted": [r["counted"] for _, r in months],
        "bad": [r["bad"] for _, r in months],
        "good_rate": [r["good_rate"] for _, r in months],
    }


def _channels(by_channel: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": figures.CHANNEL_ZH.get(ch, ch), "value": block["counted"]}
        for ch, block in by_channel.items()
        if block["counted"]
    ]


def _reasons(rows: list[dict[str, Any]]) -> dict[str, list]:
    return {"names": [r["name"] for r in rows], "counts": [r["count"] for r in rows]}


@router.get("/dashboard")
async def dashboard(request: Request, session: Session, user: User):
    """Headline cards against the previous period, the ranked and banded department table,
    charts; admin and reader keys (as GET /v1/stats/*)."""
    require_role(user, "admin", "reader")
    authorise(user.principal)
    q = dict(request.query_params)
    if q.get("department"):
        # The department filter: that department's own page, for the same period.
        drop = ("department", "channel", "region")
        rest = urlencode({k: v for k, v in q.items() if k not in drop})
        return see_other(f"/console/departments/{quote(q['department'], safe='')}?{rest}")
    now = request.app.state.clock()
    choice = figures.choose(q, now)
    channel = _channel(q)
    region, region_error = boards.region_of(q)
    principal = user.principal
    current, previous, table, reasons, orders, alerts, regions = await _together(
        request,
        lambda s: service.overview(s, choice.period, now=now),
        lambda s: service.overview(s, choice.previous, now=now),
        lambda s: service.department_table(
            s,
            choice.period,
            filters=service.Filters(channel=channel),
            only_department=only_department(principal),
            now=now,
            region=region,
        ),
        lambda s: service.reasons(s, choice.period, filters=service.Filters(channel=channel)),
        lambda s: reading.counts(s, counted_filter(principal, _open()), now=now),
        lambda s: alert_panel.panel(s, principal),
        boards.region_options,
    )
    context = {
        "alerts": alerts,
        "choice": choice,
        "q": q,
        "kinds": figures.KINDS,
        "channels": figures.CHANNEL_ZH,
        "channel": channel,
        "regions": regions,
        "region": region,
        "region_error": region_error,
        "fragment_query": _fragment_query(choice, q),
        "filter_query": _filters_query(channel, region),
        "department_names": [(row["code"], row["name"]) for row in table["departments"]],
        "bands": figures.BAND_ZH,
        "cards": figures.cards(current, previous),
        "orders": orders,
        "table": table,
        "fmt": figures.fmt,
        "fmt_delta": figures.fmt_delta,
        # The period as the picker names it (kind and label, or from–to), and the filters.
        # The bulletin of the chosen month, quarter or year (a custom range: this quarter's).
        "bulletin_period": choice.period.label
        if choice.kind != "custom"
        else figures.choose({}, now).period.label,
        "export_query": "&".join(
            part for part in (_fragment_query(choice, q), _filters_query(channel, region)) if part
        ),
        "chart_data": _chart_json(
            {
                "channels": _channels(current["by_channel"]),
                "reasons": _reasons(reasons["reasons"]),
            }
        ),
    }
    return render(request, "console/dashboard.html", context, user=user)


def _filters_query(channel: str | None, region: str | None) -> str:
    return urlencode({k: v for k, v in (("channel", channel), ("region", region)) if v})


def _fragment_query(choice: figures.Choice, q: dict[str, str]) -> str:
    """The period, as the fragments loaded after the dashboard ask for it."""
    if choice.kind == "custom":
        return urlencode({"kind": "custom", "from": q.get("from", ""), "to": q.get("to", "")})
    return urlencode({"kind": choice.kind, choice.kind: choice.period.label})


@router.get("/dashboard/trend")
async def trend(request: Request, session: Session, user: User):
    """The centre's monthly trend: a fragment the dashboard loads after it is shown (a year's
    months cost more than the rest of the page)."""
    require_role(user, "admin", "reader")
    choice = figures.choose(dict(request.query_params), request.app.state.clock())
    months = await service.monthly_ratings(session, choice.period)
    data = _trend([(m["month"], m["ratings"]) for m in months])
    return render(request, "console/trend.html", {"trend_data": _chart_json(data)}, user=user)


@router.get("/dashboard/heatmap")
async def heatmap(request: Request, session: Session, user: User):
    """Ratings and 差评 by hour of day and weekday (where and when it goes wrong): a fragment
    the dashboard loads after it is shown (it reads the ratings themselves, not a roll-up)."""
    require_role(user, "admin", "reader")
    choice = figures.choose(dict(request.query_params), request.app.state.clock())
    cells = await ratings.when_rated(session, choice.period.start_at, choice.period.end_at)
    data = {
        "ratings": [[hour, weekday - 1, n] for weekday, hour, n, _ in cells],
        "bad": [[hour, weekday - 1, bad] for weekday, hour, _, bad in cells if bad],
    }
    return render(request, "console/heatmap.html", {"heatmap_data": _chart_json(data)}, user=user)


@router.get("/departments/{code}")
async def department_page(
    request: Request, session: Session, user: User, code: str = Path(max_length=64)
):
    """One department: monthly trend, windows, staff, reasons, its orders (a department key
    its own only, as GET /v1/stats/departments/{code})."""
    authorise(user.principal, code)
    q = dict(request.query_params)
    now = request.app.state.clock()
    choice = figures.choose(q, now)
    detail, previous = await _together(
        request,
        lambda s: service.department_detail(s, choice.period, code, now=now),
        lambda s: service.department_detail(s, choice.previous, code, now=now),
    )
    orders = None
    if user.role in ("admin", "department"):
        orders = await reading.counts(
            session, counted_filter(user.principal, _open(department_code=code)), now=now
        )
    context = {
        "choice": choice,
        "q": q,
        "kinds": figures.KINDS,
        "d": detail,
        "bands": figures.BAND_ZH,
        "cards": figures.cards(detail, previous),
        "orders": orders,
        "fmt": figures.fmt,
        "fmt_delta": figures.fmt_delta,
        "chart_data": _chart_json(
            {
                "trend": _trend([(m["month"], m["ratings"]) for m in detail["trend"]]),
                "channels": _channels(detail["by_channel"]),
                "reasons": _reasons(detail["reasons"]),
            }
        ),
    }
    return render(request, "console/department.html", context, user=user)


_EXPORTS = {
    "overview": exports.overview_sheet,
    "departments": exports.department_table_sheet,
    "reasons": exports.reasons_sheet,
}


@router.get("/exports/{what}.{fmt}")
async def export(request: Request, session: Session, user: User, what: str, fmt: str):
    """The statistics exports (CSV or XLSX, Chinese headings) for the signed-in person: the
    same sheets as GET /v1/stats/*?format=."""
    if what not in _EXPORTS or fmt not in ("csv", "xlsx"):
        raise NotFound(f"No export {what}.{fmt}", zh_detail="没有这种导出")
    authorise(user.principal)
    now = request.app.state.clock()
    choice = figures.choose(dict(request.query_params), now)
    filters = service.Filters(channel=_channel(request.query_params))
    region, _ = boards.region_of(request.query_params)
    if what == "overview":
        content = await service.overview(session, choice.period, now=now)
    elif what == "departments":
        content = await service.department_table(
            session,
            choice.period,
            filters=filters,
            min_sample=0,
            sort="rank",
            order=None,
            only_department=only_department(user.principal),
            now=now,
            region=region,
        )
    else:
        content = await service.reasons(
            session,
            choice.period,
            filters=filters,
            only_department=only_department(user.principal),
        )
    sheet = _EXPORTS[what](content)
    name = f"{what}-{choice.period.label.replace('..', '_')}.{fmt}"
    if fmt == "csv":
        body, media = spreadsheet.to_csv(sheet), exports.CSV_MEDIA_TYPE
    else:
        body, media = spreadsheet.to_xlsx(sheet), exports.XLSX_MEDIA_TYPE
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
