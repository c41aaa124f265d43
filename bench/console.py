"""Console page times: the HTML of each page at 10 million ratings, on the embedded database.

    python bench/console.py [--ratings 10000000] [--departments 100] [--calls 50]

Loads the synthetic centre of bench/stats.py (`haochaping demo`'s generator, COPY, rolled up),
signs in to the console with an admin key as a person does (the sign-in form, its cookie and
CSRF token), then times each page's full request through the ASGI app in-process (httpx):
the dashboard for a quarter and for a year, its heatmaps and its window and staff leaderboards
(fragments loaded after the page), a department's page, the desk and an order page.
Prints p50/p99 per page and writes bench/results/console.json. Target: each page under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import start_embedded_postgres  # noqa: E402
from app.main import create_app, freeze_startup_objects  # noqa: E402
from bench.stats import QUARTER, fresh_database, load, summary  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(http: httpx.AsyncClient, key: str) -> None:
    page = await http.get("/console/login")
    token = CSRF.search(page.text).group(1)
    answer = await http.post("/console/login", data={"csrf_token": token, "key": key})
    assert answer.status_code == 303, answer.text


async def time_page(http: httpx.AsyncClient, path: str, calls: int) -> dict:
    for _ in range(5):  # warm up
        response = await http.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        response = await http.get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    return {**summary(samples), "bytes": len(response.content)}


async def run(args: argparse.Namespace) -> dict:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="hcp-bench-"))
    admin_url = start_embedded_postgres(data_dir, database="postgres")
    if args.reuse:
        base, _, query = admin_url.partition("?")
        url = base.rsplit("/", 1)[0] + "/haochaping_bench_stats" + ("?" + query if query else "")
        await asyncio.to_thread(migrate.upgrade, url)
        timings = {"reused": True}
    else:
        url = await fresh_database(admin_url)
        await asyncio.to_thread(migrate.upgrade, url)
        timings = await load(url, args)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    await conn.execute("VACUUM ANALYZE")
    counted = await conn.fetchval("SELECT count(*) FROM rating")
    department = await conn.fetchval(
        "SELECT department_code FROM rating GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    order_id = await conn.fetchval(
        "SELECT id FROM work_order WHERE state <> 'closed' ORDER BY next_due_at LIMIT 1"
    ) or await conn.fetchval("SELECT max(id) FROM work_order")
    await conn.close()

    settings = Settings(
        database_url=url, db_pool_size=5, db_max_overflow=5, rate_limits_enabled=False
    )
    app = create_app(settings, database_url=url)
    freeze_startup_objects()  # as `haochaping serve` does before it serves
    year = QUARTER[:4]
    pages = {
        "dashboard (quarter)": f"/console/dashboard?kind=quarter&quarter={QUARTER}",
        "dashboard (year)": f"/console/dashboard?kind=year&year={year}",
        "dashboard trend, year (htmx fragment)": f"/console/dashboard/trend?kind=year&year={year}",
        "dashboard heatmaps (htmx fragment)": "/console/dashboard/heatmap?kind=quarter"
        f"&quarter={QUARTER}",
        "dashboard leaderboards (htmx fragment)": "/console/dashboard/leaderboards?kind=quarter"
        f"&quarter={QUARTER}",
        "department page (quarter)": f"/console/departments/{department}?kind=quarter"
        f"&quarter={QUARTER}",
        "desk (open orders, all departments)": "/console/desk",
        "desk (one department)": f"/console/desk?department={department}",
        "order page": f"/console/orders/{order_id}",
    }
    results: dict = {"ratings": counted, "load": timings, "pages": {}}
    async with app.router.lifespan_context(app):
        from app.auth import service as auth

        async with app.state.sessionmaker() as session:
            client = await auth.create_client(session, name="bench supervisor", role="admin")
            _, key = await auth.issue_key(session, client.id)
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            await sign_in(http, key)
            for name, path in pages.items():
                results["pages"][name] = {"path": path, **await time_page(http, path, args.calls)}
    if not args.data_dir and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--calls", type=int, default=50, help="requests per page")
    parser.add_argument("--data-dir", default=None, help="embedded database here (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database loaded before in --data-dir"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"\n{results['ratings']:,} ratings")
    for name, s in results["pages"].items():
        print(f"{name:<38} p50 {s['p50_ms']:>8.2f} ms   p99 {s['p99_ms']:>8.2f} ms   "
              f"{s['bytes']:>7,} bytes")  # fmt: skip
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
