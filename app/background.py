"""The loops that run inside the server: the deadline sweeper, the webhook dispatcher and the
retention of personal data (app/retention.py).

All are safe with several server processes (SKIP LOCKED); each round takes its `now` from the
app's clock (app/clock.py). Tests turn them off (HAOCHAPING_BACKGROUND_JOBS=false) and call
`sweep_all` and `deliver_due` with their own `now`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock, system_clock
from app.config import Settings
from app.notify.dispatcher import RetryPolicy, deliver_due
from app.privacy import PrivacySettings
from app.retention import erase_all_expired
from app.workorders.service import sweep_all

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        clock: Clock = system_clock,
    ):
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock
        self.tasks: list[asyncio.Task] = []
        self.http: httpx.AsyncClient | None = None

    def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=self.settings.webhook_timeout_seconds)
        retry = RetryPolicy(max_attempts=self.settings.webhook_max_attempts)

        async def sweep() -> None:
            await sweep_all(self.sessionmaker, now=self.clock())

        async def dispatch() -> None:
            await deliver_due(self.sessionmaker, self.http, now=self.clock(), retry=retry)

        privacy = PrivacySettings()

        async def erase_expired() -> None:
            await erase_all_expired(
                self.sessionmaker,
                now=self.clock(),
                retention_days=privacy.personal_data_retention_days,
            )

        self.tasks = [
            asyncio.create_task(_every(self.settings.sweep_interval_seconds, sweep, "sweeper")),
            asyncio.create_task(
                _every(self.settings.outbox_interval_seconds, dispatch, "webhook dispatcher")
            ),
            asyncio.create_task(
                _every(privacy.retention_interval_seconds, erase_expired, "personal data retention")
            ),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        if self.http is not None:
            await self.http.aclose()
            self.http = None


async def _every(seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A database outage must not kill the loop: log and try again next round.
            log.exception("%s failed; retrying in %.0f s", name, seconds)
        await asyncio.sleep(seconds)
