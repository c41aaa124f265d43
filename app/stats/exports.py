"""Each statistics answer as a sheet with Chinese headings, and the choice of JSON, CSV or XLSX.

The sheets are for the quarterly 通报 (app/stats/spreadsheet.py writes them); the format is
chosen by `format=` or `Accept`.

One heading per JSON figure: RATING_HEADINGS and order_headings() name, in Chinese, exactly
the fields of the JSON (a rate sits beside its numerator and denominator in both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.errors import ProblemError, field_error
from app.stats.spreadsheet import Column, Sheet
from app.stats.tally import rate

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JSON_MEDIA_TYPE = "application/json"
# What each format answers with, in the order preferred when Accept leaves the choice open.
FORMATS = {"json": JSON_MEDIA_TYPE, "csv": "text/csv", "xlsx": XLSX_MEDIA_TYPE}

BAND_NAMES = {"100": "100%", "90-100": "90%-100%", "80-90": "80%-90%", "below-80": "低于80%"}
RATER_TYPE_NAMES = {"individual": "自然人", "enterprise": "法人", "anonymous": "匿名"}
CHANNEL_NAMES = {
    "pc": "PC端",
    "mobile": "移动端",
    "qr_code": "二维码",
    "window_device": "政务大厅平板评价器",
    "self_service": "自助终端",
    "phone_callback": "电话回访",
    "sms": "短信",
    "hotline": "12345热线",
    "onsite_survey": "现场拦访",
}

# The ratings block: JSON field (by_level.N: a level) → heading. Rates end in (%).
RATING_HEADINGS: tuple[tuple[str, str], ...] = (
    ("counted", "有效评价数"),
    ("by_level.5", "非常满意"),
    ("by_level.4", "满意"),
    ("by_level.3", "基本满意"),
    ("by_level.2", "不满意"),
    ("by_level.1", "非常不满意"),
    ("good", "好评数"),
    ("bad", "差评数"),
    ("good_rate", "好评率(%)"),
    ("bad_rate", "差评率(%)"),
    ("withdrawn", "撤回评价数"),
    ("invalidated_on_appeal", "申诉核销评价数"),
    ("flagged", "疑似异常评价数"),
    # exclude_flagged=true: the flagged ratings left out of every figure of the row
    ("excluded_flagged", "已剔除疑似异常评价数"),
)

# Work orders by source: (short name, noun). 差评工单 from ratings, 投诉工单 from 12345.
ORDER_KINDS = {"rating": ("差评", "差评工单"), "complaint": ("投诉", "投诉工单"),
               "inspection": ("督查", "督查工单")}  # fmt: skip
# Figures that cannot be other than 0 (only a rating order is appealed or has a withdrawal
# asked for: a complaint is withdrawn at the hotline; an inspection has no rater to withdraw or
# call back): left out of the sheets, still in the JSON.
_ALWAYS_ZERO = {
    "rating": (),
    "complaint": (
        "withdrawal_requested",
        "withdrawal_refused",
        "appealed",
        "appeal_upheld",
        "appeal_rejected",
    ),
    "inspection": (
        "withdrawn",
        "withdrawal_requested",
        "withdrawal_refused",
        "appealed",
        "appeal_upheld",
        "appeal_rejected",
        "real_name",
        "real_name_called_back",
        "real_name_callback_rate",
        "called_back",
        "callback_satisfied",
        "callback_satisfaction_rate",
    ),
}


def order_headings(kind: str) -> list[tuple[str, str]]:
    """One kind of work order's JSON field → heading (差评整改率, 按期整改率 … for ratings)."""
    short, noun = ORDER_KINDS[kind]
    headings = [
        ("opened", f"{noun}开单数"),
        ("withdrawn", f"{noun}撤回数"),
        ("withdrawal_requested", f"{noun}撤回申请数"),
        ("withdrawal_refused", f"{noun}撤回驳回数"),
        ("appealed", f"{noun}申诉数"),
        ("appeal_upheld", f"{noun}申诉核销数"),
        ("appeal_rejected", f"{noun}申诉驳回数"),
        ("counted", f"{noun}数"),
        ("closed", f"{noun}办结数"),
        ("rectification_rate", f"{short}整改率(%)"),
        ("deadline_due", f"{noun}应按期数"),
        ("on_time", f"{noun}按期整改数"),
        ("on_time_rate", f"{short}按期整改率(%)"),
        ("overdue_now", f"{noun}当前超期数"),
        ("real_name", f"实名{short}数"),
        ("real_name_called_back", f"实名{short}已回访数"),
        ("real_name_callback_rate", f"实名{short}回访率(%)"),
        ("called_back", f"{noun}已回访数"),
        ("callback_satisfied", f"{noun}回访满意数"),
        ("callback_satisfaction_rate", f"{short}回访满意率(%)"),
    ]
    return [(name, heading) for name, heading in headings if name not in _ALWAYS_ZERO[kind]]


