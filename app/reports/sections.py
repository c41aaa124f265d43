"""The bulletin's sections, each built from this period's and the previous period's figures
(pure: the figures are fetched by bulletin.py through inputs.py). Seed 002 is the model: each
section says its numbers in a sentence and then gives them in a table, with 环比."""

from __future__ import annotations

from typing import Any

from app.reports.document import Chart, Section, Table
from app.reports.wording import count_change, listing, pct, rate_change, short_change
from app.stats.tally import rate

NO_DATA = "本期无数据"
_LEVELS = (
    ("5", "非常满意"),
    ("4", "满意"),
    ("3", "基本满意"),
    ("2", "不满意"),
    ("1", "非常不满意"),
)
BAND_NAMES = {
    "100": "100%",
    "90-100": "90%（含）至100%",
    "80-90": "80%（含）至90%",
    "below-80": "80%以下",
}


def _compare(rows: list[tuple[str, Any, Any, bool]]) -> list[list[Any]]:
    """指标, 本期, 上期, 环比 rows; the flag says the figure is a rate."""
    return [
        [name, cur, prev, short_change(cur, prev, rate=is_rate)]
        for name, cur, prev, is_rate in rows
    ]


_COMPARE = ["指标", "本期", "上期", "环比"]


def ratings_section(
    names: dict[str, str],
    cur: dict,
    prev: dict,
    rated: int,
    samples: dict | None = None,
    prev_samples: dict | None = None,
) -> Section:
    """一、好差评总体情况: counts by level, 好评率 and 差评率, with 环比; the survey samples
    (回访、拦访) when there were any."""
    r, p = cur["ratings"], prev["ratings"]
    levels = "、".join(f"{name}{r['by_level'][code]}条" for code, name in _LEVELS)
    text = (
        f"{names['period']}，{names['centre']}共收到有效评价{r['counted']}条，"
        f"{count_change(r['counted'], p['counted'], '条')}，其中{levels}；"
        f"好评{r['good']}条，差评{r['bad']}条，好评率{pct(r['good_rate'])}，"
        f"{rate_change(r['good_rate'], p['good_rate'])}。共有{rated}个部门收到评价。"
    )
    paragraphs = [text]
    if r["withdrawn"] or r["invalidated_on_appeal"]:
        paragraphs.append(
            f"另有评价人撤回的差评{r['withdrawn']}条、经申诉核销的评价{r['invalidated_on_appeal']}条，"
            "不计入上述统计。"
        )
    summary = Table(
        "评价总体情况",
        _COMPARE,
        _compare(
            [("有效评价数", r["counted"], p["counted"], False)]
            + [(name, r["by_level"][c], p["by_level"][c], False) for c, name in _LEVELS]
            + [
                ("好评数", r["good"], p["good"], False),
                ("差评数", r["bad"], p["bad"], False),
                ("好评率(%)", r["good_rate"], p["good_rate"], True),
                ("差评率(%)", r["bad_rate"], p["bad_rate"], True),
                ("撤回差评数", r["withdrawn"], p["withdrawn"], False),
                ("申诉核销数", r["invalidated_on_appeal"], p["invalidated_on_appeal"], False),
            ]
        ),
    )
    levels_table = Table(
        "满意度分布",
        ["满意度", "本期", "上期"],
        [[name, r["by_level"][c], p["by_level"][c]] for c, name in _LEVELS],
    )
    chart = Chart("bar", "满意度分布（本期与上期）", levels_table.name, 0, [1, 2])
    tables = [summary, levels_table]
    if samples is not None:
        paragraph, table = samples_part(names, samples, prev_samples)
        paragraphs.append(paragraph)
        tables.append(table)
    return Section("ratings", "一、好差评总体情况", paragraphs, tables, [chart])


INVALID_NAMES = {
    "unreachable": "无法接通",
    "refused": "拒绝评价",
    "wrong_number": "号码错误",
    "not_applicant": "非办事人",
    "other": "其他",
}


