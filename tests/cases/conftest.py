"""The case ledger's helpers: cases, imports in calls of up to 10,000, the raw counts."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.fixtures.factories import make_department


def case(no, department="SJ", accepted_at="2023-10-09T09:30:00+08:00", **extra) -> dict:
    return {"case_no": no, "department_code": department, "accepted_at": accepted_at, **extra}


async def import_all(client, headers, cases, chunk=10_000) -> dict:
    totals = {"received": 0, "created": 0, "updated": 0, "unchanged": 0}
    for start in range(0, len(cases), chunk):
        r = await client.post(
            "/v1/cases/import", json={"cases": cases[start : start + chunk]}, headers=headers
        )
        assert r.status_code == 200, r.text
        for k, v in r.json().items():
            totals[k] += v
    return totals


async def raw(app, sql: str, **params):
    async with app.state.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).all()


@pytest.fixture
async def departments(client, admin):
    await make_department(client, admin, "SJ", "市场监督管理局")
    await make_department(client, admin, "RS", "人力资源和社会保障局")
    return ["SJ", "RS"]
