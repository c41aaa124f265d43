"""The one registry of the loops that run inside the server: each job's name, interval, switch.

Domains register their jobs (`Jobs.add`) from create_app; the lifespan starts them all and stops
them all. This module is infrastructure: it imports no domain. Each round opens its own session
from `JobContext.sessionmaker` and takes its `now` from the app's clock (`JobContext.now()`);
every job is safe with several server processes (SKIP LOCKED, advisory locks, or state of the
process's own). HAOCHAPING_BACKGROUND_JOBS=false (tests) turns off all but the `always` ones;
tests stop them (`app.state.jobs.stop()`) and call the rounds themselves with their own `now`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What every round gets: the engine, a sessionmaker for its own sessions, the app's clock."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock

    def now(self) -> datetime:
        return self.clock()


Round = Callable[[JobContext], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: Round
    every: float  # seconds between rounds
    # "run": a round at start, then one every interval; "sleep": an interval's wait first
    first: Literal["run", "sleep"]
    enabled: bool = True
    # Runs even with background_jobs off: the job keeps this process's own state, which no other
    # process can write (the key-usage notes).
    always: bool = False
    # Once its loop has stopped: write what is pending, close what it opened.
    on_stop: Round | None = None


class Jobs:
    """The registry: `add` while the app is made, `start` and `stop` from its lifespan."""

    def __init__(self, context: JobContext, *, background: bool = True) -> None:
        self.context = context
        self.background = background  # Settings.background_jobs
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, asyncio.Task] = {}

    def add(
        self,
        name: str,
        run: Round,
        *,
        every: float,
        first: Literal["run", "sleep"],
        enabled: bool = True,
        always: bool = False,
        on_stop: Round | None = None,
    ) -> Job:
        """Register a job (names are unique); it starts with the others."""
        if name in self.jobs:
            raise ValueError(f"A job named {name!r} is already registered")
        job = Job(name, run, every, first, enabled=enabled, always=always, on_stop=on_stop)
        self.jobs[name] = job
        return job

    def start(self) -> None:
        """Start every enabled job (with background_jobs off, the `always` ones only)."""
        for job in self.jobs.values():
            if job.enabled and (self.background or job.always) and job.name not in self.tasks:
                self.tasks[job.name] = asyncio.create_task(
                    _every(job, self.context), name=f"job: {job.name}"
                )

    async def stop(self, *names: str) -> None:
        """Stop the named jobs (all of them when none is named) and wait for them (an open
        round's transaction rolls back), then run their `on_stop`, in the order registered."""
        wanted = names or tuple(self.jobs)
        stopping = [name for name in self.jobs if name in self.tasks and name in wanted]
        tasks = [self.tasks.pop(name) for name in stopping]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in stopping:
            on_stop = self.jobs[name].on_stop
            if on_stop is not None:
                await on_stop(self.context)


async def _every(job: Job, context: JobContext) -> None:
    """A round every `job.every` seconds until cancelled, the first at once or after a wait."""
    if job.first == "sleep":
        await asyncio.sleep(job.every)
    while True:
        try:
            await job.run(context)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A database outage must not kill the loop: log and try again next round.
            log.exception("%s failed; retrying in %.0f s", job.name, job.every)
        await asyncio.sleep(job.every)