def samples_part(names: dict[str, str], samples: dict, prev_samples: dict | None) -> tuple:
    """The survey samples (seed 000): 测评样本, 无效样本 by reason, 有效样本, 满意度 over the
    valid (counted) samples only."""
    t = samples["total"]
    p = (prev_samples or {"total": None})["total"] or {k: 0 for k in t} | {"good_rate": None}
    reasons = "、".join(f"{INVALID_NAMES[r]}{n}个" for r, n in t["invalid_by_reason"].items() if n)
    text = (
        f"{names['period']}开展电话回访、现场拦访，测评样本{t['samples']}个，其中无效样本{t['invalid']}个"
        + (f"（{reasons}）" if reasons else "")
        + f"，有效样本{t['valid']}个；有效样本中满意{t['good']}个、不满意{t['bad']}个，"
        f"满意度{pct(t['good_rate'])}，{rate_change(t['good_rate'], p['good_rate'])}。"
    )
    table = Table(
        "回访拦访样本",
        _COMPARE,
        _compare(
            [
                ("测评样本数", t["samples"], p["samples"], False),
                ("无效样本数", t["invalid"], p["invalid"], False),
                ("有效样本数", t["valid"], p["valid"], False),
                ("待回访样本数", t["pending"], p["pending"], False),
                ("满意样本数", t["good"], p["good"], False),
                ("满意度(%)", t["good_rate"], p["good_rate"], True),
            ]
        ),
    )
    return text, table


def cases_section(names: dict[str, str], cases: Any, prev_cases: Any) -> Section:
    """二、办件量与主动评价率 (from the case ledger)."""
    heading = "二、办件量与主动评价率"
    if cases is None or None not in cases:
        missing = f"{NO_DATA}（办件台账中没有本期受理的办件）。"
        return Section("cases", heading, [missing], has_data=False)
    handled, rated = cases[None]
    prev_handled, prev_rated = (prev_cases or {}).get(None, (0, 0))
    active, prev_active = rate(rated, handled), rate(prev_rated, prev_handled)
    text = (
        f"{names['period']}共办件{handled}件，{count_change(handled, prev_handled, '件')}，"
        f"其中办事人主动评价{rated}件，主动评价率{pct(active)}，"
        f"{rate_change(active, prev_active)}。"
    )
    table = Table(
        "办件与主动评价",
        _COMPARE,
        _compare(
            [
                ("办件量", handled, prev_handled, False),
                ("主动评价件数", rated, prev_rated, False),
                ("主动评价率(%)", active, prev_active, True),
            ]
        ),
    )
    return Section("cases", heading, [text], [table])


