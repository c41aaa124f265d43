"""The quarterly bulletin (通报): its figures fetched through inputs.py, assembled as a Bulletin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.reports import inputs, sections
from app.reports.document import Bulletin, Section, Table
from app.reports.score import INPUT_NAMES, INPUTS, ScorePolicy
from app.reports.service import department_units, people_units, score_table
from app.reports.wording import listing, period_name, previous_period
from app.stats.periods import Period
from app.timefmt import BUSINESS_TZ

# How many windows and staff members the assessment's tables list (by 考核得分).
PEOPLE_ROWS = 20


def assessment_section(
    names: dict[str, str],
    scores: dict[str, Any],
    windows: dict[str, Any],
    staff: dict[str, Any],
) -> Section:
    """七、综合考核与创先争优: departments by 考核得分, 标兵 and the bottom; windows and staff."""
    policy = scores["policy"]
    weights = {name: w for name, w in policy["weights"].items() if w > 0}
    total = sum(weights.values())
    described = "、".join(
        f"{INPUT_NAMES[name]}{w * 100 / total:.0f}%" for name, w in weights.items()
    )
    paragraphs = [
        f"按综合考核办法（计分版本{policy['formula_version']}：{described}），"
        "对各部门进行综合评定。"
    ]
    if scores["unavailable_inputs"]:
        missing = listing([INPUT_NAMES[name] for name in scores["unavailable_inputs"]])
        paragraphs.append(f"本期{missing}无数据，其权重按比例分配至其余指标。")
    ranked = [row for row in scores["units"] if row["rank"] is not None]
    commended = [row["name"] for row in ranked if row["commended"]]
    bottom = [row["name"] for row in ranked if row["bottom"]]
    if commended:
        paragraphs.append(
            f"经综合评定，{listing(commended)}等{len(commended)}个单位评定为"
            f"“{names['period']}政务服务工作优质服务窗口单位”。"
        )
    if bottom:
        paragraphs.append(f"{listing(bottom)}综合得分排名靠后，请对照问题认真整改。")
    for unit_name, title, table_scores in (
        ("窗口", "优质服务窗口", windows),
        ("工作人员", "优质服务标兵", staff),
    ):
        best = [row["name"] for row in table_scores["units"] if row["commended"]]
        if best:
            paragraphs.append(
                f"按同一考核办法评定，{listing(best)}为“{names['period']}政务服务{title}”。"
            )
        else:
            paragraphs.append(f"{unit_name}考核：{sections.NO_DATA}（本期无{unit_name}收到评价）。")
    columns = ["排名", "部门", "考核得分"]
    columns += [f"{INPUT_NAMES[name]}{'(‰)' if name == 'complaints' else '(%)'}" for name in INPUTS]
    columns += ["评定"]
    rows = []
    for row in ranked:
        values = [row["inputs"][name] for name in INPUTS]
        values[INPUTS.index("complaints")] = row["complaints_per_thousand"]
        verdict = "优质服务窗口单位" if row["commended"] else ("排名靠后" if row["bottom"] else "")
        rows.append([row["rank"], row["name"], row["score"], *values, verdict])
    table = Table("综合考核得分", columns, rows)
    tables = [table, people_table("窗口考核得分", "窗口", windows)]
    tables.append(people_table("工作人员考核得分", "工作人员", staff))
    return Section("assessment", "七、综合考核与创先争优", paragraphs, tables, has_data=bool(rows))


def people_table(name: str, unit: str, scores: dict[str, Any]) -> Table:
    """The first PEOPLE_ROWS ranked windows or staff members by 考核得分."""
    rows = []
    for row in [r for r in scores["units"] if r["rank"] is not None][:PEOPLE_ROWS]:
        verdict = "标兵" if row["commended"] else ""
        counts = row["counts"]
        rows.append(
            [row["rank"], row["name"], row["score"], counts["counted"], row["inputs"]["good_rate"],
             counts["complaints"], row["inputs"]["active_rate"], verdict]
        )  # fmt: skip
    columns = ["排名", unit, "考核得分", "有效评价数", "好评率(%)", "投诉数", "主动评价率(%)"]
    return Table(name, [*columns, "评定"], rows)


async def build(
    session: AsyncSession,
    period: Period,
    *,
    centre: str,
    now: datetime,
    policy: ScorePolicy,
) -> Bulletin:
    """The bulletin of `period`, each figure beside the previous period's (环比)."""
    previous = previous_period(period)
    names = {"centre": centre, "period": period_name(period), "previous": period_name(previous)}
    cur = await inputs.overview(session, period, now=now)
    prev = await inputs.overview(session, previous, now=now)
    table = await inputs.department_table(session, period, now=now)
    prev_table = await inputs.department_table(session, previous, now=now)
    cases = await inputs.case_rows(session, period)
    prev_cases = await inputs.case_rows(session, previous)
    reasons = await inputs.reason_rows(session, period)
    prev_reasons = await inputs.reason_rows(session, previous)
    samples = await inputs.sample_rows(session, period)
    prev_samples = await inputs.sample_rows(session, previous)
    scores = score_table(period, department_units(table, cases), cases, policy)
    people = {}
    for level, rows in (
        ("window", await inputs.window_rows(session, period, now=now)),
        ("staff", await inputs.staff_rows(session, period, now=now)),
    ):
        level_cases = await inputs.case_rows(session, period, level)
        units = people_units(rows, level_cases, level)
        people[level] = score_table(period, units, level_cases, policy, level=level)
    title = f"关于{centre}{names['period']}政务服务“好差评”情况的通报"
    intro = Section(
        "intro",
        "",
        [
            f"为深入推进政务服务“好差评”工作，持续提升政务服务质量，现将{centre}"
            f"{names['period']}政务服务“好差评”、差评整改、投诉处理及综合考核情况通报如下。"
        ],
    )
    body = [
        intro,
        sections.ratings_section(names, cur, prev, cur["departments_rated"], samples, prev_samples),
        sections.cases_section(names, cases, prev_cases),
        sections.rectification_section(names, cur, prev),
        sections.complaints_section(
            names,
            cur,
            prev,
            inputs.complaint_source_rows(table),
            inputs.complaint_source_rows(prev_table),
            await inputs.complaint_window_rows(session, period, now=now),
        ),
        sections.departments_section(names, table, prev_table, policy.commend_top or 3),
        sections.reasons_section(names, reasons, prev_reasons),
        assessment_section(names, scores, people["window"], people["staff"]),
    ]
    figures = {
        "ratings": cur["ratings"],
        "previous_ratings": prev["ratings"],
        "workorders": cur["workorders"],
        "previous_workorders": prev["workorders"],
        "bands": table["bands"],
        "scores": scores,
        "window_scores": people["window"],
        "staff_scores": people["staff"],
        "cases": None if cases is None else {"cases": cases[None][0], "rated": cases[None][1]},
        "samples": None if samples is None else samples["total"],
    }
    return Bulletin(
        title=title,
        centre=centre,
        period=period,
        period_name=names["period"],
        previous=previous,
        previous_name=names["previous"],
        issued_on=now.astimezone(BUSINESS_TZ).date(),
        sections=body,
        figures=figures,
    )
