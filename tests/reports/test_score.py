"""The composite score's arithmetic, without a database."""

from dataclasses import replace
from fractions import Fraction

import pytest

from app.reports.score import ScorePolicy, UnitCounts, score, score_units

POLICY = ScorePolicy(
    weights={
        "good_rate": 40,
        "on_time_rate": 20,
        "callback_rate": 15,
        "complaints": 10,
        "active_rate": 15,
    },
    formula_version="t1",
    complaints_zero_at=5.0,
    commend_top=1,
    bottom=1,
)


def unit(key, **counts):
    base = dict(counted=1000, good=990, deadline_due=10, on_time=9, real_name=8)
    base |= dict(real_name_called_back=8, complaints=2, cases_handled=2000, cases_rated=1500)
    return UnitCounts(key=key, name=key, **(base | counts))


def test_every_input_available_gives_the_weighted_mean():
    exact, breakdown = score(unit("A"), POLICY)
    # 99, 90, 100, 100 × (1 − 2/5) = 60, 75: weighted by 40, 20, 15, 10, 15 of 100
    expected = Fraction(40 * 99 + 20 * 90 + 15 * 100 + 10 * 60 + 15 * 75, 100)
    assert exact == expected
    assert breakdown["inputs"] == {
        "good_rate": 99.0,
        "on_time_rate": 90.0,
        "callback_rate": 100.0,
        "complaints": 60.0,
        "active_rate": 75.0,
    }
    assert breakdown["unavailable"] == []
    assert breakdown["complaints_per_thousand"] == 2.0


def test_an_unavailable_input_shares_its_weight_out_in_proportion():
    exact, breakdown = score(
        unit("A", cases_handled=None, cases_rated=None, deadline_due=0), POLICY
    )
    # active_rate (15) and on_time_rate (20) unavailable: 40, 15, 10 rescaled to 100
    assert exact == Fraction(40 * 99 + 15 * 100 + 10 * 60, 65)
    assert breakdown["unavailable"] == ["on_time_rate", "active_rate"]
    weights = breakdown["effective_weights"]
    assert weights == {
        "good_rate": 61.54,
        "on_time_rate": 0.0,
        "callback_rate": 23.08,
        "complaints": 15.38,
        "active_rate": 0.0,
    }


def test_complaints_beyond_the_zero_point_score_zero_not_below():
    exact, breakdown = score(unit("A", complaints=50), POLICY)
    assert breakdown["inputs"]["complaints"] == 0.0
    assert breakdown["complaints_per_thousand"] == 50.0
    assert exact == Fraction(40 * 99 + 20 * 90 + 15 * 100 + 15 * 75, 100)


def test_a_unit_without_ratings_is_not_scored_and_comes_last():
    rows = score_units([unit("Z", counted=0, good=0), unit("A")], POLICY)
    assert [r["key"] for r in rows] == ["A", "Z"]
    assert rows[1]["score"] is None and rows[1]["rank"] is None
    assert not rows[1]["commended"] and not rows[1]["bottom"]


def test_ranks_commended_and_bottom():
    units = [
        unit("A", good=1000),
        unit("B", good=950),
        unit("C", good=950),
        unit("D", good=900),
    ]
    rows = score_units(units, POLICY)
    assert [(r["key"], r["rank"]) for r in rows] == [("A", 1), ("B", 2), ("C", 2), ("D", 4)]
    assert [r["key"] for r in rows if r["commended"]] == ["A"]
    assert [r["key"] for r in rows if r["bottom"]] == ["D"]


def test_a_threshold_can_leave_the_top_uncommended():
    policy = replace(POLICY, commend_top=3, commend_min_score=99.5, bottom=0)
    rows = score_units([unit("A", good=1000), unit("B", good=950)], policy)
    # A: 40 × 100 + … = 96.4 < 99.5
    assert not any(r["commended"] for r in rows)
    assert not any(r["bottom"] for r in rows)


@pytest.mark.parametrize("good", [0, 1, 500, 999, 1000])
def test_the_score_stays_between_0_and_100(good):
    exact, _ = score(unit("A", good=good, on_time=0, complaints=10**6), POLICY)
    assert 0 <= exact <= 100


def test_a_commendation_is_earned_with_volume():
    """Five ratings, all good, rank first but make no 标兵: the commendation goes to the best
    of the units with enough counted ratings; the small unit keeps its rank."""
    policy = replace(POLICY, commend_top=1, commend_min_counted=30, bottom=1)
    units = [
        unit("SMALL", counted=5, good=5, complaints=0),
        unit("A", good=990),
        unit("B", good=900),
    ]
    rows = score_units(units, policy)
    assert [(r["key"], r["rank"]) for r in rows] == [("SMALL", 1), ("A", 2), ("B", 3)]
    assert [r["key"] for r in rows if r["commended"]] == ["A"]
    assert [r["key"] for r in rows if r["bottom"]] == ["B"]
    # exactly at the minimum: commended
    rows = score_units(
        [unit("EDGE", counted=30, good=30, complaints=0), unit("A", good=990)], policy
    )
    assert [r["key"] for r in rows if r["commended"]] == ["EDGE"]


def test_a_small_unit_is_not_spared_the_bottom():
    """Being rated less is no way out of the bottom: the minimum is for commendation only."""
    policy = replace(POLICY, commend_top=1, commend_min_counted=30, bottom=1)
    rows = score_units([unit("A", good=990), unit("TINY", counted=4, good=1)], policy)
    assert [r["key"] for r in rows if r["bottom"]] == ["TINY"]


def test_ties_among_the_eligible_share_the_commendation():
    policy = replace(POLICY, commend_top=1, commend_min_counted=30)
    units = [
        unit("SMALL", counted=5, good=5, complaints=0),
        unit("A", good=990),
        unit("B", good=990),
    ]
    rows = score_units(units, policy)
    # A and B tie exactly (same score, same volume): both rank 2, both are the first eligible
    assert [r["key"] for r in rows if r["commended"]] == ["A", "B"]
