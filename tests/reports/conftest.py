"""The reports' fixtures: a small demo centre loaded through the demo loader."""

from datetime import datetime

import pytest

from app.config import BUSINESS_TZ
from app.demo.loader import load
from app.workorders.deadlines import DEFAULT_POLICY, DeadlinePolicy

# The demo's "now": a Monday after 2025Q4, so 2025Q4 is complete and 2025Q3 its 环比 base.
DEMO_END = datetime(2026, 1, 5, 10, 0, tzinfo=BUSINESS_TZ)


@pytest.fixture
async def demo_centre(client, clock, pg_url) -> dict:
    """A demo centre of 3 departments, ~7 months of ratings, work orders and complaints, with
    the clock at its end."""
    loaded = await load(
        pg_url,
        ratings=12_000,
        departments=3,
        years=0.6,
        end=DEMO_END,
        seed=5,
        policy=DeadlinePolicy.parse(DEFAULT_POLICY),
        complaint_share=0.01,
    )
    clock.set(DEMO_END)
    return loaded
