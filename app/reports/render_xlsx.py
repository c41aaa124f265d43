"""The bulletin as a workbook: its text on the first sheet, one sheet per table, and native
Excel charts (openpyxl) over the tables they name. Text cells are neutralised as the
statistics' exports do (app/stats/spreadsheet.py)."""

from __future__ import annotations

import io
import re
from typing import Any

from app.reports.document import Bulletin, Chart, Table
from app.stats.spreadsheet import cell_text

_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")


def _sheet_title(name: str, taken: set[str]) -> str:
    base = _FORBIDDEN.sub("-", cell_text(name)[0])[:31] or "表"
    title, n = base, 2
    while title in taken:
        suffix = f"-{n}"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title)
    return title


def _put(sheet, row: int, column: int, value: Any) -> None:
    out = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        text, formula_like = cell_text(value)
        out.value = text
        if formula_like:  # a string cell, never a formula
            out.data_type = "s"
            out.quotePrefix = True
        return
    out.value = value
    if isinstance(value, float):
        out.number_format = "0.00"


def _write_table(workbook, table: Table, taken: set[str]):
    from openpyxl.styles import Font

    sheet = workbook.create_sheet(_sheet_title(table.name, taken))
    for column, heading in enumerate(table.columns, start=1):
        _put(sheet, 1, column, heading)
        sheet.cell(row=1, column=column).font = Font(bold=True)
    for row_no, row in enumerate(table.rows, start=2):
        for column, value in enumerate(row, start=1):
            _put(sheet, row_no, column, value)
    sheet.freeze_panes = "A2"
    for column in range(1, len(table.columns) + 1):
        sheet.column_dimensions[sheet.cell(row=1, column=column).column_letter].width = 16
    return sheet


def _add_chart(sheet, table: Table, chart: Chart) -> None:
    from openpyxl.chart import BarChart, PieChart, Reference

    if not table.rows:
        return
    last = len(table.rows) + 1
    made = PieChart() if chart.kind == "pie" else BarChart()
    made.title = chart.title
    for column in chart.value_columns:
        data = Reference(sheet, min_col=column + 1, min_row=1, max_row=last)
        made.add_data(data, titles_from_data=True)
    categories = Reference(sheet, min_col=chart.category_column + 1, min_row=2, max_row=last)
    made.set_categories(categories)
    made.width, made.height = 18, 9
    anchor = sheet.cell(row=1, column=len(table.columns) + 2).coordinate
    sheet.add_chart(made, anchor)


def to_xlsx(bulletin: Bulletin) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    workbook = Workbook()
    text = workbook.active
    taken = {"通报"}
    text.title = "通报"
    _put(text, 1, 1, bulletin.title)
    text.cell(row=1, column=1).font = Font(bold=True, size=14)
    row = 2
    for section in bulletin.sections:
        if section.heading:
            row += 1
            _put(text, row, 1, section.heading)
            text.cell(row=row, column=1).font = Font(bold=True)
        for paragraph in section.paragraphs:
            row += 1
            _put(text, row, 1, paragraph)
            text.cell(row=row, column=1).alignment = Alignment(wrap_text=True)
    text.column_dimensions["A"].width = 120
    for section in bulletin.sections:
        for table in section.tables:
            sheet = _write_table(workbook, table, taken)
            for chart in section.charts:
                if chart.table == table.name:
                    _add_chart(sheet, table, chart)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
