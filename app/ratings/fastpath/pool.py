"""The direct ingest path's own small pool of asyncpg connections."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from app.config import Settings

COMMAND_TIMEOUT_SECONDS = 10.0


class ConnectionPool:
    """A small LIFO pool of asyncpg connections, connected as the engine connects.

    asyncpg's own pool costs this path a seventh of its CPU (a task per release, inactivity
    timers, a reset round trip): this one only hands out idle connections, opens new ones up
    to its size, and waits at most the connect timeout for one (then PoolBusy: the request is
    handed to the generic route and its larger pool). A connection that failed a statement is
    closed, not reused."""

    def __init__(self, connect_kwargs: dict[str, Any], size: int, timeout: float) -> None:
        self._connect_kwargs = connect_kwargs
        self._timeout = timeout
        self._free = asyncio.Semaphore(size)
        self._idle: list[asyncpg.Connection] = []
        self._open: set[asyncpg.Connection] = set()
        self._closed = False

    @classmethod
    def for_engine(cls, engine, settings: Settings) -> ConnectionPool:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        # SQLAlchemy's name for asyncpg's (0 behind PgBouncer in transaction mode)
        if "prepared_statement_cache_size" in kwargs:
            kwargs["statement_cache_size"] = kwargs.pop("prepared_statement_cache_size")
        kwargs.update(
            timeout=settings.db_connect_timeout_seconds,
            # The statement takes milliseconds; one hung on a half-open connection would hold
            # a slot for good. On timeout: 503 (stored or not, a retry is answered right).
            command_timeout=COMMAND_TIMEOUT_SECONDS,
            server_settings={"application_name": "haochaping-ingest", "timezone": "UTC"},
        )
        return cls(kwargs, settings.fast_ingest_pool_size, settings.db_connect_timeout_seconds)

    def acquire(self) -> _Lease:
        return _Lease(self)

    async def _get(self) -> asyncpg.Connection:
        if self._closed:
            raise PoolBusy("the pool is closed")
        if self._free.locked():
            try:
                async with asyncio.timeout(self._timeout):
                    await self._free.acquire()
            except TimeoutError:
                raise PoolBusy("no connection free within the connect timeout") from None
        else:
            await self._free.acquire()  # returns at once
        try:
            while self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._open.discard(connection)
            connection = await asyncpg.connect(**self._connect_kwargs)
            self._open.add(connection)
            return connection
        except BaseException:
            self._free.release()
            raise

    def _put(self, connection: asyncpg.Connection, failed: bool) -> None:
        if failed or self._closed or connection.is_closed() or connection.is_in_transaction():
            self._open.discard(connection)
            connection.terminate()
        else:
            self._idle.append(connection)
        self._free.release()

    async def close(self) -> None:
        """Close every connection (those in use are cut: call after the server has drained)."""
        self._closed = True
        connections, self._idle = list(self._open), []
        self._open.clear()
        for connection in connections:
            try:
                await asyncio.wait_for(connection.close(), 2)
            except Exception:
                connection.terminate()


class PoolBusy(Exception):
    """Every connection of the pool stayed in use for the connect timeout (or it is closed)."""


class _Lease:
    __slots__ = ("_pool", "_connection")

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await self._pool._get()
        return self._connection

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self._pool._put(self._connection, exc_type is not None)
