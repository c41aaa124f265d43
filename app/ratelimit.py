"""Per-client rate limits: token buckets held in this process.

Each client (not each key: rotation does not double the allowance) has a bucket of `burst`
tokens refilled at `rate` per second; a request takes one, and with none left it is a 429 with
`Retry-After`. The buckets live in the server process: with N processes a client may reach N
times its limit. No I/O and no lock (one event loop): a check costs about a microsecond.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from app.errors import ProblemError


class RateLimited(ProblemError):
    status, type, title = 429, "rate-limited", "Too many requests"


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """Token buckets by client id, with (rate per second, burst) by role."""

    def __init__(
        self,
        limits: Mapping[str, tuple[float, int]],
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        self.limits = dict(limits)
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[object, _Bucket] = {}

    def check(self, client_id: object, role: str) -> float:
        """0.0 when the request may go on, else the seconds until a token is back."""
        limit = self.limits.get(role)
        if limit is None:
            return 0.0
        rate, burst = limit
        now = self.clock()
        bucket = self._buckets.get(client_id)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._prune(now)
            bucket = self._buckets[client_id] = _Bucket(float(burst), now)
        else:
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate

    def refund(self, client_id: object, role: str) -> None:
        """Give back the token check() took for a request that another path will count."""
        limit = self.limits.get(role)
        bucket = self._buckets.get(client_id)
        if limit is not None and bucket is not None:
            bucket.tokens = min(float(limit[1]), bucket.tokens + 1.0)

    def enforce(self, client_id: object, role: str) -> None:
        """Raise RateLimited (429, Retry-After in whole seconds) when the bucket is empty."""
        wait = self.check(client_id, role)
        if wait:
            rate, burst = self.limits[role]
            raise RateLimited(
                f"More than {rate:g} requests per second (bursts of {burst}) for a {role} "
                f"client; retry after {wait:.2f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
                retry_after=round(wait, 3),
            )

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled completely (they equal a fresh one)."""
        full = [
            client_id
            for client_id, bucket in self._buckets.items()
            if (now - bucket.updated) * self._rate_floor() >= self._burst_ceiling()
        ]
        for client_id in full:
            del self._buckets[client_id]
        if len(self._buckets) >= self.max_clients:
            self._buckets.clear()

    def _rate_floor(self) -> float:
        return min((rate for rate, _ in self.limits.values()), default=1.0)

    def _burst_ceiling(self) -> float:
        return max((burst for _, burst in self.limits.values()), default=1)
