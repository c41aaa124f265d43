"""The bulletin's Chinese wording of periods and 环比 (pure)."""

import pytest

from app.reports.wording import (
    count_change,
    pct,
    period_name,
    previous_period,
    rate_change,
    short_change,
)
from app.stats.periods import parse_period_label


@pytest.mark.parametrize(
    ("label", "name", "previous"),
    [
        ("2023Q4", "2023年第四季度", "2023Q3"),
        ("2024Q1", "2024年第一季度", "2023Q4"),
        ("2024-01", "2024年1月", "2023-12"),
        ("2023-10", "2023年10月", "2023-09"),
        ("2024", "2024年", "2023"),
    ],
)
def test_period_names_and_the_period_before(label, name, previous):
    period = parse_period_label(label)
    before = previous_period(period)
    assert period_name(period) == name
    assert before == parse_period_label(previous)
    assert before.end_on == period.start_on


def test_changes_are_said_as_the_reports_say_them():
    assert pct(89.8) == "89.80%" and pct(None) == "无数据"
    assert rate_change(99.26, 99.21) == "环比上升0.05个百分点"
    assert rate_change(91.89, 97.5) == "环比下降5.61个百分点"
    assert rate_change(100.0, 100.0) == "环比持平"
    assert rate_change(100.0, None) == "上期无数据，不作环比"
    assert count_change(5027, 5042, "条") == "环比减少15条（-0.30%）"
    assert count_change(3, 0, "件") == "环比增加3件"
    assert short_change(57, 46, rate=False) == "+11（+23.91%）"
    assert short_change(0.74, 0.79, rate=True) == "-0.05个百分点"
    assert short_change(None, 1, rate=False) == "—"
