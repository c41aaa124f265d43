"""Engine, the per-request session, and the embedded PostgreSQL used when DATABASE_URL is unset."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.config import Settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every instant is a timestamptz.
    type_annotation_map = {datetime: DateTime(timezone=True)}


# The embedded server's settings: its defaults (128 MB buffers, 100 connections) are for laptops.
EMBEDDED_PG_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_connections": "200",
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "wal_buffers": "64MB",
    "wal_compression": "on",
    "random_page_cost": "1.1",
    "jit": "off",
    # Acknowledged means durable: synchronous_commit stays on; commit_delay groups the flushes
    # of concurrent commits instead.
    "commit_delay": "200",
    "commit_siblings": "4",
    "timezone": "UTC",
}

EMBEDDED_DB_NAME = "haochaping"


class EmbeddedPostgres:
    """The embedded PostgreSQL of one data dir, which this process starts and stops explicitly.

    pgserver ships the binaries, runs initdb and starts the server. It stops the server from an
    atexit hook when its list of users (pgdata/.handle_pids.json) names this process alone; but
    a signal's default action (SIGTERM, SIGHUP) or SIGKILL skips atexit, so that the server is
    left running and the dead pid stays in the list, where it makes every later process think
    another still uses the server; and a killed postmaster that nobody reaps (a container whose
    PID 1 is the service) looks alive to it, so that its `pg_ctl -w stop` waits a minute. Here
    the list keeps live pids only, and stop() is ours: a fast shutdown by signal (what
    `pg_ctl stop -m fast` sends), bounded waits, and death judged from the process's state."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.postmaster_pid: int | None = None
        self._registered = False

    def start(self, database: str = EMBEDDED_DB_NAME) -> str:
        """Start the server, or join the one already running on this data dir; its URL."""
        import warnings

        # pgserver keeps its lock file in the user's runtime dir; without XDG_RUNTIME_DIR (root,
        # containers) platformdirs falls back to /tmp and warns on every start.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import atexit

        from pgserver import PostgresServer  # imported here: with DATABASE_URL never needed
        from pgserver.utils import DiskList

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(exist_ok=True)
        with PostgresServer._lock:
            users = DiskList(self.pgdata / ".handle_pids.json")
            if users.path.exists():  # (before initdb, pgdata must stay empty)
                users.put([pid for pid in users.get() if _process_alive(pid)])
            self._remove_stale_lock_files()
        # From here stop() must run: a start that fails half-way may have left a server up.
        self._registered = True
        # Starts the server unless one is running; registers this pid as a user (under the lock).
        server = PostgresServer(self.pgdata, cleanup_mode=None)
        atexit.unregister(server._cleanup)  # stop() does it
        self.postmaster_pid = server.get_pid()
        _tune(server, self.pgdata)
        self.postmaster_pid = server.get_pid()
        exists = server.psql(
            "\\pset format unaligned\n\\pset tuples_only on\n"
            f"SELECT 1 FROM pg_database WHERE datname = '{database}';"
        )
        if "1" not in exists.split():
            server.psql(f'CREATE DATABASE "{database}";')
        socket_dir = server.get_postmaster_info().socket_dir
        return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"

    def stop(self, *, fast_seconds: float = 20.0) -> bool:
        """Leave the server to the other live processes that use it, or stop it; True if
        stopped. Never waits long: fast shutdown (clients disconnected, a checkpoint), then
        immediate shutdown, then SIGKILL, each bounded; a server already dead costs nothing."""
        if not self._registered:
            return False
        self._registered = False
        from pgserver import PostgresServer
        from pgserver.utils import DiskList

        if self.pgdata.is_dir():
            with PostgresServer._lock:
                users = DiskList(self.pgdata / ".handle_pids.json")
                others = [p for p in users.get() if p != os.getpid() and _process_alive(p)]
                users.put(others)
            if others:
                log.info("the embedded PostgreSQL stays up for processes %s", others)
                return False
        pid = self._postmaster() or self.postmaster_pid
        if pid is None or not self._is_our_postmaster(pid):
            return True
        children = _children(pid)
        for sig, seconds in (
            (signal.SIGINT, fast_seconds),  # fast shutdown
            (signal.SIGQUIT, 5.0),  # immediate shutdown: crash recovery at the next start
            (signal.SIGKILL, 5.0),
        ):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
            if _wait_dead(pid, seconds):
                log.info("the embedded PostgreSQL (pid %s) stopped on %s", pid, sig.name)
                break
            log.warning("the embedded PostgreSQL (pid %s) did not stop on %s", pid, sig.name)
        for child in children:  # backends exit on their own when the postmaster dies
            if _process_alive(child):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(child, signal.SIGKILL)
        return True

    def _postmaster(self) -> int | None:
        return _pid_in(self.pgdata / "postmaster.pid")

    def _is_our_postmaster(self, pid: int) -> bool:
        """A live (not zombie) postgres process whose command line names this pgdata."""
        import psutil

        if not _process_alive(pid):
            return False
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.NoSuchProcess:
            return False
        except psutil.AccessDenied:
            return True
        return str(self.pgdata) in cmdline

    def _remove_stale_lock_files(self) -> None:
        """A postmaster.pid (and its socket's lock file) whose process is dead or is now some
        other process: PostgreSQL would refuse to start over the latter, pgserver would take
        the former for a running server."""
        lock = self.pgdata / "postmaster.pid"
        pid = _pid_in(lock)
        if pid is None or self._is_our_postmaster(pid):
            return
        log.info("removing the stale lock files of a stopped embedded PostgreSQL (pid %s)", pid)
        try:
            socket_dir = Path(lock.read_text().splitlines()[4].strip())
        except (OSError, IndexError):
            socket_dir = self.pgdata
        lock.unlink(missing_ok=True)
        for stale in (socket_dir / ".s.PGSQL.5432", socket_dir / ".s.PGSQL.5432.lock"):
            stale.unlink(missing_ok=True)


