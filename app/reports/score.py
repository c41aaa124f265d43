"""The composite assessment score (考核得分): pure arithmetic over per-unit counts, no I/O.

Each input is a value from 0 to 100, taken from counts shown beside it:
  good_rate      好评率 = good / counted ratings
  on_time_rate   按期整改率 = 差评 orders rectified by their deadline / orders whose deadline is due
  callback_rate  实名差评回访率 = real-name 差评 called back / real-name 差评
  complaints     100 × max(0, 1 − complaints per 1,000 counted ratings / complaints_zero_at)
  active_rate    主动评价率 = cases rated by the applicant / cases handled (办件量)

An input is unavailable for a unit when its denominator is zero or unknown (no 差评 due, no
real-name 差评, no case ledger yet). The rule: the score is the weighted mean of the available
inputs only, Σ wᵢ·xᵢ / Σ wᵢ over them, so the weights of the unavailable ones are shared out in
proportion to the others' (a unit with no 差评 is not punished for having nothing to rectify).
Each unit's answer names its unavailable inputs and the effective weights used. A unit without
counted ratings is not scored. Ranks are competition ranks (1, 2, 2, 4) on the exact score, ties
broken by counted ratings. 标兵 (commended) are earned with volume: among the units with at least
`commend_min_counted` counted ratings, the top `commend_top` ranks (competition ranks among
those units), at or above `commend_min_score` when that is set; a unit with fewer is ranked but
not commended (five ratings, all 非常满意, make no 标兵). The bottom are the last `bottom` ranked
units that are not commended, whatever their volume: a unit cannot leave the bottom by being
rated less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

INPUTS = ("good_rate", "on_time_rate", "callback_rate", "complaints", "active_rate")
INPUT_NAMES = {
    "good_rate": "好评率",
    "on_time_rate": "按期整改率",
    "callback_rate": "实名差评回访率",
    "complaints": "每千条评价投诉数",
    "active_rate": "主动评价率",
}
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class ScorePolicy:
    """The weights (relative, by input), the formula's version and the commendation rule."""

    weights: Mapping[str, float]
    formula_version: str
    complaints_zero_at: float = 5.0
    commend_top: int = 3
    commend_min_score: float | None = None
    commend_min_counted: int = 0
    bottom: int = 3

    def weight(self, name: str) -> Fraction:
        return Fraction(Decimal(str(self.weights.get(name, 0))))

    def as_json(self) -> dict[str, Any]:
        return {
            "formula_version": self.formula_version,
            "weights": {name: float(self.weights.get(name, 0)) for name in INPUTS},
            "complaints_zero_at": self.complaints_zero_at,
            "commend_top": self.commend_top,
            "commend_min_score": self.commend_min_score,
            "commend_min_counted": self.commend_min_counted,
            "bottom": self.bottom,
            "rule": "weighted mean of the available inputs; the weights of unavailable "
            "inputs are redistributed in proportion to the others",
        }


@dataclass(frozen=True, slots=True)
class UnitCounts:
    """One department, window or staff member: the counts the inputs are taken from.
    None for a count that is unknown (the case ledger not kept: cases_handled None)."""

    key: str
    name: str
    counted: int
    good: int
    deadline_due: int = 0
    on_time: int = 0
    real_name: int = 0
    real_name_called_back: int = 0
    complaints: int = 0
    cases_handled: int | None = None
    cases_rated: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _ratio(part: int | None, whole: int | None) -> Fraction | None:
    if part is None or not whole:
        return None
    return Fraction(part, whole)


def inputs(unit: UnitCounts, policy: ScorePolicy) -> dict[str, Fraction | None]:
    """Each input as a fraction from 0 to 1 (None: unavailable for this unit)."""
    complaints = None
    if unit.counted:
        per_thousand = Fraction(unit.complaints * 1000, unit.counted)
        zero_at = Fraction(Decimal(str(policy.complaints_zero_at)))
        complaints = max(Fraction(0), 1 - per_thousand / zero_at)
    return {
        "good_rate": _ratio(unit.good, unit.counted),
        "on_time_rate": _ratio(unit.on_time, unit.deadline_due),
        "callback_rate": _ratio(unit.real_name_called_back, unit.real_name),
        "complaints": complaints,
        "active_rate": _ratio(unit.cases_rated, unit.cases_handled),
    }


