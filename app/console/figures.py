"""The dashboard's period, its previous period and the headline cards: the same figures the
statistics API serves (app.stats.service), arranged for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.config import BUSINESS_TZ
from app.stats.periods import Period, PeriodError, add_months, parse_period_label, resolve_period

KINDS = {"month": "月", "quarter": "季度", "year": "年", "custom": "自定义"}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}
CHANNEL_ZH = {
    "pc": "PC端",
    "mobile": "移动端",
    "qr_code": "二维码",
    "window_device": "窗口评价器",
    "self_service": "自助终端",
    "phone_callback": "电话回访",
    "sms": "短信",
    "hotline": "12345热线",
    "onsite_survey": "现场拦访",
}
BAND_ZH = {"100": "100%", "90-100": "90%–100%", "80-90": "80%–90%", "below-80": "80%以下"}


@dataclass(frozen=True, slots=True)
class Choice:
    kind: str
    period: Period
    previous: Period
    error: str | None = None


def _default_label(kind: str, now: datetime) -> str:
    today = now.astimezone(BUSINESS_TZ).date()
    if kind == "month":
        return f"{today.year}-{today.month:02d}"
    if kind == "year":
        return str(today.year)
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


def previous_of(kind: str, period: Period) -> Period:
    """The period just before: the previous month, quarter or year; for a custom range, as
    many days just before it."""
    if kind in _MONTHS:
        start = add_months(period.start_on, -_MONTHS[kind])
        label = {
            "month": f"{start.year}-{start.month:02d}",
            "quarter": f"{start.year}Q{(start.month - 1) // 3 + 1}",
            "year": str(start.year),
        }[kind]
        return parse_period_label(label)
    days = (period.end_on - period.start_on).days
    start = period.start_on - timedelta(days=days)
    last = period.start_on - timedelta(days=1)
    return Period(f"{start.isoformat()}..{last.isoformat()}", start, period.start_on)


def choose(query: dict[str, str], now: datetime) -> Choice:
    """The period the picker names (the current quarter by default); a bad one falls back to
    the default, with the reason in Chinese."""
    kind = query.get("kind") if query.get("kind") in KINDS else "quarter"
    try:
        if kind == "custom":
            period = resolve_period(None, query.get("from") or None, query.get("to") or None)
        else:
            period = parse_period_label(query.get(kind) or _default_label(kind, now))
        return Choice(kind, period, previous_of(kind, period))
    except PeriodError:
        period = parse_period_label(_default_label("quarter", now))
        return Choice(
            "quarter",
            period,
            previous_of("quarter", period),
            error="所选期间无效（月如 2026-10，季度如 2026Q4，年如 2026，自定义为起止日期），"
            "已显示本季度",
        )


def _delta(now: float | int | None, before: float | int | None) -> float | int | None:
    if now is None or before is None:
        return None
    return round(now - before, 2)


def cards(current: dict[str, Any], previous: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline figures with their change against the previous period."""

    def pick(o: dict[str, Any]) -> dict[str, Any]:
        rating_orders = o["workorders"]["rating"]
        return {
            "counted": o["ratings"]["counted"],
            "good_rate": o["ratings"]["good_rate"],
            "bad": o["ratings"]["bad"],
            "rectification_rate": rating_orders["rectification_rate"],
            "on_time_rate": rating_orders["on_time_rate"],
            "real_name_callback_rate": rating_orders["real_name_callback_rate"],
            "complaints": o["workorders"]["complaint"]["opened"],
        }

    names = {
        "counted": ("评价数", "件", False),
        "good_rate": ("好评率", "%", True),
        "bad": ("差评", "件", False),
        "rectification_rate": ("差评整改率", "%", True),
        "on_time_rate": ("按期整改率", "%", True),
        "real_name_callback_rate": ("实名差评回访率", "%", True),
        "complaints": ("12345投诉", "件", False),
    }
    now_values, before = pick(current), pick(previous)
    out = []
    for key, (label, unit, rate) in names.items():
        delta = _delta(now_values[key], before[key])
        # Up is good for every figure but the 差评 and complaint counts.
        good_when_up = key not in ("bad", "complaints")
        trend = None if not delta else ("up" if (delta > 0) == good_when_up else "down")
        out.append(
            {
                "key": key,
                "label": label,
                "unit": unit,
                "rate": rate,
                "value": now_values[key],
                "delta": delta,
                "trend": trend,
            }
        )
    return out


def fmt(value: float | int | None, rate: bool) -> str:
    """A figure as the pages show it: rates with two decimals, counts with separators."""
    if value is None:
        return "—"
    return f"{value:.2f}" if rate else f"{value:,}"


def fmt_delta(value: float | int | None, rate: bool) -> str:
    if value is None:
        return "—"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{abs(value):.2f}" if rate else f"{sign}{abs(value):,}"