def rectification_section(names: dict[str, str], cur: dict, prev: dict) -> Section:
    """三、差评整改情况: 差评整改率, 按期整改率, 实名差评回访率, with 环比."""
    o, q = cur["workorders"]["rating"], prev["workorders"]["rating"]
    text = (
        f"{names['period']}差评生成整改工单{o['opened']}件，其中评价人撤回{o['withdrawn']}件、"
        f"经申诉核销{o['appeal_upheld']}件（不计入整改率），计入整改{o['counted']}件；"
        f"已整改办结{o['closed']}件，差评整改率{pct(o['rectification_rate'])}，"
        f"{rate_change(o['rectification_rate'], q['rectification_rate'])}；"
        f"已到整改期限{o['deadline_due']}件，按期整改{o['on_time']}件，"
        f"按期整改率{pct(o['on_time_rate'])}，{rate_change(o['on_time_rate'], q['on_time_rate'])}；"
        f"实名差评{o['real_name']}件，已回访{o['real_name_called_back']}件，"
        f"实名差评回访率{pct(o['real_name_callback_rate'])}，"
        f"{rate_change(o['real_name_callback_rate'], q['real_name_callback_rate'])}。"
    )
    paragraphs = [text]
    if o["overdue_now"]:
        paragraphs.append(
            f"截至通报时，仍有{o['overdue_now']}件差评工单超期未办结，请相关单位抓紧整改。"
        )
    if o["appealed"]:
        paragraphs.append(
            f"本期共有{o['appealed']}件差评提出申诉，经督查核实核销{o['appeal_upheld']}件，"
            f"不予支持{o['appeal_rejected']}件。"
        )
    table = Table(
        "差评整改情况",
        _COMPARE,
        _compare(
            [
                ("差评工单数", o["opened"], q["opened"], False),
                ("评价人撤回", o["withdrawn"], q["withdrawn"], False),
                ("申诉核销", o["appeal_upheld"], q["appeal_upheld"], False),
                ("计入整改数", o["counted"], q["counted"], False),
                ("已办结", o["closed"], q["closed"], False),
                ("差评整改率(%)", o["rectification_rate"], q["rectification_rate"], True),
                ("已到期限数", o["deadline_due"], q["deadline_due"], False),
                ("按期整改数", o["on_time"], q["on_time"], False),
                ("按期整改率(%)", o["on_time_rate"], q["on_time_rate"], True),
                ("实名差评数", o["real_name"], q["real_name"], False),
                ("已回访数", o["real_name_called_back"], q["real_name_called_back"], False),
                (
                    "实名差评回访率(%)",
                    o["real_name_callback_rate"],
                    q["real_name_callback_rate"],
                    True,
                ),
                ("当前超期未办结", o["overdue_now"], q["overdue_now"], False),
            ]
        ),
    )
    return Section("rectification", "三、差评整改情况", paragraphs, [table])


def complaints_section(
    names: dict[str, str],
    cur: dict,
    prev: dict,
    sources: list[tuple[str, int]],
    prev_sources: list[tuple[str, int]],
    windows: list[tuple[str, int, int]],
) -> Section:
    """四、投诉情况: by source (the complaint `source`) and by window, 12345 orders handled and
    called back, with 环比."""
    o, q = cur["workorders"]["complaint"], prev["workorders"]["complaint"]
    received = sum(n for _, n in sources)
    before = sum(n for _, n in prev_sources)
    by_source = "、".join(f"{name}{n}件" for name, n in sources if n)
    text = (
        f"{names['period']}共收到投诉{received}件"
        + (f"（{by_source}）" if by_source else "")
        + f"，{count_change(received, before, '件')}。"
        f"投诉工单计入{o['counted']}件，已办结{o['closed']}件，办结率{pct(o['rectification_rate'])}；"
        f"按期办结率{pct(o['on_time_rate'])}，实名投诉回访率{pct(o['real_name_callback_rate'])}。"
    )
    paragraphs = [text]
    if windows:
        listed = "，".join(f"{name}{n}件" for name, n, _ in windows)
        paragraphs.append(f"被投诉较多的窗口：{listed}。")
    previous = dict(prev_sources)
    tables = [
        Table(
            "投诉按来源",
            ["来源", "件数", "上期", "环比"],
            [
                [name, n, previous.get(name, 0), short_change(n, previous.get(name, 0), rate=False)]
                for name, n in sources
            ],
        ),  # fmt: skip
        Table("投诉按窗口", ["窗口", "投诉件数", "其中12345热线"], [list(row) for row in windows]),
        Table(
            "投诉办理情况",
            _COMPARE,
            _compare(
                [
                    ("投诉工单数", o["opened"], q["opened"], False),
                    ("计入数", o["counted"], q["counted"], False),
                    ("已办结", o["closed"], q["closed"], False),
                    ("办结率(%)", o["rectification_rate"], q["rectification_rate"], True),
                    ("按期办结率(%)", o["on_time_rate"], q["on_time_rate"], True),
                    (
                        "实名投诉回访率(%)",
                        o["real_name_callback_rate"],
                        q["real_name_callback_rate"],
                        True,
                    ),
                ]
            ),
        ),
    ]
    charts = [Chart("pie", "投诉来源分布", "投诉按来源", 0, [1])] if received else []
    return Section("complaints", "四、投诉情况", paragraphs, tables, charts)


