"""The service's "now": one injectable clock, so that time is a parameter of every rule.

`create_app(clock=...)` puts it on `app.state.clock`; routers read it through the `Now`
dependency, background jobs call it once per round. The system clock by default; tests set a
`SettableClock` and move it by hand. Timestamps that only record when something happened
(audit rows, `created_at`/`updated_at` defaults, log lines) stay on the real clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

Clock = Callable[[], datetime]
"""A callable returning the current instant, timezone-aware, in UTC."""


def system_clock() -> datetime:
    """The real time, aware, in UTC."""
    return datetime.now(UTC)


class SettableClock:
    """A clock for tests: the real time until `set`, then frozen there until moved or `reset`."""

    def __init__(self, at: datetime | None = None) -> None:
        self._at: datetime | None = None
        if at is not None:
            self.set(at)

    def __call__(self) -> datetime:
        return self._at if self._at is not None else datetime.now(UTC)

    @property
    def frozen(self) -> bool:
        return self._at is not None

    def set(self, at: datetime) -> datetime:
        """Freeze at `at` (aware); returns it in UTC."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("a clock's time needs a UTC offset")
        self._at = at.astimezone(UTC)
        return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by `delta` (freezing at the real time first if not frozen)."""
        return self.set(self() + delta)

    def reset(self) -> None:
        """Follow the real time again."""
        self._at = None


def request_now(request: Request) -> datetime:
    """The app's clock, read once for this request."""
    return request.app.state.clock()


Now = Annotated[datetime, Depends(request_now)]
