"""The `haochaping` command: serve, migrate, keys, openapi, demo, device."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from app.cli.demo import cmd_demo
from app.cli.device import DEVICE_KEY_ENV, DEVICE_KEY_ID_ENV, cmd_device
from app.cli.keys import BOOTSTRAP_KEY_FILE, cmd_keys
from app.cli.serve import cmd_serve
from app.cli.signals import stop_on_signals
from app.config import Settings, get_settings

__all__ = ["BOOTSTRAP_KEY_FILE", "main", "worker_app"]


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply (or revert) the database migrations."""
    from app import migrate
    from app.db import resolve_database_url

    url = resolve_database_url(settings)
    if args.downgrade:
        migrate.downgrade(url, args.revision)
    else:
        migrate.upgrade(url, args.revision)
    print(f"schema at {args.revision}")
    return 0


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """Print (or write) the published contract, openapi/openapi.json."""
    from app.main import openapi_json

    text = openapi_json()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def worker_app():
    """A worker of `serve --workers N`: the app, and SIGHUP left to the supervisor (a closed
    terminal sends it to every process of the group; the supervisor then stops each worker
    with SIGTERM, which drains it)."""
    from app.main import app_factory

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return app_factory()


def _parser() -> argparse.ArgumentParser:
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

    device = sub.add_parser(
        "device",
        help="send one signed request as a device (tablet) would",
        description="Sign a request with a device's key (HMAC-SHA256, see README 'Signed "
        "requests'), send it, print the status (stderr) and the JSON answer (stdout). Exit 0 "
        "on 2xx, 4 on 4xx, 5 on 5xx, 1 when the service cannot be reached.",
    )
    device.add_argument("method", type=str.upper, choices=["GET", "POST", "PUT", "PATCH", "DELETE"])
    device.add_argument("path", help="path and query, e.g. /v1/ratings or /v1/ratings?limit=10")
    device.add_argument("body", nargs="?", default=None, help="the JSON body")
    device.add_argument("--data", default=None, help="the body: JSON, @file, or - for stdin")
    device.add_argument(
        "--url",
        default=os.environ.get("HAOCHAPING_URL", "http://127.0.0.1:8000"),
        help="the service (default HAOCHAPING_URL or http://127.0.0.1:8000)",
    )
    device.add_argument("--key-id", default=None, help=f"the key's id (or {DEVICE_KEY_ID_ENV})")
    device.add_argument(
        "--key", default=None, help=f"the key (better: {DEVICE_KEY_ENV}, not in ps)"
    )
    device.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    device.set_defaults(func=cmd_device)

    demo = sub.add_parser(
        "demo", help="load a synthetic service centre with work orders (refuses real data)"
    )
    demo.add_argument("--ratings", type=int, default=100_000, help="how many ratings")
    demo.add_argument("--departments", type=int, default=40, help="how many departments")
    demo.add_argument("--years", type=float, default=3.0, help="spread over this many years")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--no-rollup", action="store_true", help="skip the roll-up afterwards")
    demo.add_argument(
        "--force",
        action="store_true",
        help="load even into a database with departments the demo did not make (real data)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command, read the settings once, and run the command with them."""
    args = _parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    from app import privacy

    # Migrations and the demo seal values with the process's ring: the settings' data keys.
    privacy.load_on_first_use(
        lambda: privacy.load_keyring(settings.privacy, data_dir=settings.data_dir)
    )
    # Migrations, the embedded server's start-up and `device`'s request are routine: only their
    # warnings matter.
    for name in ("alembic", "pgserver", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    stop_on_signals()
    return args.func(args, settings)
