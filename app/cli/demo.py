"""`haochaping demo`: load a synthetic service centre, its policy from the app's settings."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.config import Settings


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Load the demo centre (refusing real data unless forced) and print what was loaded."""
    from app import migrate
    from app.clock import system_clock
    from app.db import resolve_database_url
    from app.demo.loader import load
    from app.demo.progress import Progress
    from app.demo.realdata import RealDataFound
    from app.workorders.timing import current_policy

    url = resolve_database_url(settings)
    migrate.upgrade(url)
    try:
        result = asyncio.run(
            load(
                url,
                ratings=args.ratings,
                departments=args.departments,
                years=args.years,
                seed=args.seed,
                end=system_clock().replace(microsecond=0),
                policy=current_policy(settings),
                force=args.force,
                roll_up=not args.no_rollup,
                progress=Progress(sys.stderr),
            )
        )
    except RealDataFound as exc:
        print(f"haochaping demo: {exc}", file=sys.stderr)
        return 2
    print(
        f"loaded {args.ratings:,} ratings over {args.departments} departments "
        f"(DEMO-001…) in {result['load_seconds']:.1f} s ({result['rate']:,.0f} ratings/s)"
    )
    if "work_orders" in result:
        states = ", ".join(f"{state} {n:,}" for state, n in result["by_state"].items())
        print(
            f"{result['work_orders']:,} work orders ({result['complaints']:,} from 12345 "
            f"complaints), {result['history_rows']:,} history rows in "
            f"{result['workorder_seconds']:.1f} s: {states}; overdue {result['overdue']:,}"
        )
    if "rollup_seconds" in result:
        print(f"rolled up in {result['rollup_seconds']:.1f} s")
    return 0