def _two(value: Fraction | None) -> float | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(_CENT, rounding=ROUND_HALF_UP))


def score(unit: UnitCounts, policy: ScorePolicy) -> tuple[Fraction | None, dict[str, Any]]:
    """The exact score (0–100; None when no weighted input is available) and its breakdown."""
    values = inputs(unit, policy)
    available = {
        name: value
        for name, value in values.items()
        if value is not None and policy.weight(name) > 0
    }
    total = sum((policy.weight(name) for name in available), Fraction(0))
    exact = None
    if unit.counted and total:
        exact = 100 * sum(policy.weight(n) * v for n, v in available.items()) / total
    breakdown = {
        "inputs": {name: _two(None if v is None else 100 * v) for name, v in values.items()},
        "effective_weights": {
            name: _two(100 * policy.weight(name) / total) if name in available and total else 0.0
            for name in INPUTS
        },
        "unavailable": [n for n in INPUTS if values[n] is None and policy.weight(n) > 0],
    }
    if unit.counted:
        breakdown["complaints_per_thousand"] = _two(Fraction(unit.complaints * 1000, unit.counted))
    else:
        breakdown["complaints_per_thousand"] = None
    return exact, breakdown


def score_units(units: Sequence[UnitCounts], policy: ScorePolicy) -> list[dict[str, Any]]:
    """Every unit scored, ranked, 标兵 and bottom marked; ranked units first, by rank."""
    scored = []
    for unit in units:
        exact, breakdown = score(unit, policy)
        scored.append((unit, exact, breakdown))
    ranked = sorted(
        (item for item in scored if item[1] is not None),
        key=lambda item: (-item[1], -item[0].counted, item[0].key),
    )
    ranks = _competition_ranks(ranked)
    commended = _commended(ranked, policy)
    tail = [unit.key for unit, _, _ in ranked if unit.key not in commended]
    bottom = set(tail[len(tail) - policy.bottom :]) if policy.bottom else set()
    rows = []
    for unit, exact, breakdown in ranked + [item for item in scored if item[1] is None]:
        rows.append(
            {
                "key": unit.key,
                "name": unit.name,
                "score": _two(exact),
                "rank": ranks.get(unit.key),
                "commended": unit.key in commended,
                "bottom": unit.key in bottom,
                "counts": {
                    "counted": unit.counted,
                    "good": unit.good,
                    "deadline_due": unit.deadline_due,
                    "on_time": unit.on_time,
                    "real_name": unit.real_name,
                    "real_name_called_back": unit.real_name_called_back,
                    "complaints": unit.complaints,
                    "cases_handled": unit.cases_handled,
                    "cases_rated": unit.cases_rated,
                },
                **breakdown,
            }
        )
    return rows


def _competition_ranks(ranked: list[tuple[UnitCounts, Fraction, Any]]) -> dict[str, int]:
    """Competition ranks (1, 2, 2, 4) of units in rank order, equal on score and volume tied."""
    ranks: dict[str, int] = {}
    previous, previous_rank = None, 0
    for position, (unit, exact, _) in enumerate(ranked, start=1):
        current = (exact, unit.counted)
        if current != previous:
            previous, previous_rank = current, position
        ranks[unit.key] = previous_rank
    return ranks


def _commended(ranked: list[tuple[UnitCounts, Fraction, Any]], policy: ScorePolicy) -> set[str]:
    """The 标兵: the top commend_top competition ranks among the units with enough counted
    ratings (`ranked` is in rank order), at or above the minimum score when one is set."""
    eligible = [item for item in ranked if item[0].counted >= policy.commend_min_counted]
    minimum = policy.commend_min_score
    return {
        unit.key
        for (unit, exact, _), rank in zip(
            eligible, _competition_ranks(eligible).values(), strict=True
        )
        if rank <= policy.commend_top
        and (minimum is None or exact >= Fraction(Decimal(str(minimum))))
    }
