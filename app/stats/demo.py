"""The demo loader's old home, kept for bench/stats.py: see app/demo/."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from app.demo.centre import RATING_COLUMNS as COLUMNS
from app.demo.centre import Centre, generate, make_centre
from app.demo.loader import load as _load

__all__ = ["COLUMNS", "Centre", "generate", "load", "make_centre"]


async def load(
    url: str,
    *,
    ratings: int,
    departments: int,
    end: datetime,
    years: float = 3.0,
    seed: int = 0,
    roll_up: bool = True,
    writers: int = 2,
    progress: Callable[[int, float], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """app.demo.loader.load, with the old progress callback (ratings done, seconds)."""
    started = time.perf_counter()

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None and stage == "ratings" and done:
            progress(done, time.perf_counter() - started)

    return await _load(
        url,
        ratings=ratings,
        departments=departments,
        end=end,
        years=years,
        seed=seed,
        roll_up=roll_up,
        writers=writers,
        progress=report,
        **options,
    )
