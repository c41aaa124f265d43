"""Key upkeep inside the server: `last_used_at` written in batches, spent nonces purged.

A request only notes its key in a dict (no I/O on the hot path); a loop writes the notes every
`FLUSH_SECONDS` in one UPDATE, at most once a minute per key from this process, and the UPDATE
itself skips keys written less than a minute ago (by any process). So `last_used_at` is
accurate to about a minute.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import service
from app.jobs import JobContext, Jobs

FLUSH_SECONDS = 10.0
PURGE_SECONDS = 60.0
_MINUTE = 60.0


class KeyUsage:
    def __init__(self) -> None:
        self._pending: dict[uuid.UUID, float] = {}
        self._written: dict[uuid.UUID, float] = {}

    def note(self, key_id: uuid.UUID, now: float | None = None) -> None:
        """A request used this key (wall-clock seconds)."""
        now = time.time() if now is None else now
        written = self._written.get(key_id)
        if written is None or now - written >= _MINUTE:
            self._pending[key_id] = now

    async def flush(self, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
        """Write the pending notes; on failure they stay pending for the next round."""
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        try:
            async with sessionmaker() as session:
                await service.touch_keys(
                    session, {k: datetime.fromtimestamp(t, UTC) for k, t in pending.items()}
                )
                await session.commit()
        except BaseException:
            for key_id, used in pending.items():
                self._pending[key_id] = max(used, self._pending.get(key_id, used))
            raise
        self._written.update(pending)
        horizon = time.time() - _MINUTE
        self._written = {k: t for k, t in self._written.items() if t >= horizon}
        return len(pending)


async def purge(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    async with sessionmaker() as session:
        count = await service.purge_nonces(session, now=now)
        await session.commit()
    return count


def register(jobs: Jobs, usage: KeyUsage) -> None:
    """The usage flush (and a last one when it stops) and the nonce purge, each after a first
    wait. On whatever background_jobs says: the notes are this process's own."""

    async def flush(context: JobContext) -> None:
        await usage.flush(context.sessionmaker)

    async def flush_pending(context: JobContext) -> None:
        with contextlib.suppress(Exception):
            await usage.flush(context.sessionmaker)

    async def purge_spent(context: JobContext) -> None:
        await purge(context.sessionmaker, context.now())

    jobs.add(
        "key usage flush",
        flush,
        every=FLUSH_SECONDS,
        first="sleep",
        always=True,
        on_stop=flush_pending,
    )
    jobs.add("nonce purge", purge_spent, every=PURGE_SECONDS, first="sleep", always=True)
