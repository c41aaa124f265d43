"""An Excel workbook (.xlsx) read into the CSV text the department import previews (openpyxl,
server-side: the browser sends the file's bytes in the form, nothing else is uploaded)."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import zipfile
from datetime import date, datetime

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

MAX_ROWS = 5000


class SheetError(ValueError):
    """The file is no workbook we can read; the message is for people, in Chinese."""


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code typed as a number: 421102, not 421102.0
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def decode_upload(value: str) -> bytes:
    """The file's bytes from the form field (a data: URL as FileReader gives it, or base64)."""
    _, _, data = value.partition("base64,")
    try:
        return base64.b64decode(data or value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SheetError("文件内容无法读取，请重新选择文件") from exc


def xlsx_to_csv(data: bytes) -> str:
    """The first sheet's rows as CSV text (empty rows left out), at most MAX_ROWS."""
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SheetError("无法读取此文件：请选择 Excel 工作簿（.xlsx）") from exc
    try:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        written = 0
        for row in book.worksheets[0].iter_rows(values_only=True):
            cells = [_cell(v) for v in row]
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            written += 1
            if written > MAX_ROWS:
                raise SheetError(f"行数超过 {MAX_ROWS}，请分批导入")
            writer.writerow(cells)
        return out.getvalue()
    finally:
        book.close()
