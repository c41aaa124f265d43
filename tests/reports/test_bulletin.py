"""The bulletin of a demo centre: it opens in python-docx and openpyxl, and its numbers are the
API's."""

import io

from docx import Document
from openpyxl import load_workbook

from tests.fixtures.factories import auth, make_key

PERIOD, PREVIOUS = "2025Q4", "2025Q3"


async def _get(client, headers, path, **params):
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response


def _sheet_rows(workbook, name):
    return [list(row) for row in workbook[name].iter_rows(values_only=True)]


async def test_demo_bulletin_numbers_are_the_apis_in_every_format(app, client, demo_centre):
    reader = auth(await make_key(app, "reader"))
    overview = (await _get(client, reader, "/v1/stats/overview", period=PERIOD)).json()
    before = (await _get(client, reader, "/v1/stats/overview", period=PREVIOUS)).json()
    table = (await _get(client, reader, "/v1/stats/departments", period=PERIOD)).json()
    scores = (await _get(client, reader, "/v1/reports/scores", period=PERIOD)).json()
    ratings, orders = overview["ratings"], overview["workorders"]["rating"]
    assert ratings["counted"] > 1000 and ratings["bad"] > 0 and orders["closed"] > 0
    assert before["ratings"]["counted"] > 1000

    made = (await _get(client, reader, "/v1/reports/bulletin", period=PERIOD, format="json")).json()
    assert made["title"] == "关于政务服务中心2025年第四季度政务服务“好差评”情况的通报"
    assert made["previous_period"]["label"] == PREVIOUS
    assert made["figures"]["ratings"] == ratings
    assert made["figures"]["workorders"] == overview["workorders"]
    assert made["figures"]["scores"] == scores
    keys = [s["key"] for s in made["sections"]]
    assert keys == [
        "intro", "ratings", "cases", "rectification", "complaints", "departments", "reasons",
        "assessment",
    ]  # fmt: skip
    sections = {s["key"]: s for s in made["sections"]}
    assert sections["cases"]["has_data"] and "主动评价率" in sections["cases"]["paragraphs"][0]
    headline = sections["ratings"]["paragraphs"][0]
    assert f"共收到有效评价{ratings['counted']}条" in headline
    assert f"好评率{ratings['good_rate']:.2f}%" in headline
    rect = sections["rectification"]["paragraphs"][0]
    assert f"按期整改率{orders['on_time_rate']:.2f}%" in rect
    assert f"实名差评回访率{orders['real_name_callback_rate']:.2f}%" in rect

    # XLSX: one sheet per table, the figures as numbers, native charts
    xlsx = await _get(client, reader, "/v1/reports/bulletin", period=PERIOD, format="xlsx")
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(xlsx.content))
    tables = [t for s in made["sections"] for t in s["tables"]]
    assert workbook.sheetnames == ["通报"] + [t["name"] for t in tables]
    summary = {row[0]: row[1:] for row in _sheet_rows(workbook, "评价总体情况")[1:]}
    assert summary["有效评价数"][:2] == [ratings["counted"], before["ratings"]["counted"]]
    assert summary["非常满意"][0] == ratings["by_level"]["5"]
    assert summary["差评数"][0] == ratings["bad"]
    assert summary["好评率(%)"][0] == ratings["good_rate"]
    rect_rows = {row[0]: row[1] for row in _sheet_rows(workbook, "差评整改情况")[1:]}
    assert rect_rows["差评整改率(%)"] == orders["rectification_rate"]
    assert rect_rows["按期整改率(%)"] == orders["on_time_rate"]
    assert rect_rows["实名差评回访率(%)"] == orders["real_name_callback_rate"]
    ranking = _sheet_rows(workbook, "部门好评率排名")[1:]
    expected = sorted(
        (r["rank"], r["name"], r["ratings"]["counted"], r["ratings"]["good_rate"])
        for r in table["departments"]
    )
    assert [(r[0], r[1], r[2], r[5]) for r in ranking] == expected
    score_rows = _sheet_rows(workbook, "综合考核得分")[1:]
    assert [(r[0], r[1], r[2]) for r in score_rows] == [
        (u["rank"], u["name"], u["score"]) for u in scores["units"] if u["rank"] is not None
    ]
    assert len(workbook["满意度分布"]._charts) == 1
    assert len(workbook["部门好评率排名"]._charts) == 1

    # DOCX: the same paragraphs and tables, editable
    docx = await _get(client, reader, "/v1/reports/bulletin", period=PERIOD, format="docx")
    document = Document(io.BytesIO(docx.content))
    text = "\n".join(p.text for p in document.paragraphs)
    assert made["title"] in text and headline in text and rect in text
    assert len(document.tables) == len(tables)
    first = document.tables[0]
    assert [c.text for c in first.rows[1].cells][:3] == [
        "有效评价数",
        str(ratings["counted"]),
        str(before["ratings"]["counted"]),
    ]

    # HTML: printable, self-contained
    html = await _get(client, reader, "/v1/reports/bulletin", period=PERIOD, format="html")
    page = html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "@media print" in page and headline in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


