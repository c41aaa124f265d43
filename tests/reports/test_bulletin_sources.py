"""The demo bulletin's sections fed by the case ledger, complaint sources, the windows and staff
tables, the reasons across sources and the survey samples: each equals its API."""

import io

from docx import Document
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.cases import repository as case_repository
from app.workorders.categories import COMPLAINT_SOURCE_NAMES
from tests.fixtures.factories import auth, make_key

PERIOD = "2025Q4"


async def _json(client, headers, path, **params):
    response = await client.get(path, params={"period": PERIOD, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _rows(workbook, name):
    return [list(row) for row in workbook[name].iter_rows(values_only=True)][1:]


async def test_demo_bulletin_sections_equal_the_sources_apis(app, client, demo_centre):
    assert demo_centre["cases"] > demo_centre["unrated_cases"] > 0
    assert demo_centre["surveys"] == 3 and demo_centre["samples"] > 0
    reader = auth(await make_key(app, "reader"))
    made = await _json(client, reader, "/v1/reports/bulletin", format="json")
    sections = {s["key"]: s for s in made["sections"]}
    assert all(s["has_data"] for s in made["sections"])
    text_all = "\n".join(p for s in made["sections"] for p in s["paragraphs"])
    assert "本期无数据" not in text_all and "尚未接入" not in text_all
    workbook = load_workbook(io.BytesIO((await client.get(
        "/v1/reports/bulletin", params={"period": PERIOD, "format": "xlsx"}, headers=reader
    )).content))  # fmt: skip

    # 二、办件量与主动评价率 = GET /v1/stats/cases
    cases = (await _json(client, reader, "/v1/stats/cases"))["total"]
    assert 0 < cases["active_rating_rate"] < 100
    assert made["figures"]["cases"] == {"cases": cases["cases"], "rated": cases["rated"]}
    paragraph = sections["cases"]["paragraphs"][0]
    assert f"共办件{cases['cases']}件" in paragraph
    assert f"主动评价率{cases['active_rating_rate']:.2f}%" in paragraph
    ledger = {row[0]: row[1] for row in _rows(workbook, "办件与主动评价")}
    assert ledger["办件量"] == cases["cases"] and ledger["主动评价件数"] == cases["rated"]
    assert ledger["主动评价率(%)"] == cases["active_rating_rate"]

    # 一、the survey samples = GET /v1/stats/samples (满意度 over the valid samples only)
    samples = (await _json(client, reader, "/v1/stats/samples"))["total"]
    assert samples["invalid"] > 0 and samples["valid"] == samples["counted"] > 0
    assert made["figures"]["samples"] == samples
    sheet = {row[0]: row[1] for row in _rows(workbook, "回访拦访样本")}
    assert (sheet["测评样本数"], sheet["无效样本数"], sheet["有效样本数"]) == (
        samples["samples"], samples["invalid"], samples["valid"]
    )  # fmt: skip
    assert sheet["满意度(%)"] == samples["good_rate"]
    assert f"测评样本{samples['samples']}个，其中无效样本{samples['invalid']}个" in text_all

    # 四、complaints by source (the departments' complaints_by_source) and by window
    departments = (await _json(client, reader, "/v1/stats/departments"))["departments"]
    by_source = {
        COMPLAINT_SOURCE_NAMES[s]: sum(d["complaints_by_source"][s] for d in departments)
        for s in COMPLAINT_SOURCE_NAMES
    }
    sources = {row[0]: row[1] for row in _rows(workbook, "投诉按来源")}
    assert sources == by_source and sum(1 for n in sources.values() if n) >= 3
    windows = await _json(client, reader, "/v1/stats/windows", sort="complaints", limit=10)
    expected = [
        [f"{w['department_name']}{w['name']}", w["complaints"]["counted"],
         w["complaints"]["by_source"]["hotline_12345"]]
        for w in windows["windows"] if w["complaints"]["counted"]
    ]  # fmt: skip
    assert expected and _rows(workbook, "投诉按窗口") == expected

    # 六、reasons across 差评, complaints and inspections = GET /v1/stats/reasons?source=all
    reasons = await _json(client, reader, "/v1/stats/reasons", source="all")
    assert sum(r["complaints"] for r in reasons["reasons"]) > 0
    assert [row[:5] for row in _rows(workbook, "问题分类")] == [
        [r["name"], r["count"], r["ratings"], r["complaints"], r["inspections"]]
        for r in reasons["reasons"]
    ]

    # 七、windows and staff scored by the same rule = GET /v1/reports/scores?level=…
    for level, sheet_name in (("window", "窗口考核得分"), ("staff", "工作人员考核得分")):
        scores = await _json(client, reader, "/v1/reports/scores", level=level)
        assert made["figures"][f"{level}_scores"] == scores
        assert "active_rate" not in scores["unavailable_inputs"]
        ranked = [u for u in scores["units"] if u["rank"] is not None]
        assert len(ranked) > 3 and sum(u["commended"] for u in ranked) >= 3
        assert [r[:3] for r in _rows(workbook, sheet_name)] == [
            [u["rank"], u["name"], u["score"]] for u in ranked[:20]
        ]
        best = [u["name"] for u in ranked if u["commended"]]
        assert all(name in text_all for name in best)
    staff = await _json(client, reader, "/v1/stats/staff")
    named = {s["name"] for s in staff["staff"] if s["registered"]}
    assert {u["name"] for u in scores["units"]} <= named  # names from the register
    by_window = await _json(client, reader, "/v1/stats/cases", group="window")
    window_scores = made["figures"]["window_scores"]["units"]
    some = next(u for u in window_scores if u["counts"]["cases_handled"])
    department, window_no = some["key"].split("|")
    row = next(
        r for r in by_window["rows"]
        if (r["department_code"], r["key"]) == (department, window_no)
    )  # fmt: skip
    assert (some["counts"]["cases_handled"], some["counts"]["cases_rated"]) == (
        row["cases"], row["rated"]
    )  # fmt: skip
    departments_scores = await _json(client, reader, "/v1/reports/scores")
    assert "active_rate" not in departments_scores["unavailable_inputs"]

    # DOCX: the new tables are there, one per table of the JSON
    docx = await client.get(
        "/v1/reports/bulletin", params={"period": PERIOD, "format": "docx"}, headers=reader
    )
    document = Document(io.BytesIO(docx.content))
    assert len(document.tables) == sum(len(s["tables"]) for s in made["sections"])
    assert paragraph in "\n".join(p.text for p in document.paragraphs)
    await _tallies_are_the_case_imports(app)


async def _tallies_are_the_case_imports(app):
    """The demo sums its day tallies itself: they equal the case import's own statement's."""
    query = text("SELECT * FROM case_day ORDER BY dimension, grain, bucket, department_code, key")
    async with app.state.engine.connect() as conn:
        transaction = await conn.begin()
        loaded = [tuple(r) for r in await conn.execute(query)]
        ids = list((await conn.execute(text("SELECT id FROM service_case"))).scalars())
        await conn.execute(text("DELETE FROM case_day"))
        await case_repository.apply(AsyncSession(bind=conn), ids, 1)
        assert [tuple(r) for r in await conn.execute(query)] == loaded and len(loaded) > 100
        # each case's count is that of the counted applicant ratings naming it
        wrong = await conn.scalar(
            text(
                "SELECT count(*) FROM service_case c WHERE c.rating_count <> (SELECT count(*) "
                "FROM rating r WHERE r.case_no = c.case_no AND r.status = 'valid' "
                "AND r.channel NOT IN ('phone_callback', 'onsite_survey'))"
            )
        )
        assert wrong == 0
        await transaction.rollback()
