"""The quarterly bulletin (通报): its figures fetched through inputs.py, assembled as a Bulletin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.reports import inputs, sections
from app.reports.document import Bulletin, Section, Table
from app.reports.score import INPUT_NAMES, INPUTS, ScorePolicy
from app.reports.service import score_table
from app.reports.wording import listing, period_name, previous_period
from app.stats.periods import Period
from app.timefmt import BUSINESS_TZ


def assessment_section(
    names: dict[str, str],
    scores: dict[str, Any],
    windows: list[dict[str, Any]] | None,
    staff: list[dict[str, Any]] | None,
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
    if windows:
        best = [row["name"] for row in windows if row.get("commended")]
        paragraphs.append(f"优质服务窗口：{listing(best) or '无'}。")
    else:
        paragraphs.append(f"窗口服务排名：{sections.NO_DATA}（窗口排名尚未接入）。")
    if staff:
        best = [row["name"] for row in staff if row.get("commended")]
        paragraphs.append(
            f"{listing(best)}等{len(best)}名同志为“{names['period']}政务服务工作优质服务标兵”。"
        )
    else:
        paragraphs.append(f"服务标兵（工作人员）：{sections.NO_DATA}（工作人员排名尚未接入）。")
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
    return Section("assessment", "七、综合考核与创先争优", paragraphs, [table], has_data=bool(rows))


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
    scores = score_table(period, table, cases, policy)
    windows = await inputs.window_rows(session, period)
    staff = await inputs.staff_rows(session, period)
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
        sections.ratings_section(names, cur, prev, cur["departments_rated"]),
        sections.cases_section(names, cases, prev_cases),
        sections.rectification_section(names, cur, prev),
        sections.complaints_section(
            names,
            cur,
            prev,
            inputs.complaint_source_rows(cur),
            inputs.complaint_window_rows(table),
        ),
        sections.departments_section(names, table, prev_table, policy.commend_top or 3),
        sections.reasons_section(names, reasons, prev_reasons),
        assessment_section(names, scores, windows, staff),
    ]
    figures = {
        "ratings": cur["ratings"],
        "previous_ratings": prev["ratings"],
        "workorders": cur["workorders"],
        "previous_workorders": prev["workorders"],
        "bands": table["bands"],
        "scores": scores,
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
