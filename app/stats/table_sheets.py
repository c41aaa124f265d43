"""The window, staff and region tables as sheets (Chinese headings, one per JSON figure)."""

from __future__ import annotations

from typing import Any

from app.stats.exports import BAND_NAMES, _field, _rating_columns, totals
from app.stats.spreadsheet import Column, Sheet
from app.workorders.categories import COMPLAINT_SOURCE_NAMES

PRAISE_NAMES = {
    "praise_attitude": "服务热情",
    "praise_efficiency": "办事高效",
    "praise_professional": "业务熟练",
}
SAMPLE_GROUP_NAMES = {
    "50_plus": "50及以上",
    "30_to_50": "30-50",
    "10_to_30": "10-30",
    "under_10": "10以下",
}


def _complaint_columns() -> list[Column]:
    return [
        Column("投诉数", lambda item: item["complaints"]["counted"]),
        *(
            Column(f"投诉数-{name}", lambda item, s=source: item["complaints"]["by_source"][s])
            for source, name in COMPLAINT_SOURCE_NAMES.items()
        ),
    ]


def _target_columns() -> list[Column]:
    return [
        *_rating_columns(),
        *(
            Column(f"表扬-{name}", lambda item, t=tag: item["praise"][t])
            for tag, name in PRAISE_NAMES.items()
        ),
        *_complaint_columns(),
        Column("督查数", _field("inspections")),
        Column("应按期数", _field("deadline_due")),
        Column("按期整改数", _field("on_time")),
        Column("按期整改率(%)", _field("on_time_rate")),
        Column("样本量分组", _sample_group),
    ]


def _sample_group(item: dict[str, Any]) -> str | None:
    return SAMPLE_GROUP_NAMES.get(item.get("sample_group") or "")


def window_table_sheet(table: dict[str, Any]) -> Sheet:
    columns = [
        Column("排名", _field("rank")),
        Column("部门编码", _field("department_code")),
        Column("部门名称", _field("department_name")),
        Column("窗口号", _field("window_no")),
        Column("窗口名称", _field("name")),
        *_target_columns(),
    ]
    rows = table["windows"]
    return Sheet(f"窗口满意度 {table['period']['label']}", columns, rows, totals(rows))


def staff_table_sheet(table: dict[str, Any]) -> Sheet:
    columns = [
        Column("排名", _field("rank")),
        Column("工号", _field("staff_id")),
        Column("姓名", _field("name")),
        Column("部门编码", _field("department_code")),
        Column("部门名称", _field("department_name")),
        Column("窗口号", _field("window_no")),
        *_target_columns(),
    ]
    rows = table["staff"]
    return Sheet(f"工作人员满意度 {table['period']['label']}", columns, rows, totals(rows))


def region_table_sheet(table: dict[str, Any]) -> Sheet:
    columns = [
        Column("排名", _field("rank")),
        Column("行政区划代码", _field("region_code")),
        Column("部门数", _field("departments")),
        *_rating_columns(),
        Column("满意度档次", lambda item: BAND_NAMES.get(item.get("band") or "")),
        *_complaint_columns(),
        Column("样本量分组", _sample_group),
    ]
    rows = table["regions"]
    return Sheet(f"区域满意度 {table['period']['label']}", columns, rows, totals(rows))
