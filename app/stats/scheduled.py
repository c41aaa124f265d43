"""The statistics' job: the roll-up, every HAOCHAPING_STATS_ROLLUP_INTERVAL_SECONDS."""

from __future__ import annotations

import logging
from typing import Any

from app.config import StatsSettings
from app.jobs import JobContext, Jobs
from app.stats import rollup

log = logging.getLogger(__name__)

ROLLUP = "stats roll-up"


def register(jobs: Jobs, settings: StatsSettings) -> None:
    """The roll-up job (HAOCHAPING_STATS_ROLLUP_ENABLED=false: off); several processes roll up
    one at a time (an advisory lock)."""
    interval = settings.rollup_interval_seconds

    async def roll_up(context: JobContext) -> None:
        folded = await rollup.roll_up(context.engine, wait_seconds=interval)
        if folded:
            log.debug("rolled up %d ratings", folded)

    jobs.add(ROLLUP, roll_up, every=interval, first="run", enabled=settings.rollup_enabled)


async def stop_rollup_loop(app: Any) -> None:
    """Stop the roll-up job and wait for it (an open roll-up transaction rolls back): for tests
    that drive the roll-up themselves."""
    await app.state.jobs.stop(ROLLUP)
