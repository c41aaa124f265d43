"""Tallies and the arithmetic on them: counts by (status, level), rates, bands and ranks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from operator import itemgetter
from typing import Any

from app.ratings.models import RATING_STATUSES

LEVELS = (5, 4, 3, 2, 1)
BANDS = ("100", "90-100", "80-90", "below-80")
_CENT = Decimal("0.01")
# The (status, level) of each column of a pivot row, in order (app/stats/sql.py: _PIVOT).
PIVOT_KEYS = tuple((status, level) for status in RATING_STATUSES for level in LEVELS)


def rate(part: int, whole: int) -> float | None:
    """A percentage rounded half-up to two decimals (89.80 → 89.8); None when nothing was
    counted. Every rate the statistics give is made here, from the counts shown beside it."""
    if not whole:
        return None
    if part >= 0 and whole > 0:
        # half-up in integers: floor(part * 10000 / whole + 1/2) hundredths, then the float
        # nearest that decimal (int / int rounds correctly, as float(Decimal) does)
        return (part * 20000 + whole) // (2 * whole) / 100
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return float(value)


def band(good: int, counted: int) -> str | None:
    """The report's band, judged on the unrounded rate (integer arithmetic)."""
    if not counted:
        return None
    if good == counted:
        return "100"
    if good * 10 >= counted * 9:
        return "90-100"
    if good * 10 >= counted * 8:
        return "80-90"
    return "below-80"


@dataclass(slots=True)
class Tally:
    """Counts by (status, level) for one group of ratings."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Sequence[int | None]) -> Tally:
        """From the columns of _PIVOT, in their order (NULL and 0 left out)."""
        return cls({key: n for key, n in zip(PIVOT_KEYS, values, strict=True) if n})

    def add(self, status: str, level: int, n: int) -> None:
        key = (status, level)
        self.counts[key] = self.counts.get(key, 0) + n

    def valid(self, level: int) -> int:
        return self.counts.get(("valid", level), 0)

    @property
    def counted(self) -> int:
        return sum(self.valid(level) for level in LEVELS)

    @property
    def good(self) -> int:
        return self.valid(5) + self.valid(4) + self.valid(3)

    @property
    def bad(self) -> int:
        return self.valid(2) + self.valid(1)

    def status_total(self, status: str) -> int:
        return sum(n for (s, _), n in self.counts.items() if s == status)

    def block(self, *, flagged: int, excluded: bool = False) -> dict[str, Any]:
        """The ratings block. `flagged`: how many of the group's valid ratings carry integrity
        flags; with `excluded` (exclude_flagged: the tally already leaves them out) they are
        reported as `excluded_flagged`, and none of the counted ratings carries flags."""
        get = self.counts.get
        v5, v4, v3, v2, v1 = (get(("valid", level), 0) for level in LEVELS)
        good, bad = v5 + v4 + v3, v2 + v1
        counted = good + bad
        return {
            "counted": counted,
            "by_level": {"5": v5, "4": v4, "3": v3, "2": v2, "1": v1},
            "good": good,
            "bad": bad,
            "good_rate": rate(good, counted),
            "bad_rate": rate(bad, counted),
            "withdrawn": self.status_total("withdrawn"),
            "invalidated_on_appeal": self.status_total("invalidated"),
            "flagged": 0 if excluded else flagged,
            "excluded_flagged": flagged if excluded else 0,
        }


def rank_key(tally: Tally) -> tuple[Fraction, int]:
    return (Fraction(tally.good, tally.counted), tally.counted)


# Below this many counted ratings per group, good / counted as a float orders groups exactly as
# the fractions do: two different rates then differ by at least 1 / (c1 * c2) > 2**-52, more
# than the two roundings (at most 2**-54 each) can bridge, and equal rates give equal floats.
_FLOAT_EXACT_BELOW = 1 << 26


def assign_ranks(items: list[tuple[Any, Tally]]) -> dict[Any, int]:
    """Competition ranks (1, 2, 2, 4) by 好评率 then volume, for groups with counted ratings."""
    groups = []
    for key, tally in items:
        counted = tally.counted
        if counted:
            groups.append((tally.good, counted, key))
    exact_as_float = all(counted < _FLOAT_EXACT_BELOW for _, counted, _ in groups)
    ranked = sorted(
        ((good / counted if exact_as_float else Fraction(good, counted), counted, key)
         for good, counted, key in groups),
        key=itemgetter(0, 1),
        reverse=True,
    )  # fmt: skip
    ranks: dict[Any, int] = {}
    previous, previous_rank = None, 0
    for position, (rate_, counted, key) in enumerate(ranked, start=1):
        current = (rate_, counted)
        if current != previous:
            previous, previous_rank = current, position
        ranks[key] = previous_rank
    return ranks


# Sample-size groups (seed 000): 50 or more counted ratings, 30 to 49, 10 to 29, under 10.
SAMPLE_GROUPS = ("50_plus", "30_to_50", "10_to_30", "under_10")


def sample_group(counted: int) -> str:
    """The sample-size group of a row with this many counted ratings."""
    if counted >= 50:
        return "50_plus"
    if counted >= 30:
        return "30_to_50"
    if counted >= 10:
        return "10_to_30"
    return "under_10"


def competition_ranks(values: list[tuple[Any, Any]]) -> dict[Any, int]:
    """Competition ranks (1, 1, 3) of (key, value) pairs, the highest value first; a None
    value gets no rank."""
    ranked = sorted((v for v in values if v[1] is not None), key=itemgetter(1), reverse=True)
    ranks: dict[Any, int] = {}
    previous, previous_rank = object(), 0
    for position, (key, value) in enumerate(ranked, start=1):
        if value != previous:
            previous, previous_rank = value, position
        ranks[key] = previous_rank
    return ranks
