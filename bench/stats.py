"""Statistics benchmark: figures from the rollups against a raw GROUP BY, on the embedded database.

    python bench/stats.py [--ratings 10000000] [--departments 100] [--calls 200]

Loads a synthetic centre (`haochaping demo`'s generator, COPY) over 3 years into a fresh
database, rolls it up, then measures in the same run:
  * p50/p99 of GET /v1/stats/overview, /departments, /windows, /staff and /regions for one
    quarter, through the API (the ASGI app in-process with httpx, a reader key, the full
    request path; the departments get region codes of ten counties first);
  * the same figures computed by a raw GROUP BY on the rating table (what a naive
    implementation would run per request), and checks that both give the same counts.
Prints each figure and writes them to bench/results/stats.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import start_embedded_postgres  # noqa: E402
from app.main import create_app, freeze_startup_objects  # noqa: E402
from app.stats import demo  # noqa: E402
from app.stats.periods import resolve_period  # noqa: E402
from app.workorders.timing import current_policy  # noqa: E402

DB = "haochaping_bench_stats"
# Three years of data ending at 2026-01-01 00:00 Beijing time; the quarter measured.
END = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
QUARTER = "2025Q3"

RAW_OVERVIEW = """
SELECT GROUPING(department_code, channel, rater_type) AS g, department_code, channel,
       rater_type, status, level, count(*) AS n
  FROM rating WHERE rated_at >= $1 AND rated_at < $2
 GROUP BY GROUPING SETS ((status, level), (rater_type, status, level),
                        (channel, status, level), (department_code, status, level))
"""
RAW_STAFF = """
SELECT staff_id, count(*) AS n
  FROM rating WHERE rated_at >= $1 AND rated_at < $2 AND status = 'valid' AND staff_id IS NOT NULL
 GROUP BY staff_id
"""
RAW_WINDOWS = """
SELECT department_code, window_no, count(*) AS n
  FROM rating WHERE rated_at >= $1 AND rated_at < $2 AND status = 'valid' AND window_no IS NOT NULL
 GROUP BY department_code, window_no
"""
# ten counties of one city (黄冈市 421100), in turn
REGIONS = """
UPDATE department d SET region_code = '4211' || lpad((1 + n.i % 10)::text, 2, '0')
  FROM (SELECT code, row_number() OVER (ORDER BY code) AS i FROM department) AS n
 WHERE d.code = n.code
"""
TABLES = ("windows", "staff", "regions")
RAW_DEPARTMENTS = """
SELECT department_code, status, level, count(*) AS n
  FROM rating WHERE rated_at >= $1 AND rated_at < $2
 GROUP BY department_code, status, level
