"""The push's two loops: the feeder (queue new documents) and the sender (deliver them)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.config import ProvincialSettings
from app.jobs import JobContext, Jobs
from app.notify.dispatcher import RetryPolicy
from app.provincial.profile import Profile
from app.provincial.push import feed, send_due


class Pusher:
    """One HTTP client for the sender's rounds (closed when the job stops)."""

    def __init__(self, settings: ProvincialSettings, profiles: dict[str, Profile]) -> None:
        self.settings = settings
        self.profiles = profiles
        self.retry = RetryPolicy(max_attempts=settings.push_max_attempts)
        self.http: httpx.AsyncClient | None = None

    async def feed(self, context: JobContext) -> None:
        lag = timedelta(seconds=self.settings.push_lag_seconds)
        await feed(
            context.sessionmaker,
            now=context.now(),
            lag=lag,
            max_pending=self.settings.push_max_pending,
        )

    async def send(self, context: JobContext) -> None:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=self.settings.push_timeout_seconds)
        await send_due(
            context.sessionmaker, self.http, self.profiles, now=context.now(), retry=self.retry
        )

    async def close(self, context: JobContext) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None


def register(jobs: Jobs, settings: ProvincialSettings, profiles: dict[str, Profile]) -> Pusher:
    pusher = Pusher(settings, profiles)
    every = settings.push_interval_seconds
    jobs.add(
        "provincial feeder", pusher.feed, every=every, first="run", enabled=settings.push_enabled
    )
    jobs.add(
        "provincial sender",
        pusher.send,
        every=every,
        first="run",
        enabled=settings.push_enabled,
        on_stop=pusher.close,
    )
    return pusher
