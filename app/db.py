"""Engine, the per-request session, and the embedded PostgreSQL used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import re
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


def start_embedded_postgres(data_dir: Path, database: str = EMBEDDED_DB_NAME) -> str:
    """Start (or reuse) the embedded PostgreSQL in data_dir and return an asyncpg URL to it."""
    import warnings

    # pgserver keeps its lock file in the user's runtime dir; without XDG_RUNTIME_DIR (root,
    # containers) platformdirs falls back to /tmp and warns on every start.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver  # imported here: production with DATABASE_URL never needs it
    from pgserver._commands import pg_ctl
    from pgserver.utils import PostmasterInfo

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
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
    if statements:
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
            pg_ctl(["-w", "-l", str(server.log), "restart"], pgdata=pgdata, user=server.system_user)
            server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)
    exists = server.psql(
        "\\pset format unaligned\n\\pset tuples_only on\n"
        f"SELECT 1 FROM pg_database WHERE datname = '{database}';"
    )
    if "1" not in exists.split():
        server.psql(f'CREATE DATABASE "{database}";')
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"


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
    raw = await connection.get_raw_connection()
    adapter = raw.dbapi_connection
    if adapter._transaction is None:  # SQLAlchemy's asyncpg adapter begins lazily
        await adapter._start_transaction()
    return adapter._connection


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters to asyncpg's `$n`, and the names in order."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return re.sub(r"(?<![:\w]):(\w+)\b(?!:)", number, sql), tuple(names)
