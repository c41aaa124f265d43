"""The direct path of the plain single-event POST /v1/ratings (see handler.py), installed here.

handler.py answers or hands over; pool.py holds its asyncpg connections; principals.py
remembers keys and re-checks them; sql.py is its one statement (rating, key check, audit row).
"""

from __future__ import annotations

from app.ratings.fastpath.handler import FastIngest
from app.ratings.fastpath.pool import ConnectionPool, PoolBusy

__all__ = ["ConnectionPool", "FastIngest", "PoolBusy", "install"]


def install(app) -> None:
    """Put the handler in front of the application's middleware stack.

    Call before app.observability.install, which must stay outermost (request ids, metrics)."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: FastIngest(build(), app)  # type: ignore[method-assign]