"""


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(samples, 0.50) * 1000, 2),
        "p99_ms": round(pct(samples, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(samples) * 1000, 2),
        "n": len(samples),
    }


async def fresh_database(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await conn.close()
    base, _, query = admin_url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + DB + ("?" + query if query else "")


async def time_api(http: httpx.AsyncClient, path: str, params: dict, headers: dict, calls: int):
    for _ in range(10):  # warm up: connections, prepared statements, caches
        r = await http.get(path, params=params, headers=headers)
        r.raise_for_status()
    samples = []
    for _ in range(calls):
        t = time.perf_counter()
        r = await http.get(path, params=params, headers=headers)
        samples.append(time.perf_counter() - t)
        r.raise_for_status()
    return samples, r.json()


async def time_raw(dsn: str, sql: str, args: tuple, calls: int):
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(sql, *args)  # warm
        samples = []
        for _ in range(calls):
            t = time.perf_counter()
            rows = await conn.fetch(sql, *args)
            samples.append(time.perf_counter() - t)
        return samples, rows
    finally:
        await conn.close()


async def load(url: str, args: argparse.Namespace) -> dict:
    print(f"loading {args.ratings:,} ratings over {args.departments} departments, 3 years ...")

    def progress(done: int, seconds: float) -> None:
        if done % 1_000_000 < 50_000:
            print(f"  {done:>12,} ratings  {done / seconds:>9,.0f}/s", flush=True)

    timings = await demo.load(
        url,
        ratings=args.ratings,
        departments=args.departments,
        years=3,
        end=END,
        roll_up=True,
        progress=progress,
        policy=current_policy(Settings()),
    )
    print(
        f"loaded in {timings['load_seconds']:.1f} s ({timings['rate']:,.0f} ratings/s); "
        f"rolled up in {timings['rollup_seconds']:.1f} s "
        f"({args.ratings / timings['rollup_seconds']:,.0f} ratings/s)"
    )
    return timings


async def run(args: argparse.Namespace) -> dict:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="hcp-bench-"))
    admin_url = start_embedded_postgres(data_dir, database="postgres")
    if args.reuse:
        base, _, query = admin_url.partition("?")
        url = base.rsplit("/", 1)[0] + "/" + DB + ("?" + query if query else "")
    else:
        url = await fresh_database(admin_url)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await asyncio.to_thread(migrate.upgrade, url)
    if args.reuse:
        # the ratings are kept; whatever is above the watermark (all of them after the stats
        # migration was re-applied) is rolled up now, and timed
        from sqlalchemy.ext.asyncio import create_async_engine

        from app.stats import rollup

        engine = create_async_engine(url)
        started = time.perf_counter()
        folded = await rollup.roll_up(engine, wait_seconds=60)
        timings = {"reused": True, "rolled_up": folded}
        timings["rollup_seconds"] = time.perf_counter() - started
        await engine.dispose()
        print(f"rolled up {folded:,} ratings in {timings['rollup_seconds']:.1f} s")
    else:
        timings = await load(url, args)

    conn = await asyncpg.connect(dsn)
    await conn.execute(REGIONS)
    await conn.execute("VACUUM ANALYZE")
    sizes = {
        r["relname"]: r["n"]
        for r in await conn.fetch(
            "SELECT relname, n_live_tup AS n FROM pg_stat_user_tables "
            "WHERE relname LIKE 'rating%' ORDER BY relname"
        )
    }
    await conn.close()

    # the benchmark measures latency, not the per-client rate limits
    settings = Settings(
        database_url=url, db_pool_size=5, db_max_overflow=5, rate_limits_enabled=False
    )
    app = create_app(settings, database_url=url)
    freeze_startup_objects()  # as `haochaping serve` does before it serves
    period = resolve_period(QUARTER)
    results: dict = {"ratings": args.ratings, "departments": args.departments, "load": timings}
    results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    results["table_rows"] = sizes
    async with app.router.lifespan_context(app):
        from app.auth import service as auth

        async with app.state.sessionmaker() as session:
            client = await auth.create_client(session, name="bench reader", role="reader")
            _, key = await auth.issue_key(session, client.id)
            await session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            params = {"period": QUARTER}
            ov_samples, overview = await time_api(
                http, "/v1/stats/overview", params, headers, args.calls
            )
            dt_samples, table = await time_api(
                http, "/v1/stats/departments", params, headers, args.calls
            )
            report_samples, reports = {}, {}
            for name in TABLES:
                report_samples[name], reports[name] = await time_api(
                    http, f"/v1/stats/{name}", params, headers, args.calls
                )
    # the machine may be shared: the 1/5/15-minute load averages right after the API calls
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    bounds = (period.start_at, period.end_at)
    raw_ov_samples, raw_ov = await time_raw(dsn, RAW_OVERVIEW, bounds, args.raw_calls)
    raw_dt_samples, raw_dt = await time_raw(dsn, RAW_DEPARTMENTS, bounds, args.raw_calls)

    # the two ways agree
    raw_counted = sum(r["n"] for r in raw_ov if r["g"] == 7 and r["status"] == "valid")
    assert overview["ratings"]["counted"] == raw_counted, (overview["ratings"], raw_counted)
    raw_by_dept: dict[str, int] = {}
    for r in raw_dt:
        if r["status"] == "valid":
            raw_by_dept[r["department_code"]] = raw_by_dept.get(r["department_code"], 0) + r["n"]
    api_by_dept = {d["code"]: d["ratings"]["counted"] for d in table["departments"]}
    assert {k: v for k, v in api_by_dept.items() if v} == raw_by_dept
    _, raw_staff = await time_raw(dsn, RAW_STAFF, bounds, 1)
    api_staff = {s["staff_id"]: s["ratings"]["counted"] for s in reports["staff"]["staff"]}
    assert {k: v for k, v in api_staff.items() if v} == {r["staff_id"]: r["n"] for r in raw_staff}
    _, raw_windows = await time_raw(dsn, RAW_WINDOWS, bounds, 1)
    api_windows = {
        (w["department_code"], w["window_no"]): w["ratings"]["counted"]
        for w in reports["windows"]["windows"]
    }
    assert {k: v for k, v in api_windows.items() if v} == {
        (r["department_code"], r["window_no"]): r["n"] for r in raw_windows
    }
    assert sum(r["ratings"]["counted"] for r in reports["regions"]["regions"]) == raw_counted
    results["table_sizes"] = {name: reports[name]["total" if name != "regions" else "level"]
                              for name in TABLES}  # fmt: skip
    results["table_sizes"]["regions"] = len(reports["regions"]["regions"])

    results.update(
        {
            "quarter": QUARTER,
            "quarter_counted": raw_counted,
            "api_overview": summary(ov_samples),
            "api_departments": summary(dt_samples),
            "raw_group_by_overview": summary(raw_ov_samples),
            "raw_group_by_departments": summary(raw_dt_samples),
            **{f"api_{name}": summary(report_samples[name]) for name in TABLES},
        }
    )
    if not args.data_dir and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--calls", type=int, default=200, help="API calls per endpoint")
    parser.add_argument("--raw-calls", type=int, default=10, help="raw GROUP BY runs per query")
    parser.add_argument("--data-dir", default=None, help="embedded database here (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database loaded before in --data-dir"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"\nquarter {results['quarter']}: {results['quarter_counted']:,} counted ratings")
    print(f"rows: {results['table_rows']}")
    print(f"report table rows: {results['table_sizes']}")
    print(
        f"load average before / after the API calls: {results['load_average_before']} / "
        f"{results['load_average_after']}"
    )
    for name in ("api_overview", "api_departments", "api_windows", "api_staff", "api_regions",
                 "raw_group_by_overview", "raw_group_by_departments"):  # fmt: skip
        s = results[name]
        print(f"{name:<26} p50 {s['p50_ms']:>9.2f} ms   p99 {s['p99_ms']:>9.2f} ms   (n={s['n']})")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stats.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
