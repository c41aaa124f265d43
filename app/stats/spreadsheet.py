"""A sheet of figures written as CSV or XLSX: rates with two decimals, safe for Excel."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Column:
    heading: str
    get: Callable[[dict[str, Any]], Any]

    @property
    def is_rate(self) -> bool:
        return self.heading.endswith("(%)")


@dataclass(frozen=True, slots=True)
class Sheet:
    """A table: its title, its columns and one item (a dict) per row."""

    title: str
    columns: Sequence[Column]
    items: Sequence[dict[str, Any]]
    # XLSX only: a totals row after the items (its first cell reads 合计)
    totals: dict[str, Any] | None = None


def to_csv(sheet: Sheet) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese right;
    rates with two decimals (89.80)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.heading for c in sheet.columns])
    for item in sheet.items:
        cells = []
        for column in sheet.columns:
            value = column.get(item)
            if value is None:
                cells.append("")
            elif column.is_rate:
                cells.append(f"{value:.2f}")
            elif isinstance(value, str):
                text, formula_like = cell_text(value)
                # OWASP's advice for CSV: a leading quote, so that no program evaluates it.
                cells.append("'" + text if formula_like else text)
            else:
                cells.append(value)
        writer.writerow(cells)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# Text that a spreadsheet program reads as a formula (or a DDE call): these first characters,
# full-width forms included (a Chinese input method types them).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# What a cell cannot hold (openpyxl refuses C0 but tab, LF and CR) or should not: DEL, C1 and
# lone surrogates. Refused at input since; stripped here from what was stored before.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def cell_text(value: str) -> tuple[str, bool]:
    """The text without control characters, and whether it could be taken for a formula."""
    text = _UNPRINTABLE.sub("", value)
    return text, text.startswith(_FORMULA_START)


_SHEET_TITLE_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")


def to_xlsx(sheet: Sheet, caption: str | None = None) -> bytes:
    """One sheet, numbers as numbers, rates shown with two decimals: a title row (`caption`,
    e.g. the centre and the period), the headings, the items, then the totals row if any."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    out = workbook.active
    out.title = _SHEET_TITLE_FORBIDDEN.sub("-", cell_text(sheet.title)[0])[:31]
    out.append([cell_text(caption or sheet.title)[0]])
    out["A1"].font = Font(bold=True, size=14)
    out["A1"].data_type = "s"
    out.append([c.heading for c in sheet.columns])
    for cell in out[2]:
        cell.font = Font(bold=True)
    rates = [i for i, c in enumerate(sheet.columns, start=1) if c.is_rate]
    rows = list(sheet.items)
    if sheet.totals is not None:
        rows.append(sheet.totals)
    for item in rows:
        values = [c.get(item) for c in sheet.columns]
        if item is sheet.totals:
            values[0] = "合计"
        texts = {}
        for i, value in enumerate(values):
            if isinstance(value, str):
                values[i], formula_like = cell_text(value)
                if formula_like:
                    texts[i + 1] = values[i]
        out.append(values)
        row = out.max_row
        for i in rates:
            out.cell(row=row, column=i).number_format = "0.00"
        for i, text in texts.items():
            # A string cell, never a formula (openpyxl makes one of any text starting with
            # "="), with the quote prefix that keeps it text when someone edits it.
            cell = out.cell(row=row, column=i)
            cell.value = text
            cell.data_type = "s"
            cell.quotePrefix = True
    if sheet.totals is not None:
        for cell in out[out.max_row]:
            cell.font = Font(bold=True)
    out.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
