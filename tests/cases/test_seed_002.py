"""Seed 002 (Shihe district, 2023Q4): 32 window departments accepted 71,073 cases and finished
all of them, on time (按时办结率 100%). Loaded in calls of 10,000, read back exactly."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from app.cases.schemas import CaseTable
from tests.cases.conftest import import_all, raw
from tests.fixtures.stats import contract

CASES = 71_073
DEPARTMENTS = [f"D{n:02d}" for n in range(1, 33)]


def seed_cases() -> list[dict]:
    """71,073 cases over the quarter's 92 days, spread unevenly across departments, windows,
    staff and items; each finished within a day, on time."""
    out = []
    first = date(2023, 10, 1)
    for n in range(CASES):
        department = DEPARTMENTS[n % 97 % 32]
        day = first + timedelta(days=n % 92)
        accepted = datetime.fromisoformat(f"{day}T{8 + n % 9:02d}:{n % 60:02d}:00+08:00")
        out.append(
            {
                "case_no": f"SH2023Q4{n:06d}",
                "department_code": department,
                "window_no": f"{department}-W{n % 3}",
                "staff_id": f"{department}-S{n % 5}",
                "service_item_code": f"{department}-I{n % 7}",
                "service_item_name": f"事项{n % 7}",
                "accepted_at": accepted.isoformat(),
                "finished_at": (accepted + timedelta(hours=20)).isoformat(),
                "on_time": True,
            }
        )
    return out


async def test_seed_002_quarter_reads_back_exactly(app, client, admin):
    r = await client.post(
        "/v1/departments/import",
        json={"departments": [{"code": c, "name": f"窗口单位{c}"} for c in DEPARTMENTS]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    cases = seed_cases()
    assert await import_all(client, admin, cases) == {
        "received": CASES,
        "created": CASES,
        "updated": 0,
        "unchanged": 0,
    }
    again = await import_all(client, admin, cases[:10_000])  # a retried call: nothing twice
    assert again["unchanged"] == 10_000
    body = contract(
        CaseTable,
        await client.get("/v1/stats/cases", params={"period": "2023Q4"}, headers=admin),
    )
    total = body["total"]
    assert (total["cases"], total["finished"], total["on_time"]) == (CASES, CASES, CASES)
    assert total["on_time_rate"] == 100.0 and total["rated"] == 0
    ((windows, items),) = await raw(
        app,
        "SELECT count(DISTINCT (department_code, window_no)), "
        "count(DISTINCT (department_code, service_item_code)) FROM service_case",
    )
    assert total["windows"] == {"total": windows, "rated": 0, "rate": 0.0}
    assert total["items"] == {"total": items, "rated": 0, "rate": 0.0}
    expected = await raw(
        app,
        "SELECT department_code, count(*) FROM service_case WHERE accepted_at >= :s "
        "AND accepted_at < :e GROUP BY 1 ORDER BY 1",
        s=datetime.fromisoformat("2023-10-01T00:00:00+08:00"),
        e=datetime.fromisoformat("2024-01-01T00:00:00+08:00"),
    )
    assert [(r["department_code"], r["cases"]) for r in body["rows"]] == [
        tuple(e) for e in expected
    ]
    assert len(body["rows"]) == 32
    staff = contract(
        CaseTable,
        await client.get(
            "/v1/stats/cases", params={"period": "2023-12", "group": "staff"}, headers=admin
        ),
    )
    december = await raw(
        app,
        "SELECT department_code, staff_id, count(*) FROM service_case WHERE accepted_at >= :s "
        "AND accepted_at < :e GROUP BY 1, 2 ORDER BY 1, 2",
        s=datetime.fromisoformat("2023-12-01T00:00:00+08:00"),
        e=datetime.fromisoformat("2024-01-01T00:00:00+08:00"),
    )
    assert [(r["department_code"], r["key"], r["cases"]) for r in staff["rows"]] == [
        tuple(e) for e in december
    ]