async def test_scores_name_their_policy_and_every_input(app, client, demo_centre):
    admin = auth(await make_key(app, "admin"))
    body = (await _get(client, admin, "/v1/reports/scores", period=PERIOD)).json()
    assert body["policy"]["formula_version"] == "2026.1"
    assert body["policy"]["weights"]["good_rate"] == 40
    assert body["unavailable_inputs"] == {}
    assert body["units_scored"] == 3
    ranked = [u for u in body["units"] if u["rank"] is not None]
    assert sum(u["commended"] for u in ranked) == 3 and not any(u["bottom"] for u in ranked)
    for unit in ranked:
        assert unit["effective_weights"]["active_rate"] > 0 and unit["unavailable"] == []
        assert 0 < unit["inputs"]["active_rate"] < 100
        assert 0 <= unit["score"] <= 100


async def test_who_may_read_and_bad_input(app, client, demo_centre):
    department = auth(await make_key(app, "department", department_code="DEMO-002"))
    response = await client.get(
        "/v1/reports/bulletin", params={"period": PERIOD}, headers=department
    )
    assert response.status_code == 403, response.text
    own = await _get(client, department, "/v1/reports/scores", period=PERIOD)
    assert [u["key"] for u in own.json()["units"]] == ["DEMO-002"]
    windows = await _get(client, department, "/v1/reports/scores", period=PERIOD, level="window")
    keys = [u["key"] for u in windows.json()["units"]]
    assert keys and all(k.startswith("DEMO-002|") for k in keys)
    reader = auth(await make_key(app, "reader"))
    for params, field in (
        ({"period": "2025Q5"}, "period"),
        ({"period": "2025Q4", "format": "pdf"}, "format"),
        ({}, "period"),
    ):
        response = await client.get("/v1/reports/bulletin", params=params, headers=reader)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in response.text
    response = await client.get(
        "/v1/reports/scores", params={"period": "2025Q4", "level": "region"}, headers=reader
    )
    assert response.status_code == 422


async def test_an_empty_centre_gets_a_bulletin_that_says_no_data(app, client, clock):
    reader = auth(await make_key(app, "reader"))
    made = (
        await _get(client, reader, "/v1/reports/bulletin", period="2024-02", format="json")
    ).json()
    assert made["title"] == "关于政务服务中心2024年2月政务服务“好差评”情况的通报"
    assert made["previous_period"]["label"] == "2024-01"
    sections = {s["key"]: s for s in made["sections"]}
    assert "共收到有效评价0条" in sections["ratings"]["paragraphs"][0]
    assert "好评率无数据" in sections["ratings"]["paragraphs"][0]
    assert not sections["reasons"]["has_data"] and not sections["assessment"]["has_data"]
    for kind in ("docx", "xlsx", "html"):
        response = await _get(client, reader, "/v1/reports/bulletin", period="2024", format=kind)
        assert response.content
    Document(
        io.BytesIO((await _get(client, reader, "/v1/reports/bulletin", period="2024")).content)
    )
