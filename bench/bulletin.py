"""Bulletin benchmark: GET /v1/reports/bulletin in every format, on a loaded demo centre.

    python bench/bulletin.py [--ratings 10000000] [--departments 100] [--calls 10]

Loads a demo centre (`haochaping demo`'s loader: ratings by COPY, a work order walked for every
差评 and 12345 complaint, the roll-up) over 3 years into a fresh embedded database, then times
the bulletin of one quarter through the API (the ASGI app in-process with httpx, a reader key,
the full request path) as json, docx, xlsx and html, and checks that its headline figures equal
GET /v1/stats/overview's. Prints each figure and writes them to bench/results/bulletin.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import migrate  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import start_embedded_postgres  # noqa: E402
from app.demo.loader import load  # noqa: E402
from app.main import create_app, freeze_startup_objects  # noqa: E402
from app.workorders.timing import current_policy  # noqa: E402
from bench.stats import END, fresh_database, summary  # noqa: E402

QUARTER = "2025Q4"
FORMATS = ("json", "docx", "xlsx", "html")


async def run(args: argparse.Namespace) -> dict:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="hcp-bench-"))
    admin_url = start_embedded_postgres(data_dir, database="postgres")
    if args.reuse:
        base, _, query = admin_url.partition("?")
        url = base.rsplit("/", 1)[0] + "/haochaping_bench_stats" + ("?" + query if query else "")
    else:
        url = await fresh_database(admin_url)
    await asyncio.to_thread(migrate.upgrade, url)
    results: dict = {"ratings": args.ratings, "departments": args.departments}
    if not args.reuse:
        print(f"loading {args.ratings:,} ratings over {args.departments} departments, 3 years ...")
        timings = await load(
            url,
            ratings=args.ratings,
            departments=args.departments,
            years=3,
            end=END,
            policy=current_policy(Settings()),
            force=True,
        )
        results["load"] = {k: v for k, v in timings.items() if k != "by_state"}
        print(
            f"loaded in {timings['load_seconds']:.1f} s; {timings.get('work_orders', 0):,} orders"
        )
    settings = Settings(
        database_url=url, db_pool_size=5, db_max_overflow=5, rate_limits_enabled=False
    )
    app = create_app(settings, database_url=url)
    freeze_startup_objects()  # as `haochaping serve` does before it serves
    async with app.router.lifespan_context(app):
        from app.auth import service as auth

        async with app.state.sessionmaker() as session:
            client = await auth.create_client(session, name="bench reader", role="reader")
            _, key = await auth.issue_key(session, client.id)
            await session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            overview = (
                await http.get("/v1/stats/overview", params={"period": QUARTER}, headers=headers)
            ).json()
            for kind in FORMATS:
                params = {"period": QUARTER, "format": kind}
                r = await http.get("/v1/reports/bulletin", params=params, headers=headers)
                r.raise_for_status()  # warm
                samples = []
                for _ in range(args.calls):
                    started = time.perf_counter()
                    r = await http.get("/v1/reports/bulletin", params=params, headers=headers)
                    samples.append(time.perf_counter() - started)
                    r.raise_for_status()
                results[f"bulletin_{kind}"] = summary(samples) | {"bytes": len(r.content)}
                if kind == "json":
                    made = r.json()
                    assert made["figures"]["ratings"] == overview["ratings"]
                    results["text"] = dump(made)
    results["quarter"] = QUARTER
    results["quarter_counted"] = overview["ratings"]["counted"]
    if not args.data_dir and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return results


def dump(made: dict) -> str:
    """The bulletin as plain text: title, headings, paragraphs, each table's first rows."""
    lines = [made["title"]]
    for section in made["sections"]:
        lines += [section["heading"]] if section["heading"] else []
        lines += section["paragraphs"]
        for table in section["tables"]:
            lines.append(f"  [{table['name']}] " + " | ".join(map(str, table["columns"])))
            lines += ["    " + " | ".join(map(str, row)) for row in table["rows"][:4]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=10_000_000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--calls", type=int, default=10, help="calls per format")
    parser.add_argument("--data-dir", default=None, help="embedded database here (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument("--dump", action="store_true", help="print the bulletin as text")
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database loaded before in --data-dir"
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    text = results.pop("text")
    if args.dump:
        print(text)
    print(f"\nquarter {results['quarter']}: {results['quarter_counted']:,} counted ratings")
    for kind in FORMATS:
        s = results[f"bulletin_{kind}"]
        print(
            f"bulletin {kind:<5} p50 {s['p50_ms']:>9.2f} ms   p99 {s['p99_ms']:>9.2f} ms   "
            f"{s['bytes']:,} bytes (n={s['n']})"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bulletin.json").write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
