"""The `haochaping` command: serve, migrate, keys, openapi, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from app.config import get_settings

log = logging.getLogger("haochaping")


def _database_url() -> str:
    from app.db import resolve_database_url

    return resolve_database_url(get_settings())


def cmd_migrate(args: argparse.Namespace) -> int:
    from app import migrate

    url = _database_url()
    if args.downgrade:
        migrate.downgrade(url, args.revision)
    else:
        migrate.upgrade(url, args.revision)
    print(f"schema at {args.revision}")
    return 0


async def _create_key(url: str, role: str, name: str, department_code: str | None) -> str:
    from app.auth import service as auth
    from app.config import get_settings
    from app.db import create_engine

    engine = create_engine(url, get_settings())
    try:
        async with engine.begin() as conn:
            from sqlalchemy.ext.asyncio import AsyncSession

            session = AsyncSession(bind=conn)
            client = await auth.create_client(
                session, name=name, role=role, department_code=department_code
            )
            _, key = await auth.issue_key(session, client.id)
            await session.flush()
        return key
    finally:
        await engine.dispose()


async def _bootstrap_admin_key(url: str) -> str | None:
    """On first start with no keys at all, issue one admin key."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            # One process bootstraps even when several start at once.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7470001)"))
            count = (await conn.execute(text("SELECT count(*) FROM api_key"))).scalar_one()
    finally:
        await engine.dispose()
    if count:
        return None
    return await _create_key(url, "admin", "bootstrap admin", None)


def cmd_keys(args: argparse.Namespace) -> int:
    from app import migrate

    url = _database_url()
    migrate.upgrade(url)
    key = asyncio.run(_create_key(url, args.role, args.name or f"{args.role} key", args.department))
    print(key)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app import migrate
    from app.main import create_app, freeze_startup_objects
    from app.observability import configure_logging

    settings = get_settings()
    # JSON lines; our access lines (with the request id) replace uvicorn's.
    configure_logging(
        settings.log_level,
        access=args.access_log,
        access_flush_seconds=settings.access_log_flush_seconds,
    )
    host = args.host or settings.host
    port = args.port or settings.port
    url = _database_url()
    migrate.upgrade(url)
    key = asyncio.run(_bootstrap_admin_key(url))
    if key:
        print(
            "\n  No API keys yet: here is a bootstrap admin key. It is shown only this once.\n"
            f"\n      {key}\n",
            flush=True,
        )
    if args.workers > 1:
        os.environ["DATABASE_URL"] = url
        os.environ["HAOCHAPING_ACCESS_LOG"] = "1" if args.access_log else "0"
        uvicorn.run(
            "app.main:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    else:
        app = create_app(settings, database_url=url)
        freeze_startup_objects()
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=args.graceful_timeout,
        )
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.openapi import openapi_json

    text = openapi_json()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app import migrate
    from app.stats import demo

    url = _database_url()
    migrate.upgrade(url)

    def progress(done: int, seconds: float) -> None:
        if done % 1_000_000 < 50_000 or done == args.ratings:
            print(f"  {done:>12,} ratings  {done / seconds:>9,.0f}/s", flush=True)

    timings = asyncio.run(
        demo.load(
            url,
            ratings=args.ratings,
            departments=args.departments,
            years=args.years,
            seed=args.seed,
            roll_up=not args.no_rollup,
            progress=progress,
        )
    )
    print(
        f"loaded {args.ratings:,} ratings over {args.departments} departments in "
        f"{timings['load_seconds']:.1f} s ({timings['rate']:,.0f} ratings/s)"
        + (
            f"; rolled up in {timings['rollup_seconds']:.1f} s"
            if "rollup_seconds" in timings
            else ""
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="haochaping", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and run the API server")
    serve.add_argument("--host", default=None, help="default HAOCHAPING_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default HAOCHAPING_PORT or 8000")
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a JSON line per request (default on)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="on SIGTERM, seconds to let requests in flight finish (default 30)",
    )
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="apply (or revert) database migrations")
    mig.add_argument("revision", nargs="?", default="heads")
    mig.add_argument("--downgrade", action="store_true", help="downgrade to the revision")
    mig.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="issue a key and print it once")
    create.add_argument(
        "--role", required=True, choices=["admin", "portal", "hotline", "department", "reader"]
    )
    create.add_argument("--name", default=None, help="the client's name")
    create.add_argument("--department", default=None, help="department code (role department)")
    create.set_defaults(func=cmd_keys)

    spec = sub.add_parser("openapi", help="print the OpenAPI document")
    spec.add_argument("--out", default=None, help="write to this file instead of stdout")
    spec.set_defaults(func=cmd_openapi)

    demo = sub.add_parser("demo", help="load a synthetic service centre (fast, via COPY)")
    demo.add_argument("--ratings", type=int, default=100_000, help="how many ratings")
    demo.add_argument("--departments", type=int, default=40, help="how many departments")
    demo.add_argument("--years", type=float, default=3.0, help="spread over this many years")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--no-rollup", action="store_true", help="skip the roll-up afterwards")
    demo.set_defaults(func=cmd_demo)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=get_settings().log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    # Migrations and the embedded server's start-up are routine: only their warnings matter.
    for name in ("alembic", "pgserver"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
