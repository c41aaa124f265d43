"""The `haochaping` command: serve, migrate, keys, openapi, demo, device."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
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


BOOTSTRAP_KEY_FILE = "bootstrap-admin-key"


def cmd_serve(args: argparse.Namespace) -> int:
    from app import migrate
    from app.db import EmbeddedPostgres
    from app.observability import configure_logging

    settings = get_settings()
    # JSON lines; our access lines (with the request id) replace uvicorn's.
    configure_logging(
        settings.log_level,
        access=args.access_log,
        access_flush_seconds=settings.access_log_flush_seconds,
    )
    postgres = None if settings.database_url else EmbeddedPostgres(settings.data_dir)
    try:
        if postgres is None:
            url = settings.database_url
        else:
            with _signals_held():  # a stop now would leave a postmaster starting unseen
                url = postgres.start()
        migrate.upgrade(url)
        key = asyncio.run(_bootstrap_admin_key(url))
        if key:
            _hand_over_bootstrap_key(key, settings.data_dir)
        if args.workers > 1:
            return _serve_workers(args, settings, url)
        _serve_one(args, settings, url)
    except StopRequested as stop:
        log.info("stopped on %s", signal.Signals(stop.signum).name)
    finally:
        if postgres is not None:
            with _signals_held(raise_after=False):  # a second Ctrl-C must not cut the stop short
                postgres.stop()
    return 0


def _serve_one(args: argparse.Namespace, settings, url: str) -> None:
    import uvicorn

    from app.main import create_app, freeze_startup_objects
    from app.transport import bounded_config, http_protocol

    app = create_app(settings, database_url=url)
    freeze_startup_objects()
    # What uvicorn.run does, with the request head bounded (431) by the protocol's Config.
    config = uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,
        http=http_protocol(),
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
    server = uvicorn.Server(bounded_config(config, settings.max_header_count))
    # uvicorn drains on SIGINT and SIGTERM (SIGHUP is forwarded there), then raises the signal
    # again under our handler: StopRequested comes out of run().
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        from uvicorn.main import STARTUP_FAILURE

        sys.exit(STARTUP_FAILURE)


def _serve_workers(args: argparse.Namespace, settings, url: str) -> int:
    """uvicorn's supervisor of N worker processes, as uvicorn.run(workers=N) makes it, except
    that SIGHUP stops (a closed terminal) instead of replacing the workers."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from app.transport import bounded_config, http_protocol

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            log.info("received SIGHUP, stopping")
            self.should_exit.set()

    os.environ["DATABASE_URL"] = url
    os.environ["HAOCHAPING_ACCESS_LOG"] = "1" if args.access_log else "0"
    config = uvicorn.Config(
        "app.cli:worker_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,
        http=http_protocol(),
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
    bounded_config(config, settings.max_header_count)  # pickled to each worker with its Config
    sock = config.bind_socket()
    try:
        supervisor = Supervisor(config, sockets=[sock])  # takes over the signals
        supervisor.run()
    finally:
        sock.close()
    from uvicorn.main import STARTUP_FAILURE

    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_FAILURE if failed else 0


def worker_app():
    """A worker of `serve --workers N`: the app, and SIGHUP left to the supervisor (a closed
    terminal sends it to every process of the group; the supervisor then stops each worker
    with SIGTERM, which drains it)."""
    from app.main import app_factory

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return app_factory()


def _hand_over_bootstrap_key(key: str, data_dir: Path) -> None:
    """The first admin key goes to a person at a terminal, or else to a file only its owner can
    read, never into the log stream (logs are collected, shipped and kept)."""
    if sys.stderr.isatty():
        print(
            "\n  No API keys yet: here is a bootstrap admin key. It is shown only this once.\n"
            f"\n      {key}\n",
            file=sys.stderr,
            flush=True,
        )
        return
    path = write_secret_file(Path(data_dir) / BOOTSTRAP_KEY_FILE, key + "\n")
    log.warning(
        "no API keys yet: a bootstrap admin key was written to %s (readable by its owner only); "
        "keep it somewhere safe and delete the file",
        path,
        extra={"key_file": str(path)},
    )


def write_secret_file(path: Path, text: str) -> Path:
    """Write `text` to `path` with mode 0600, atomically (never readable by others, not even
    for a moment: the file is created with that mode, then renamed into place)."""
    path = path.expanduser().resolve()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


# --- stopping on signals -----------------------------------------------------------------------


class StopRequested(SystemExit):
    """SIGINT, SIGTERM or SIGHUP arrived: unwind (finally blocks, atexit) and exit 128 + n."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


_held: list[int] | None = None  # signals received while held, or None when not holding


def _on_signal(signum: int, frame) -> None:
    if signum == signal.SIGHUP:
        # A closed terminal: stop as on SIGTERM, through whoever handles SIGTERM now (uvicorn
        # while serving: it drains the requests in flight).
        term = signal.getsignal(signal.SIGTERM)
        if callable(term) and term is not _on_signal:
            term(signal.SIGTERM, frame)
            return
    if _held is not None:
        _held.append(signum)
        return
    raise StopRequested(signum)


def _stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise StopRequested, so that whatever this process started (the
    embedded PostgreSQL) is stopped on the way out; a signal's default action would skip that."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


@contextlib.contextmanager
def _signals_held(*, raise_after: bool = True):
    """Defer the stop signals over a block that must not be cut in the middle; the first one
    received is raised after it (or dropped, when the block is the stop itself)."""
    global _held
    outer, _held = _held, []
    try:
        yield
    finally:
        received, _held = _held, outer
        if received and raise_after:
            raise StopRequested(received[0])


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.main import openapi_json

    text = openapi_json()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


DEVICE_KEY_ENV = "HAOCHAPING_DEVICE_KEY"
DEVICE_KEY_ID_ENV = "HAOCHAPING_DEVICE_KEY_ID"


def cmd_device(args: argparse.Namespace) -> int:
    """Send one signed request as a device would, print the status and the answer."""
    import json

    import httpx

    key = args.key or os.environ.get(DEVICE_KEY_ENV)
    key_id = args.key_id or os.environ.get(DEVICE_KEY_ID_ENV)
    if not key or not key_id:
        print(
            f"haochaping device: give the key and its id (--key or {DEVICE_KEY_ENV}, "
            f"--key-id or {DEVICE_KEY_ID_ENV}; both come from POST /v1/devices)",
            file=sys.stderr,
        )
        return 2
    try:
        body = _device_body(args.body, args.data)
    except ValueError as exc:
        print(f"haochaping device: {exc}", file=sys.stderr)
        return 2
    try:
        with httpx.Client(base_url=args.url, timeout=args.timeout) as http:
            response = send_signed(http, args.method.upper(), args.path, body, key_id, key)
    except httpx.HTTPError as exc:
        print(f"haochaping device: {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.reason_phrase}", file=sys.stderr)
    try:
        answer = json.dumps(response.json(), ensure_ascii=False, indent=2)
    except ValueError:
        answer = response.text
    if answer:
        print(answer)
    if response.status_code >= 500:
        return 5
    return 4 if response.status_code >= 400 else 0


def _device_body(body: str | None, data: str | None) -> bytes:
    """The request body: the BODY argument or --data (`@file`, `-` for stdin, or the JSON
    itself); checked to be JSON, sent byte for byte as given."""
    import json

    if body is not None and data is not None:
        raise ValueError("give the body once: as an argument or with --data")
    text = data if data is not None else body
    if text is None:
        return b""
    if text == "-":
        raw = sys.stdin.buffer.read()
    elif text.startswith("@"):
        try:
            raw = Path(text[1:]).read_bytes()
        except OSError as exc:
            raise ValueError(f"--data {text}: {exc.strerror}") from exc
    else:
        raw = text.encode()
    try:
        json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    return raw


def send_signed(
    http,
    method: str,
    path: str,
    body: bytes,
    key_id: str,
    key: str,
    *,
    clock=None,
):
    """Sign (app.auth.signing, the service's own code) and send one request; a 401 `stale`
    (this machine's clock is off) is signed again once with the service's time."""
    import secrets
    import time

    from app.auth import signing

    clock = clock or time.time
    offset = 0
    for _ in range(2):
        headers = {"Content-Type": "application/json"} if body else {}
        request = http.build_request(method, path, content=body, headers=headers)
        request.headers.update(
            signing.sign(
                key,
                key_id,
                method,
                request.url.raw_path.decode("ascii"),  # the path and query exactly as sent
                body,
                timestamp=int(clock()) + offset,
                nonce=secrets.token_urlsafe(18),
            )
        )
        response = http.send(request)
        if response.status_code != 401 or offset:
            return response
        try:
            problem = response.json()
        except ValueError:
            return response
        if problem.get("reason") != "stale" or "server_time" not in problem:
            return response
        offset = int(problem["server_time"]) - int(clock())
        drift = f"{abs(offset)} s {'behind' if offset > 0 else 'ahead of'} the service's"
        print(f"this machine's clock is {drift}: signed again", file=sys.stderr)
    return response


def cmd_demo(args: argparse.Namespace) -> int:
    from app import migrate
    from app.clock import system_clock
    from app.demo.loader import RealDataFound, load
    from app.demo.progress import Progress
    from app.workorders.timing import current_policy

    settings = get_settings()
    url = _database_url()
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

    args = parser.parse_args(argv)
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
    _stop_on_signals()
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
