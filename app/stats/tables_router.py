"""The report tables: windows and staff across the centre, regions (JSON, CSV, XLSX)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.clock import Now
from app.db import Session
from app.ratings.schemas import Channel
from app.stats import regions, table_sheets, tables
from app.stats.access import StatsReader, authorise, only_department
from app.stats.queries import Filters
from app.stats.router import (
    Centre,
    Format,
    IncludeChildren,
    RaterType,
    Region,
    SampleGroup,
    ThePeriod,
    _answer,
    _responses,
)
from app.stats.scope import REGION_LEVELS
from app.stats.table_schemas import RegionTable, StaffTable, WindowTable

router = APIRouter(prefix="/v1/stats", tags=["statistics"])

Department = Annotated[
    str | None,
    Query(
        max_length=64,
        description="Only this department's rows (with include_children: and those below it); "
        "unknown: 422",
    ),
]
Sort = Annotated[
    Literal[tables.TABLE_SORTS],  # type: ignore[valid-type]
    Query(
        description="What ranks, highest first: counted (评价量), level_5 (非常满意数), good_rate "
        "(好评率), bad (差评数), complaints (投诉数)"
    ),
]
Limit = Annotated[int | None, Query(ge=1, le=10000, description="Top N rows (after ranking)")]


def table_filters(
    principal: StatsReader,
    department: Department = None,
    include_children: IncludeChildren = False,
    region: Region = None,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
    sample_group: SampleGroup = None,
) -> tables.TableFilters:
    """The window and staff tables' filters; a department key sees its own department's rows
    only."""
    own = only_department(principal)
    authorise(principal, department)
    return tables.TableFilters(
        department=department or own,
        include_children=include_children if department else False,
        region=region,
        channel=channel,
        rater_type=rater_type,
        sample_group=sample_group,
    )


TableFilters = Annotated[tables.TableFilters, Depends(table_filters)]


@router.get("/windows", response_model=WindowTable, responses=_responses("The window table"))
async def windows(
    session: Session,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    now: Now,
    filters: TableFilters,  # with the key's check (StatsReader)
    sort: Sort = "counted",
    limit: Limit = None,
):
    """Every window of the centre in one table (窗口排名): counted ratings by level, 非常满意,
    好评率, 差评, praise tags, complaints by source and inspections against it, 按期整改率."""
    table = await tables.window_table(session, period, filters, sort=sort, limit=limit, now=now)
    return _answer(kind, table, table_sheets.window_table_sheet,
                   "windows", centre)  # fmt: skip


@router.get("/staff", response_model=StaffTable, responses=_responses("The staff table"))
async def staff(
    session: Session,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    now: Now,
    filters: TableFilters,  # with the key's check (StatsReader)
    sort: Sort = "counted",
    limit: Limit = None,
):
    """Every staff member (工号) of the centre in one table (服务之星), named from the staff
    register (an unregistered id still counts, shown as its id)."""
    table = await tables.staff_table(session, period, filters, sort=sort, limit=limit, now=now)
    return _answer(kind, table, table_sheets.staff_table_sheet,
                   "staff", centre)  # fmt: skip


@router.get("/regions", response_model=RegionTable, responses=_responses("The region table"))
async def region_table(
    session: Session,
    principal: StatsReader,
    period: ThePeriod,
    kind: Format,
    centre: Centre,
    level: Annotated[
        Literal[REGION_LEVELS],  # type: ignore[valid-type]
        Query(description="Group departments by the province, city or county of their code"),
    ] = "county",
    region: Region = None,
    channel: Channel | None = None,
    rater_type: RaterType | None = None,
    sample_group: SampleGroup = None,
):
    """Cities or counties ranked by 好评率, then volume (seed 003), from the departments'
    行政区划 codes; complaints by source beside."""
    authorise(principal)
    table = await regions.region_table(
        session,
        period,
        level=level,
        region=region,
        filters=Filters(channel=channel, rater_type=rater_type),
        sample=sample_group,
    )
    return _answer(kind, table, table_sheets.region_table_sheet,
                   "regions", centre)  # fmt: skip
