"""Periods in Asia/Shanghai and their cover by calendar buckets (pure, no database)."""

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.stats.periods import PeriodError, bucket_start, buckets, resolve_period


def test_quarter_month_year():
    q = resolve_period("2023Q4")
    assert (q.label, q.start_on, q.end_on) == ("2023Q4", date(2023, 10, 1), date(2024, 1, 1))
    assert q.as_json() == {
        "label": "2023Q4",
        "from": "2023-10-01T00:00:00+08:00",
        "to": "2024-01-01T00:00:00+08:00",
    }
    m = resolve_period("2023-02")
    assert (m.start_on, m.end_on) == (date(2023, 2, 1), date(2023, 3, 1))
    y = resolve_period("2023")
    assert (y.start_on, y.end_on) == (date(2023, 1, 1), date(2024, 1, 1))
    r = resolve_period(None, "2023-10-05", "2023-10-05")
    assert (r.start_on, r.end_on, r.label) == (
        date(2023, 10, 5),
        date(2023, 10, 6),
        "2023-10-05..2023-10-05",
    )


def test_quarter_boundaries_are_shanghai_midnight():
    q1 = resolve_period("2023Q1")
    early = datetime.fromisoformat("2023-01-01T00:10+08:00")
    assert q1.start_at <= early < q1.end_at  # in UTC this instant is still 2022
    assert q1.start_at <= datetime.fromisoformat("2023-03-31T23:59+08:00") < q1.end_at
    q2_start = datetime.fromisoformat("2023-04-01T00:00+08:00")
    assert q2_start == q1.end_at and not q2_start < q1.end_at
    assert resolve_period("2023Q2").start_at == q2_start


@pytest.mark.parametrize(
    ("args", "param"),
    [
        (("2023Q5", None, None), "period"),
        (("2023-13", None, None), "period"),
        (("23Q1", None, None), "period"),
        (("1899", None, None), "period"),
        (("2023Q1", "2023-01-01", None), "period"),
        ((None, None, None), "period"),
        ((None, "2023-01-01", None), "to"),
        ((None, None, "2023-01-01"), "from"),
        ((None, "2023-02-30", "2023-03-01"), "from"),
        ((None, "2023-03-01", "2023/03/02"), "to"),
        ((None, "2023-03-02", "2023-03-01"), "to"),
    ],
)
def test_bad_periods_name_the_parameter(args, param):
    with pytest.raises(PeriodError) as info:
        resolve_period(*args)
    assert info.value.status == 422
    assert info.value.errors[0]["field"] == f"query.{param}"


def test_buckets_prefer_large_grains():
    assert buckets(date(2023, 1, 1), date(2024, 1, 1)) == {
        "y": [date(2023, 1, 1)],
        "q": [],
        "m": [],
        "d": [],
    }
    cover = buckets(date(2023, 9, 30), date(2024, 2, 2))
    assert cover["d"] == [date(2023, 9, 30), date(2024, 2, 1)]
    assert cover["q"] == [date(2023, 10, 1)]
    assert cover["m"] == [date(2024, 1, 1)]


@given(
    st.dates(min_value=date(2019, 1, 1), max_value=date(2026, 12, 31)),
    st.integers(min_value=0, max_value=900),
)
def test_buckets_cover_each_day_exactly_once(start, length):
    end = start + timedelta(days=length)
    cover = buckets(start, end)
    sizes = {"y": 400, "q": 100, "m": 40, "d": 1}
    seen = []
    for grain, starts in cover.items():
        for first in starts:
            day = first
            while day < end and bucket_start(grain, day) == first and len(seen) < 5000:
                seen.append(day)
                day += timedelta(days=1)
                if grain == "d" or (day - first).days >= sizes[grain]:
                    break
    assert sorted(seen) == [start + timedelta(days=i) for i in range(length)]
