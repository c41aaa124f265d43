"""Working days in Asia/Shanghai and deadlines counted in them (pure: no I/O, no clock).

Which days are worked follows the State Council's annual arrangement: a year an administrator
entered wins; otherwise the `chinese-calendar` package (published years only); otherwise plain
Monday–Friday, and whatever is computed from such a day is marked provisional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from app.config import BUSINESS_TZ


@dataclass(frozen=True, slots=True)
class YearArrangement:
    """One year's arrangement: days off on weekdays (holidays) and makeup workdays (调休)."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for day in self.holidays | self.workdays:
            if day.year != self.year:
                raise ValueError(f"{day.isoformat()} is not in {self.year}")
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"{min(both).isoformat()} is both a holiday and a workday")


@dataclass(frozen=True, slots=True)
class Deadline:
    """24:00 Asia/Shanghai of the last working day; provisional when an unknown year was used."""

    due_at: datetime
    provisional: bool


@lru_cache(maxsize=256)
def package_knows(year: int) -> bool:
    """Whether the installed chinese-calendar has the arrangement of this year."""
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def package_arrangement(year: int) -> YearArrangement | None:
    """The package's arrangement of a year as holidays on weekdays and workdays on weekends."""
    if not package_knows(year):
        return None
    holidays, workdays = set(), set()
    day = date(year, 1, 1)
    while day.year == year:
        worked = chinese_calendar.is_workday(day)
        if day.weekday() < 5 and not worked:
            holidays.add(day)
        elif day.weekday() >= 5 and worked:
            workdays.add(day)
        day += timedelta(days=1)
    return YearArrangement(year, frozenset(holidays), frozenset(workdays))


class WorkCalendar:
    """Working-day arithmetic over entered years, the package's years, and Monday–Friday."""

    def __init__(
        self,
        entered: Mapping[int, YearArrangement] | Iterable[YearArrangement] = (),
        *,
        use_package: bool = True,
    ) -> None:
        if isinstance(entered, Mapping):
            self._entered = dict(entered)
        else:
            self._entered = {a.year: a for a in entered}
        self._use_package = use_package

    def source(self, year: int) -> str:
        """ "entered", "package" or "none" (Monday–Friday, provisional)."""
        if year in self._entered:
            return "entered"
        if self._use_package and package_knows(year):
            return "package"
        return "none"

    def is_known(self, year: int) -> bool:
        return self.source(year) != "none"

    def is_workday(self, day: date) -> bool:
        arrangement = self._entered.get(day.year)
        if arrangement is not None:
            if day in arrangement.workdays:
                return True
            if day in arrangement.holidays:
                return False
            return day.weekday() < 5
        if self._use_package and package_knows(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def add_working_days(self, received_at: datetime, days: int) -> Deadline:
        """The deadline `days` working days after receipt.

        The day of receipt does not count (Civil Code art. 201): day 1 is the next working day,
        and the deadline is 24:00 Asia/Shanghai of the last one.
        """
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        if days < 1:
            raise ValueError("days must be at least 1")
        day = received_at.astimezone(BUSINESS_TZ).date()
        provisional = False
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if not self.is_known(day.year):
                provisional = True
            if self.is_workday(day):
                counted += 1
        return Deadline(end_of_day(day), provisional)

    def due_soon_limit(self, now: datetime) -> datetime:
        """Deadlines at or before this instant are due soon (within one working day of now)."""
        return self.add_working_days(now, 1).due_at


def end_of_day(day: date) -> datetime:
    """24:00 Asia/Shanghai of `day`, written as 00:00 of the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ)
