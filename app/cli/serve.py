"""`haochaping serve`: the embedded database, migrations, the bootstrap key, one or N servers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from app.cli.keys import bootstrap_admin_key, hand_over_bootstrap_key
from app.cli.signals import StopRequested, signals_held
from app.config import Settings

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("haochaping")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Apply migrations and run the API server (starting and stopping an embedded PostgreSQL)."""
    from app import migrate
    from app.db import EmbeddedPostgres
    from app.logs import configure_logging

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
            with signals_held():  # a stop now would leave a postmaster starting unseen
                url = postgres.start()
        migrate.upgrade(url)
        key = asyncio.run(bootstrap_admin_key(url, settings))
        if key:
            hand_over_bootstrap_key(key, settings.data_dir)
        if args.workers > 1:
            return _serve_workers(args, settings, url)
        _serve_one(args, settings, url)
    except StopRequested as stop:
        log.info("stopped on %s", signal.Signals(stop.signum).name)
    finally:
        if postgres is not None:
            with signals_held(raise_after=False):  # a second Ctrl-C must not cut the stop short
                postgres.stop()
    return 0


def _uvicorn_config(
    args: argparse.Namespace, settings: Settings, app: Any, **extra: Any
) -> uvicorn.Config:
    """The Config both ways of serving share: where, how loud, how long to drain, the bounded
    request head (the protocol's Config; bounded_config adds the header count)."""
    import uvicorn

    from app.transport import http_protocol

    return uvicorn.Config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,
        http=http_protocol(),
        h11_max_incomplete_event_size=settings.max_header_bytes,
        **extra,
    )


def _serve_one(args: argparse.Namespace, settings: Settings, url: str) -> None:
    import uvicorn

    from app.main import create_app, freeze_startup_objects
    from app.transport import bounded_config

    app = create_app(settings, database_url=url)
    freeze_startup_objects()
    # What uvicorn.run does, with the request head bounded (431) by the protocol's Config.
    config = _uvicorn_config(args, settings, app)
    server = uvicorn.Server(bounded_config(config, settings.max_header_count))
    # uvicorn drains on SIGINT and SIGTERM (SIGHUP is forwarded there), then raises the signal
    # again under our handler: StopRequested comes out of run().
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        from uvicorn.main import STARTUP_FAILURE

        sys.exit(STARTUP_FAILURE)


def _serve_workers(args: argparse.Namespace, settings: Settings, url: str) -> int:
    """uvicorn's supervisor of N worker processes, as uvicorn.run(workers=N) makes it, except
    that SIGHUP stops (a closed terminal) instead of replacing the workers."""
    from uvicorn.supervisors import Multiprocess

    from app.transport import bounded_config

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            log.info("received SIGHUP, stopping")
            self.should_exit.set()

    os.environ["DATABASE_URL"] = url
    os.environ["HAOCHAPING_ACCESS_LOG"] = "1" if args.access_log else "0"
    config = _uvicorn_config(
        args, settings, "app.cli:worker_app", factory=True, workers=args.workers
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
