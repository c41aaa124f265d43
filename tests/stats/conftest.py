"""Fixtures of the statistics tests."""

import pytest

from app.stats.scheduled import stop_rollup_loop


@pytest.fixture
async def no_background_rollup(app):
    """The tests drive the roll-up themselves."""
    await stop_rollup_loop(app)