def _rating_value(block: dict[str, Any] | None, name: str) -> Any:
    if block is None:
        return None
    if name.startswith("by_level."):
        return block["by_level"][name.removeprefix("by_level.")]
    return block[name]


def _rating_columns() -> list[Column]:
    return [
        Column(heading, lambda item, name=name: _rating_value(item["ratings"], name))
        for name, heading in RATING_HEADINGS
    ]


def _order_columns() -> list[Column]:
    """Work-order columns; empty on rows without work orders (a channel, a month…)."""
    return [
        Column(
            heading,
            lambda item, kind=kind, name=name: (
                None if item.get("workorders") is None else item["workorders"][kind][name]
            ),
        )
        for kind in ORDER_KINDS
        for name, heading in order_headings(kind)
    ]


# Each rate of a totals row, taken again on the summed counts (never a sum of rates).
_RATES = {
    "good_rate": ("good", "counted"),
    "bad_rate": ("bad", "counted"),
    "rectification_rate": ("closed", "counted"),
    "on_time_rate": ("on_time", "deadline_due"),
    "real_name_callback_rate": ("real_name_called_back", "real_name"),
    "callback_satisfaction_rate": ("callback_satisfied", "called_back"),
}


def totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The items' counts summed (nested blocks too), each rate taken on the sums; text,
    ranks and bands left empty."""
    out: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if isinstance(value, dict):
                out[key] = totals([out.get(key, {}), value]) if key in out else totals([value])
            elif isinstance(value, int) and not isinstance(value, bool) and key != "rank":
                out[key] = out.get(key, 0) + value
    for key, (part, whole) in _RATES.items():
        if part in out and whole in out:
            out[key] = rate(out[part], out[whole])
    return out


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: item.get(name)


def _band(item: dict[str, Any]) -> str | None:
    return BAND_NAMES.get(item.get("band") or "")


def department_table_sheet(table: dict[str, Any]) -> Sheet:
    """One row per department, as the JSON table."""
    columns = [
        Column("排名", _field("rank")),
        Column("部门编码", _field("code")),
        Column("部门名称", _field("name")),
        *_rating_columns(),
        Column("满意度档次", _band),
        *_order_columns(),
    ]
    rows = table["departments"]
    # with include_children a parent's row already holds its children's: no totals row
    summed = None if table["filters"].get("include_children") else totals(rows)
    return Sheet(f"部门满意度 {table['period']['label']}", columns, rows, summed)


def _splits(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows per rater type and per channel (no work orders on them)."""
    rows = [
        {"group": "评价人类型", "key": rt, "name": RATER_TYPE_NAMES.get(rt, rt), "ratings": block}
        for rt, block in figures["by_rater_type"].items()
    ]
    rows += [
        {"group": "评价渠道", "key": ch, "name": CHANNEL_NAMES.get(ch, ch), "ratings": block}
        for ch, block in figures["by_channel"].items()
    ]
    return rows


def overview_sheet(overview: dict[str, Any]) -> Sheet:
    """The centre total (with the work orders), then each rater type and channel."""
    total = {
        "group": "合计",
        "key": None,
        "name": "全部",
        "ratings": overview["ratings"],
        "workorders": overview["workorders"],
        "departments_rated": overview["departments_rated"],
    }
    columns = [
        Column("分组", _field("group")),
        Column("编码", _field("key")),
        Column("名称", _field("name")),
        Column("参评部门数", _field("departments_rated")),
        *_rating_columns(),
        *_order_columns(),
    ]
    return Sheet(f"满意度总览 {overview['period']['label']}", columns, [total, *_splits(overview)])