def departments_section(names: dict[str, str], table: dict, prev_table: dict, top: int) -> Section:
    """五、部门好评率排名: bands, ranks, top and bottom, with last period's rank and rate."""
    previous = {row["code"]: row for row in prev_table["departments"]}
    ranked = [row for row in table["departments"] if row["rank"] is not None]
    bands = "，".join(f"{BAND_NAMES[b]}的{n}个" for b, n in table["bands"].items())
    paragraphs = [f"{names['period']}参与排名的部门{len(ranked)}个，其中好评率{bands}。"]
    if ranked:
        head = [f"{r['name']}（{pct(r['ratings']['good_rate'])}）" for r in ranked[:top]]
        tail = [
            f"{r['name']}（{pct(r['ratings']['good_rate'])}）"
            for r in ranked[max(top, len(ranked) - top) :]
        ]
        paragraphs.append(f"好评率排名靠前的单位有：{listing(head)}。")
        if len(ranked) > top:
            paragraphs.append(f"好评率排名靠后的单位有：{listing(tail)}，请对照差评问题认真整改。")
    rows = []
    for row in ranked:
        r, before = row["ratings"], previous.get(row["code"])
        prev_rate = before["ratings"]["good_rate"] if before else None
        rows.append(
            [
                row["rank"],
                row["name"],
                r["counted"],
                r["good"],
                r["bad"],
                r["good_rate"],
                BAND_NAMES.get(row["band"], "—"),
                before["rank"] if before else None,
                short_change(r["good_rate"], prev_rate, rate=True),
            ]
        )
    columns = [
        "排名",
        "部门",
        "有效评价数",
        "好评数",
        "差评数",
        "好评率(%)",
        "档次",
        "上期排名",
        "好评率环比",
    ]
    out = Table("部门好评率排名", columns, rows)
    chart = Chart("bar", "各部门好评率(%)", out.name, 1, [5])
    return Section("departments", "五、部门好评率排名", paragraphs, [out], [chart] if rows else [])


def reasons_section(names: dict[str, str], reasons: dict, prev_reasons: dict) -> Section:
    """六、问题分类分析: problems by class across 差评, complaints and inspections, with 环比."""
    rows = reasons["rows"]
    before = {row["tag"]: row["count"] for row in prev_reasons["rows"]}
    total = sum(row["count"] for row in rows)
    if not rows:
        return Section(
            "reasons", "六、问题分类分析", [f"{NO_DATA}（本期差评、投诉、督查均未标注问题类别）。"],
            has_data=False,
        )  # fmt: skip
    top = [
        f"{row['name']}{row['count']}次（{pct(round(row['count'] * 100 / total, 2))}）"
        for row in rows[:5]
    ]
    paragraphs = [
        f"按“差评一件事、改好一类事”的要求，对{names['period']}差评、投诉和督查发现的问题"
        f"分类分析，问题主要集中在：{listing(top)}。"
    ]
    if reasons["uncategorised_complaints"]:
        paragraphs.append(f"另有{reasons['uncategorised_complaints']}件投诉未标注问题类别。")
    table = Table(
        "问题分类",
        ["问题类别", "合计", "差评（次）", "投诉（件）", "督查（件）", "上期合计", "环比"],
        [
            [
                row["name"],
                row["count"],
                row["ratings"],
                row["complaints"],
                row["inspections"],
                before.get(row["tag"], 0),
                short_change(row["count"], before.get(row["tag"], 0), rate=False),
            ]
            for row in rows
        ],
    )
    chart = Chart("bar", "问题分类（差评、投诉、督查）", table.name, 0, [2, 3, 4])
    return Section("reasons", "六、问题分类分析", paragraphs, [table], [chart])
