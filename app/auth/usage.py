"""Key upkeep inside the server: `last_used_at` written in batches, spent nonces purged.

A request only notes its key in a dict (no I/O on the hot path); a loop writes the notes every
`FLUSH_SECONDS` in one UPDATE, at most once a minute per key from this process, and the UPDATE
itself skips keys written less than a minute ago (by any process). So `last_used_at` is
accurate to about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import service

log = logging.getLogger(__name__)

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


async def _every(seconds: float, job, name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; retrying in %.0f s", name, seconds, exc_info=True)


def start(app) -> None:
    """Start the usage flush and the nonce purge (from the lifespan)."""
    maker = app.state.sessionmaker
    usage: KeyUsage = app.state.key_usage
    app.state.key_upkeep = [
        asyncio.create_task(_every(FLUSH_SECONDS, lambda: usage.flush(maker), "key usage flush")),
        asyncio.create_task(
            _every(PURGE_SECONDS, lambda: purge(maker, app.state.clock()), "nonce purge")
        ),
    ]


async def stop(app) -> None:
    """Stop the loops and write what is pending."""
    for task in getattr(app.state, "key_upkeep", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    app.state.key_upkeep = []
    with contextlib.suppress(Exception):
        await app.state.key_usage.flush(app.state.sessionmaker)
