"""The demo's ratings rolled up in steps, for the progress line (the server would do it too)."""

from __future__ import annotations

import asyncio
import time

from app.demo.progress import Report


async def roll_up(url: str, report: Report, *, wait_seconds: float = 60.0) -> int:
    """Roll everything up in steps (for the progress line); the ratings folded."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.stats import rollup

    engine = create_async_engine(url)
    watermark = text("SELECT coalesce((SELECT rolled_to FROM rating_rollup_watermark), 0)")
    try:
        candidate = await rollup.plan(engine)
        deadline = time.monotonic() + wait_seconds
        while not await rollup.ready(engine, candidate):
            if time.monotonic() >= deadline:
                return 0  # a long transaction elsewhere: the server's roll-up will do it
            await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            first = (await conn.execute(watermark)).scalar_one()
        total = max(candidate.upto - first, 0)
        step = max(50_000, total // 10)
        folded, done, stuck_since = 0, first, time.monotonic()
        report("roll-up", 0, total)
        while done < candidate.upto:
            part = rollup.Candidate(
                upto=min(candidate.upto, done + step), running=(), epoch=candidate.epoch
            )
            folded += await rollup.apply(engine, part, chunk=step)
            async with engine.connect() as conn:
                now_at = (await conn.execute(watermark)).scalar_one()
            if now_at <= done:
                # another process holds the roll-up, or the watermark was reset
                if time.monotonic() - stuck_since > wait_seconds:
                    break
                await asyncio.sleep(0.1)
                continue
            done, stuck_since = now_at, time.monotonic()
            report("roll-up", min(done, candidate.upto) - first, total)
        return folded
    finally:
        await engine.dispose()
