"""Ranks by 好评率 then volume: the float shortcut orders exactly as the fractions do."""

from __future__ import annotations

import random
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from app.stats.tally import _FLOAT_EXACT_BELOW, Tally, assign_ranks, rank_key


def reference_ranks(items: list[tuple[str, Tally]]) -> dict[str, int]:
    """Competition ranks computed with exact fractions only."""
    ranked = sorted(
        (item for item in items if item[1].counted), key=lambda it: rank_key(it[1]), reverse=True
    )
    ranks, previous, previous_rank = {}, None, 0
    for position, (key, tally) in enumerate(ranked, start=1):
        if rank_key(tally) != previous:
            previous, previous_rank = rank_key(tally), position
        ranks[key] = previous_rank
    return ranks


def tally(good: int, bad: int, withdrawn: int = 0) -> Tally:
    t = Tally()
    t.add("valid", 5, good)
    t.add("valid", 1, bad)
    t.add("withdrawn", 1, withdrawn)
    return t


counts = st.integers(0, _FLOAT_EXACT_BELOW - 1)


@given(st.lists(st.tuples(counts, counts), min_size=1, max_size=40), st.randoms())
def test_ranks_equal_the_exact_fractions(pairs, rnd):
    # near-ties on purpose: scaled copies (equal rates) and neighbours (rates 1/(c1*c2) apart)
    items = []
    for i, (good, bad) in enumerate(pairs):
        items.append((f"d{i}", tally(good, bad)))
        counted = good + bad
        if counted and counted * 2 < _FLOAT_EXACT_BELOW:
            items.append((f"s{i}", tally(good * 2, bad * 2)))
        if good and counted + 1 < _FLOAT_EXACT_BELOW:
            items.append((f"n{i}", tally(good, bad + 1)))
    rnd.shuffle(items)
    assert assign_ranks(items) == reference_ranks(items)


def test_ranks_of_large_groups_fall_back_to_fractions():
    big = _FLOAT_EXACT_BELOW * 4
    # two rates that doubles cannot tell apart
    a, b = tally(big - 1, big), tally(big - 2, big - 1)
    assert Fraction(big - 1, 2 * big - 1) != Fraction(big - 2, 2 * big - 3)
    items = [("a", a), ("b", b), ("c", tally(3, 1)), ("z", tally(0, 0, withdrawn=4))]
    assert assign_ranks(items) == reference_ranks(items)
    assert "z" not in assign_ranks(items)


def test_ties_share_a_rank():
    items = [("a", tally(9, 1)), ("b", tally(18, 2)), ("c", tally(9, 1)), ("d", tally(1, 0))]
    random.Random(1).shuffle(items)
    assert assign_ranks(items) == {"d": 1, "b": 2, "a": 3, "c": 3}
