"""Case-ledger benchmark: 1 million cases imported through the API, then the case figures.

    python bench/cases.py [--cases 1000000] [--departments 60] [--calls 100]

Into a fresh embedded database: departments, then the cases of one year (2025) in accepted
order, through POST /v1/cases/import in calls of 10,000 (the ASGI app in-process with httpx);
then applicants' ratings naming 60% of them (one INSERT … SELECT, through the rating trigger
that marks each case rated). Then measures p50/p99 of GET /v1/stats/cases for each group
(department, window, staff, item) for a quarter and for the whole year, and checks the API's
counts against a raw GROUP BY over service_case (also timed: what a naive implementation would
run per request). Prints each figure and writes bench/results/cases.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import start_embedded_postgres  # noqa: E402
from app.main import create_app, freeze_startup_objects  # noqa: E402
from app.stats.periods import resolve_period  # noqa: E402
from bench.stats import summary, time_api, time_raw  # noqa: E402

DB = "haochaping_bench_cases"
START = datetime(2024, 12, 31, 16, 0, tzinfo=UTC)  # 2025-01-01 00:00 Beijing time
PERIODS = ("2025Q3", "2025")
GROUPS = ("department", "window", "staff", "item")
RAW = {
    "department": "department_code",
    "window": "department_code, coalesce(window_no, '')",
    "staff": "department_code, coalesce(staff_id, '')",
    "item": "department_code, coalesce(service_item_code, '')",
}


def raw_sql(group: str) -> str:
    return (
        f"SELECT {RAW[group]}, count(*) AS cases, count(*) FILTER (WHERE rating_count > 0) "
        "AS rated FROM service_case WHERE accepted_at >= $1 AND accepted_at < $2 "
        f"GROUP BY {RAW[group]}"
    )


def cases(n: int, departments: int) -> list[dict]:
    """n cases over 2025 in accepted order: ~3 windows, ~15 staff, ~30 items a department."""
    step = timedelta(days=365) / n
    out = []
    for i in range(n):
        d, j = (i * 7919) % departments, i // departments
        accepted = START + step * i
        out.append(
            {
                "case_no": f"B{i:09d}",
                "department_code": f"D{d:03d}",
                "window_no": f"W{d:03d}-{j % 3}",
                "staff_id": f"S{d:03d}-{j % 15}",
                "service_item_code": f"I{d:03d}-{j % 31}",
                "service_item_name": f"事项{j % 31}",
                "accepted_at": accepted.isoformat(),
                "finished_at": (accepted + timedelta(hours=30)).isoformat(),
                "on_time": i % 50 != 0,
            }
        )
    return out


async def fresh_database(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await conn.close()
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + DB + ("?" + query if query else "")


async def run(args: argparse.Namespace) -> dict:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="hcp-bench-"))
    url = await fresh_database(start_embedded_postgres(data_dir, database="postgres"))
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings(
        database_url=url,
        db_pool_size=5,
        db_max_overflow=5,
        rate_limits_enabled=False,
        background_jobs=False,
    )
    app = create_app(settings, database_url=url)
    freeze_startup_objects()  # as `haochaping serve` does before it serves
    results: dict = {"cases": args.cases, "departments": args.departments}
    async with app.router.lifespan_context(app):
        from app.auth import service as auth

        async with app.state.sessionmaker() as session:
            admin = await auth.create_client(session, name="bench admin", role="admin")
            _, key = await auth.issue_key(session, admin.id)
            await session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=600
        ) as http:
            departments = [
                {"code": f"D{d:03d}", "name": f"部门{d:03d}"} for d in range(args.departments)
            ]
            r = await http.post(
                "/v1/departments/import", json={"departments": departments}, headers=headers
            )
            r.raise_for_status()
            print(f"importing {args.cases:,} cases in calls of 10,000 ...", flush=True)
            all_cases = cases(args.cases, args.departments)
            started = time.perf_counter()
            for start in range(0, len(all_cases), 10_000):
                r = await http.post(
                    "/v1/cases/import",
                    json={"cases": all_cases[start : start + 10_000]},
                    headers=headers,
                )
                r.raise_for_status()
                if (start // 10_000) % 10 == 9:
                    done = start + 10_000
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done:>10,} cases  {rate:>8,.0f}/s", flush=True)
            results["import_seconds"] = round(time.perf_counter() - started, 1)
            del all_cases
            conn = await asyncpg.connect(dsn)
            started = time.perf_counter()
            await conn.execute(
                "INSERT INTO rating (client_id, event_id, payload_hash, channel, department_code,"
                " case_no, level, rater_type, rated_at) SELECT $1, 'b-' || case_no,"
                " sha256(convert_to(case_no, 'UTF8')), 'mobile', department_code, case_no,"
                " 5, 'individual', accepted_at + interval '2 hours' FROM service_case"
                " WHERE id % 10 < 6",
                admin.id,
            )
            results["ratings_seconds"] = round(time.perf_counter() - started, 1)
            await conn.execute("VACUUM ANALYZE")
            results["case_day_rows"] = await conn.fetchval("SELECT count(*) FROM case_day")
            await conn.close()
            print(
                f"imported in {results['import_seconds']} s; 60% rated in "
                f"{results['ratings_seconds']} s; {results['case_day_rows']:,} tally rows",
                flush=True,
            )
            for label in PERIODS:
                period = resolve_period(label)
                for group in GROUPS:
                    samples, body = await time_api(
                        http,
                        "/v1/stats/cases",
                        {"period": label, "group": group},
                        headers,
                        args.calls,
                    )
                    raw_samples, rows = await time_raw(
                        dsn, raw_sql(group), (period.start_at, period.end_at), args.raw_calls
                    )
                    api = sorted((r["cases"], r["rated"]) for r in body["rows"])
                    assert api == sorted((r["cases"], r["rated"]) for r in rows), (label, group)
                    results[f"{label} {group}"] = {
                        "rows": len(body["rows"]),
                        "cases": body["total"]["cases"],
                        "api": summary(samples),
                        "raw_group_by": summary(raw_samples),
                    }
    if not args.data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--departments", type=int, default=60)
    parser.add_argument("--calls", type=int, default=100, help="API calls per table")
    parser.add_argument("--raw-calls", type=int, default=5, help="raw GROUP BY runs per table")
    parser.add_argument("--data-dir", default=None, help="embedded database here (kept)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print()
    for name, s in results.items():
        if isinstance(s, dict):
            api, raw = s["api"], s["raw_group_by"]
            print(
                f"{name:<20} {s['rows']:>6} rows {s['cases']:>9,} cases   API p50 "
                f"{api['p50_ms']:>7.2f} ms p99 {api['p99_ms']:>7.2f} ms   raw GROUP BY p50 "
                f"{raw['p50_ms']:>8.2f} ms"
            )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cases.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