def department_detail_sheet(detail: dict[str, Any]) -> Sheet:
    """The department's total (rank, band, work orders), then rater types, channels, months,
    windows and staff (each ranked among its own); the top reasons are the reasons export's."""
    department = detail["department"]
    total = {
        "group": "部门合计",
        "key": department["code"],
        "name": department["name"],
        "rank": detail["rank"],
        "band": detail["band"],
        "ratings": detail["ratings"],
        "workorders": detail["workorders"],
    }
    months = [
        {"group": "月份", "key": m["month"], "name": m["month"], "ratings": m["ratings"]}
        for m in detail["trend"]
    ]
    windows = [
        {"group": "窗口", "key": w["window_no"], "name": w["name"], "rank": w["rank"],
         "ratings": w["ratings"]}
        for w in detail["windows"]
    ]  # fmt: skip
    staff = [
        {"group": "工作人员", "key": s["staff_id"], "name": None, "rank": s["rank"],
         "ratings": s["ratings"]}
        for s in detail["staff"]
    ]  # fmt: skip
    columns = [
        Column("分组", _field("group")),
        Column("编码", _field("key")),
        Column("名称", _field("name")),
        Column("排名", _field("rank")),
        *_rating_columns(),
        Column("满意度档次", _band),
        *_order_columns(),
    ]
    items = [total, *_splits(detail), *months, *windows, *staff]
    return Sheet(f"{department['code']} {detail['period']['label']}", columns, items)


def reasons_sheet(reasons: dict[str, Any]) -> Sheet:
    """One row per (scope, reason): all departments first, then each department; a scope
    whose 差评 carry no reason has one row with the reason left empty."""
    items = []
    everyone = {
        "code": None,
        "name": "全部部门",
        "bad": reasons["bad"],
        "excluded_flagged": reasons["excluded_flagged"],
    }
    for scope in [{**everyone, "reasons": reasons["reasons"]}, *reasons["departments"]]:
        base = {
            "code": scope["code"],
            "name": scope["name"],
            "bad": scope["bad"],
            "excluded_flagged": scope["excluded_flagged"],
        }
        for reason in scope["reasons"] or [None]:
            items.append(
                {
                    **base,
                    "tag": reason and reason["tag"],
                    "tag_name": reason and reason["name"],
                    "count": reason and reason["count"],
                }
            )
    columns = [
        Column("部门编码", _field("code")),
        Column("部门名称", _field("name")),
        Column("差评数", _field("bad")),
        Column("已剔除疑似异常差评数", _field("excluded_flagged")),
        Column("原因编码", _field("tag")),
        Column("原因", _field("tag_name")),
        Column("含此原因的差评数", _field("count")),
    ]
    return Sheet(f"差评原因 {reasons['period']['label']}", columns, items)


# --- which format -----------------------------------------------------------------------------


class NotAcceptable(ProblemError):
    status, type, title = 406, "not-acceptable", "None of the accepted media types is offered"


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range in an Accept header (parameters ignored)."""
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if "/" not in media:
            continue
        type_, subtype = (x.strip().lower() for x in media.split("/", 1))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((type_, subtype, q))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, str, float]]) -> float:
    """The q of the most specific range matching `media_type` (0: not acceptable)."""
    type_, subtype = media_type.split("/")
    best, specificity = 0.0, -1
    for r_type, r_subtype, q in ranges:
        if r_type == type_ and r_subtype == subtype:
            rank = 2
        elif r_type == type_ and r_subtype == "*":
            rank = 1
        elif r_type == "*" and r_subtype == "*":
            rank = 0
        else:
            continue
        if rank > specificity:
            best, specificity = q, rank
    return best


def negotiate(format_: str | None, accept: str | None) -> str:
    """json, csv or xlsx: `format` when given (the query parameter's own check refuses any
    other value with 422), else the best that Accept allows; 406 when it allows none."""
    if format_:
        return format_
    if not accept or not accept.strip():
        return "json"
    ranges = _media_ranges(accept)
    qualities = {name: _quality(media, ranges) for name, media in FORMATS.items()}
    name, q = max(qualities.items(), key=lambda kv: kv[1])  # the first of equals: json first
    if q <= 0:
        offered = ", ".join(FORMATS.values())
        raise NotAcceptable(
            f"Accept names nothing offered here; offered: {offered} (or format=json|csv|xlsx)",
            errors=[field_error("header.accept", f"offered: {offered}", "not_acceptable")],
            offered=list(FORMATS.values()),
        )
    return name
