"""The bulletin as data: sections of Chinese text, tables and chart specs (no I/O).

The renderers (render_docx, render_xlsx, render_html) write the same Bulletin; the JSON form
(`as_json`) is what the API gives for `format=json` and what the tests compare.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from app.stats.periods import Period


@dataclass(frozen=True, slots=True)
class Table:
    """A table: `name` (its sheet's title), Chinese column headings and rows of cells (int,
    float rates shown with two decimals, str, or None for 无数据)."""

    name: str
    columns: list[str]
    rows: list[list[Any]]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "columns": self.columns, "rows": self.rows}


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart over one of the section's tables: categories from one column, a series per
    value column."""

    kind: Literal["bar", "pie"]
    title: str
    table: str
    category_column: int
    value_columns: list[int]

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "table": self.table,
            "category_column": self.category_column,
            "value_columns": self.value_columns,
        }


@dataclass(slots=True)
class Section:
    """One heading of the bulletin: `key` a stable code, `heading` the Chinese title."""

    key: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    has_data: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "heading": self.heading,
            "has_data": self.has_data,
            "paragraphs": self.paragraphs,
            "tables": [t.as_json() for t in self.tables],
            "charts": [c.as_json() for c in self.charts],
        }


@dataclass(slots=True)
class Bulletin:
    title: str
    centre: str
    period: Period
    period_name: str
    previous: Period
    previous_name: str
    issued_on: date
    sections: list[Section]
    figures: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "centre": self.centre,
            "period": self.period.as_json() | {"name": self.period_name},
            "previous_period": self.previous.as_json() | {"name": self.previous_name},
            "issued_on": self.issued_on.isoformat(),
            "sections": [s.as_json() for s in self.sections],
            "figures": self.figures,
        }

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]
