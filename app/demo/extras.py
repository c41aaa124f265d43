"""The demo's other sources of figures, loaded after the ratings and work orders: the hook where
the case ledger (办件, for 办件量 and 主动评价率) and survey samples (回访/拦访 samples, valid and
invalid) are generated once their domains exist. Each source adds its counts to the result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.demo.centre import Centre
from app.demo.progress import Report


async def load_extras(
    conn,
    centre: Centre,
    *,
    start: datetime,
    end: datetime,
    seed: int,
    prefix: str,
    report: Report,
) -> dict[str, Any]:
    """Load the demo's cases and survey samples over [start, end); their counts.

    Nothing yet: no case ledger or survey domain in this version, so the bulletin's 办件量 and
    主动评价率 section says 本期无数据 and the score leaves 主动评价率 out (its weight shared)."""
    return {}
