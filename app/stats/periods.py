"""Reporting periods in Asia/Shanghai, and their cover by calendar buckets (pure, no I/O).

A period is a half-open range of local dates [start_on, end_on). The aggregates are kept per
calendar bucket (year, quarter, month, day); `buckets()` covers a period exactly with the fewest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from app.config import BUSINESS_TZ
from app.errors import ValidationProblem, field_error
from app.timefmt import local_iso

GRAINS = ("y", "q", "m", "d")
MIN_YEAR, MAX_YEAR = 2000, 2100

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    start_on: date  # first local day, inclusive
    end_on: date  # first local day after the period (exclusive)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start_on, time(), BUSINESS_TZ)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.end_on, time(), BUSINESS_TZ)

    def as_json(self) -> dict[str, str]:
        return {
            "label": self.label,
            "from": local_iso(self.start_at),
            "to": local_iso(self.end_at),
        }

    def months(self) -> list[date]:
        """First days of the calendar months that the period touches, in order."""
        out, cursor = [], self.start_on.replace(day=1)
        while cursor < self.end_on:
            out.append(cursor)
            cursor = add_months(cursor, 1)
        return out


class PeriodError(ValidationProblem):
    title = "Bad period"


def _bad(param: str, message: str) -> PeriodError:
    return PeriodError(f"{param}: {message}", errors=[field_error(f"query.{param}", message)])


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _year(text: str, param: str) -> int:
    year = int(text)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _bad(param, f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return year


def parse_period_label(text: str, param: str = "period") -> Period:
    """`2023Q4`, `2023-10` or `2023`."""
    text = text.strip()
    if m := _QUARTER.match(text):
        year, quarter = _year(m[1], param), int(m[2])
        start = date(year, 3 * quarter - 2, 1)
        return Period(f"{year}Q{quarter}", start, add_months(start, 3))
    if m := _MONTH.match(text):
        year, month = _year(m[1], param), int(m[2])
        if not 1 <= month <= 12:
            raise _bad(param, "month must be 01 to 12")
        start = date(year, month, 1)
        return Period(f"{year}-{month:02d}", start, add_months(start, 1))
    if m := _YEAR.match(text):
        year = _year(m[1], param)
        return Period(str(year), date(year, 1, 1), date(year + 1, 1, 1))
    raise _bad(param, "expected a quarter (2023Q4), a month (2023-10) or a year (2023)")


def _parse_date(text: str, param: str) -> date:
    if not _DATE.match(text.strip()):
        raise _bad(param, "expected a date YYYY-MM-DD")
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise _bad(param, "not a calendar date") from None
    _year(str(value.year), param)
    return value


def resolve_period(period: str | None, from_: str | None = None, to: str | None = None) -> Period:
    """The period a request names: `period`, or `from` and `to` (inclusive local dates)."""
    if period is not None and (from_ is not None or to is not None):
        raise _bad("period", "give either period or from/to, not both")
    if period is not None:
        return parse_period_label(period)
    if from_ is None and to is None:
        raise _bad("period", "required: a quarter (2023Q4), month (2023-10), year, or from/to")
    if from_ is None:
        raise _bad("from", "required together with to")
    if to is None:
        raise _bad("to", "required together with from")
    start, last = _parse_date(from_, "from"), _parse_date(to, "to")
    if last < start:
        raise _bad("to", "must not be before from")
    return Period(f"{start.isoformat()}..{last.isoformat()}", start, last + timedelta(days=1))


def buckets(start_on: date, end_on: date) -> dict[str, list[date]]:
    """Cover [start_on, end_on) exactly by whole years, quarters, months and days (greedy)."""
    out: dict[str, list[date]] = {grain: [] for grain in GRAINS}
    cursor = start_on
    while cursor < end_on:
        if cursor.month == 1 and cursor.day == 1 and date(cursor.year + 1, 1, 1) <= end_on:
            out["y"].append(cursor)
            cursor = date(cursor.year + 1, 1, 1)
        elif cursor.day == 1 and cursor.month % 3 == 1 and add_months(cursor, 3) <= end_on:
            out["q"].append(cursor)
            cursor = add_months(cursor, 3)
        elif cursor.day == 1 and add_months(cursor, 1) <= end_on:
            out["m"].append(cursor)
            cursor = add_months(cursor, 1)
        else:
            out["d"].append(cursor)
            cursor += timedelta(days=1)
    return out


def bucket_start(grain: str, day: date) -> date:
    """The first day of the bucket of this grain that holds `day`."""
    if grain == "y":
        return date(day.year, 1, 1)
    if grain == "q":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if grain == "m":
        return day.replace(day=1)
    return day
