"""The department table as CSV and XLSX, with Chinese headings, for the quarterly 通报."""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

BAND_NAMES = {"100": "100%", "90-100": "90%-100%", "80-90": "80%-90%", "below-80": "低于80%"}

# (heading, how to get the value from a department row); rates are percentages.
COLUMNS: list[tuple[str, Any]] = [
    ("排名", lambda r: r["rank"]),
    ("部门编码", lambda r: r["code"]),
    ("部门名称", lambda r: r["name"]),
    ("有效评价数", lambda r: r["ratings"]["counted"]),
    ("非常满意", lambda r: r["ratings"]["by_level"]["5"]),
    ("满意", lambda r: r["ratings"]["by_level"]["4"]),
    ("基本满意", lambda r: r["ratings"]["by_level"]["3"]),
    ("不满意", lambda r: r["ratings"]["by_level"]["2"]),
    ("非常不满意", lambda r: r["ratings"]["by_level"]["1"]),
    ("好评数", lambda r: r["ratings"]["good"]),
    ("差评数", lambda r: r["ratings"]["bad"]),
    ("好评率(%)", lambda r: r["ratings"]["good_rate"]),
    ("差评率(%)", lambda r: r["ratings"]["bad_rate"]),
    ("撤回评价数", lambda r: r["ratings"]["withdrawn"]),
    ("无效评价数", lambda r: r["ratings"]["invalidated"]),
    ("疑似异常评价数", lambda r: r["ratings"].get("flagged")),
    ("满意度档次", lambda r: BAND_NAMES.get(r["band"], "")),
    ("差评工单数", lambda r: r["workorders"].get("opened")),
    ("已办结工单数", lambda r: r["workorders"].get("closed")),
    ("差评整改率(%)", lambda r: r["workorders"].get("rectification_rate")),
    ("按期整改率(%)", lambda r: r["workorders"].get("on_time_rate")),
]
HEADINGS = [heading for heading, _ in COLUMNS]
_RATE_COLUMNS = {i for i, (h, _) in enumerate(COLUMNS) if h.endswith("(%)")}


def _cells(row: dict[str, Any]) -> list[Any]:
    return [get(row) for _, get in COLUMNS]


def to_csv(table: dict[str, Any]) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADINGS)
    for row in table["departments"]:
        cells = _cells(row)
        writer.writerow(
            [
                ("" if v is None else f"{v:.2f}")
                if i in _RATE_COLUMNS
                else ("" if v is None else v)
                for i, v in enumerate(cells)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: dict[str, Any]) -> bytes:
    """One sheet, numbers as numbers, rates shown with two decimals."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"部门满意度 {table['period']['label']}"[:31].replace(":", "-")
    sheet.append(HEADINGS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table["departments"]:
        sheet.append(_cells(row))
        for i in _RATE_COLUMNS:
            sheet.cell(row=sheet.max_row, column=i + 1).number_format = "0.00"
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["C"].width = 24
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
