"""How a table cell is written in the documents: rates with two decimals, None as —."""

from __future__ import annotations

from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