def _tune(server, pgdata: Path) -> None:
    """Apply EMBEDDED_PG_SETTINGS; restart the server when one of them needs it."""
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    wanted = ", ".join(f"'{name}'" for name in EMBEDDED_PG_SETTINGS)
    current = dict(
        line.split("|", 1)
        for line in server.psql(
            f"\\pset format unaligned\n\\pset tuples_only on\n"
            f"SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN ({wanted});"
        ).splitlines()
        if "|" in line
    )
    statements = [
        f"ALTER SYSTEM SET {name} = '{value}';"
        for name, value in EMBEDDED_PG_SETTINGS.items()
        if not _same_setting(current.get(name), value)
    ]
    if not statements:
        return
    server.psql("\n".join(statements) + "\nSELECT pg_reload_conf();")
    restart = (
        server.psql(
            "\\pset format unaligned\n\\pset tuples_only on\n"
            "SELECT count(*) FROM pg_settings WHERE pending_restart;"
        )
        .strip()
        .splitlines()[-1]
    )
    if restart != "0":
        log.info("restarting the embedded PostgreSQL to apply its tuned settings")
        pg_ctl(
            ["-w", "-t", "60", "-l", str(server.log), "restart"],
            pgdata=pgdata,
            user=server.system_user,
            timeout=90,
        )
        server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)


def _pid_in(lock_file: Path) -> int | None:
    """The pid on the first line of a PostgreSQL lock file, if any."""
    try:
        return int(lock_file.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def _process_alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie child of ours is reaped here: under a
    container's PID 1 the orphaned postmaster is ours to reap)."""
    import psutil

    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def _wait_dead(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def start_embedded_postgres(data_dir: Path, database: str = EMBEDDED_DB_NAME) -> str:
    """Start (or join) the embedded PostgreSQL in data_dir and return an asyncpg URL to it; it is
    stopped at this process's exit (unless other live processes use it). For one-shot commands,
    tests and benchmarks; `haochaping serve` holds an EmbeddedPostgres and stops it itself."""
    import atexit

    postgres = EmbeddedPostgres(data_dir)
    atexit.register(postgres.stop)
    return postgres.start(database)


def _same_setting(current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    units = {
        "kB": 1024,
        "MB": 1024**2,
        "GB": 1024**3,
        "8kB": 8192,
        "ms": 1,
        "s": 1000,
        "min": 60000,
    }

    def norm(v: str) -> str:
        for unit, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
            if v.endswith(unit) and v[: -len(unit)].isdigit():
                return str(int(v[: -len(unit)]) * factor)
        return v

    return norm(current) == norm(wanted)


def resolve_database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the embedded server's (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.data_dir)


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_seconds,
        hide_parameters=True,  # an error's log line must not carry the values (secrets, phones)
        # No pre-ping: a round trip per checkout; a dead connection fails its request with 503
        # and is discarded, and the next one reconnects.
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "server_settings": {"application_name": "haochaping", "timezone": "UTC"},
        },
    )


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit on success, roll back on any error."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function": the commit happens before the response is sent, so a 201 means durable.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def driver_connection(session: AsyncSession):
    """The asyncpg connection under `session`, inside the session's transaction.

    For the ingest hot path: statements sent on it skip SQLAlchemy's execution layers (a fifth
    of a single POST's CPU) yet commit or roll back with the session. The transaction is begun
    through SQLAlchemy's asyncpg adapter first, so that whatever the session executes later
    joins the same transaction. Engine-level events (the audit's change counting) do not see
    these statements: callers report their writes themselves."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if not driver.is_in_transaction():
        # The adapter sends BEGIN before the first statement it runs, and has no public way
        # to begin otherwise: authenticate() runs the request's first statement through it.
        await connection.exec_driver_sql("SELECT 1")
    return driver


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters to asyncpg's `$n`, and the names in order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)\b(?!:)", number, sql), tuple(names)
