"""Surveys' helpers: departments, a quarter of cases to draw from, creating surveys."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.cases.conftest import import_all

# Seed 000 (Yueyang, 2023Q1): the 35 window departments of the survey.
YUEYANG = [
    "人社局", "市监局", "公安局", "不动产", "住建局", "城管局", "税务局", "公积金", "资规局",
    "交通局", "科技局", "发改委", "消防支队", "水务集团", "卫健委", "生态环境局", "水利局",
    "有线电视网络公司", "财政局", "国网电力公司", "华润燃气", "国动办", "应急局", "商务局",
    "烟草专卖局", "农业农村局", "气象局", "民政局", "教体局", "林业局", "工信局", "司法局",
    "文旅广电局", "中铁公司", "医保局",
]  # fmt: skip
CODES = [f"YY{n:02d}" for n in range(1, len(YUEYANG) + 1)]


@pytest.fixture
async def yueyang(client, admin):
    """The 35 departments and 3,500 cases of 2023Q1, unevenly spread (人社局 the most)."""
    r = await client.post(
        "/v1/departments/import",
        json={"departments": [{"code": c, "name": n} for c, n in zip(CODES, YUEYANG, strict=True)]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    cases = []
    for n in range(3500):
        code = CODES[min(n % 50, len(CODES) - 1)]  # YY35 takes 16 in 50
        day = date(2023, 1, 1) + timedelta(days=n % 90)
        cases.append(
            {
                "case_no": f"YY2023Q1{n:05d}",
                "department_code": code,
                "window_no": f"W{n % 4}",
                "service_item_code": f"{code}-{n % 6}",
                "accepted_at": datetime.fromisoformat(f"{day}T09:00:00+08:00").isoformat(),
            }
        )
    await import_all(client, admin, cases)
    return CODES


async def create(client, headers, **body):
    r = await client.post(
        "/v1/surveys",
        json={
            "name": "2023年一季度满意度测评",
            "channel": "phone_callback",
            "period": "2023Q1",
            **body,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def items(client, headers, survey_id, **params):
    out, cursor = [], None
    while True:
        r = await client.get(
            f"/v1/surveys/{survey_id}/items",
            params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return out
