"""Chinese wording of the bulletin's figures: periods, percentages, 环比 (pure)."""

from __future__ import annotations

from app.stats.periods import Period, add_months, parse_period_label

_QUARTERS = "一二三四"


def bulletin_period(label: str) -> Period:
    """A quarter, month or year (the bulletin's periods; 422 naming `period` otherwise)."""
    return parse_period_label(label)


def previous_period(period: Period) -> Period:
    """The period before, of the same kind: the 环比 baseline."""
    label = period.label
    if "Q" in label:
        start = add_months(period.start_on, -3)
        return Period(f"{start.year}Q{(start.month - 1) // 3 + 1}", start, period.start_on)
    if "-" in label:
        start = add_months(period.start_on, -1)
        return Period(f"{start.year}-{start.month:02d}", start, period.start_on)
    start = period.start_on.replace(year=period.start_on.year - 1)
    return Period(str(start.year), start, period.start_on)


def period_name(period: Period) -> str:
    """2023Q4 → 2023年第四季度; 2023-10 → 2023年10月; 2023 → 2023年."""
    label = period.label
    if "Q" in label:
        year, quarter = label.split("Q")
        return f"{year}年第{_QUARTERS[int(quarter) - 1]}季度"
    if "-" in label:
        year, month = label.split("-")
        return f"{year}年{int(month)}月"
    return f"{label}年"


def pct(value: float | None) -> str:
    """89.8 → 89.80%; None → 无数据."""
    return "无数据" if value is None else f"{value:.2f}%"


def rate_change(current: float | None, previous: float | None) -> str:
    """环比 of a rate, in percentage points on the two-decimal rates shown."""
    if current is None or previous is None:
        return "上期无数据，不作环比"
    delta = round(current - previous, 2)
    if delta > 0:
        return f"环比上升{delta:.2f}个百分点"
    if delta < 0:
        return f"环比下降{-delta:.2f}个百分点"
    return "环比持平"


def count_change(current: int, previous: int, unit: str = "") -> str:
    """环比 of a count: the difference and, when the previous count is not 0, the percentage."""
    if current == previous:
        return "环比持平"
    word = "增加" if current > previous else "减少"
    text = f"环比{word}{abs(current - previous)}{unit}"
    if previous:
        text += f"（{(current - previous) * 100 / previous:+.2f}%）"
    return text


def short_change(current: float | int | None, previous: float | int | None, *, rate: bool) -> str:
    """The 环比 cell of a table: +0.12个百分点, -3 (-2.10%), 持平, —."""
    if current is None or previous is None:
        return "—"
    if rate:
        delta = round(current - previous, 2)
        return "持平" if delta == 0 else f"{delta:+.2f}个百分点"
    if current == previous:
        return "持平"
    text = f"{current - previous:+d}"
    return f"{text}（{(current - previous) * 100 / previous:+.2f}%）" if previous else text


def listing(items: list[str], limit: int | None = None) -> str:
    """A、B、C (the first `limit`)."""
    return "、".join(items[:limit] if limit else items)
