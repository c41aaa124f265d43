"""Stopping on SIGINT, SIGTERM and SIGHUP: unwind, so that what the process started is stopped."""

from __future__ import annotations

import contextlib
import signal


class StopRequested(SystemExit):
    """SIGINT, SIGTERM or SIGHUP arrived: unwind (finally blocks, atexit) and exit 128 + n."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


_held: list[int] | None = None  # signals received while held, or None when not holding


def _on_signal(signum: int, frame) -> None:
    if signum == signal.SIGHUP:
        # A closed terminal: stop as on SIGTERM, through whoever handles SIGTERM now (uvicorn
        # while serving: it drains the requests in flight).
        term = signal.getsignal(signal.SIGTERM)
        if callable(term) and term is not _on_signal:
            term(signal.SIGTERM, frame)
            return
    if _held is not None:
        _held.append(signum)
        return
    raise StopRequested(signum)


def stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP raise StopRequested, so that whatever this process started (the
    embedded PostgreSQL) is stopped on the way out; a signal's default action would skip that."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


@contextlib.contextmanager
def signals_held(*, raise_after: bool = True):
    """Defer the stop signals over a block that must not be cut in the middle; the first one
    received is raised after it (or dropped, when the block is the stop itself)."""
    global _held
    outer, _held = _held, []
    try:
        yield
    finally:
        received, _held = _held, outer
        if received and raise_after:
            raise StopRequested(received[0])
