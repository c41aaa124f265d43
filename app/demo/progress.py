"""A progress line for long commands: redrawn in place on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 24

# What a long command reports to: (stage, done, total); a Progress, or any such callable.
Report = Callable[[str, int, int], None]


class Progress:
    """Call with (stage, done, total) as work advances.

    On a terminal one line per stage is redrawn in place (at most ten times a second) and ends
    with a newline at 100%; elsewhere (a log, a pipe) a plain line is written at each tenth."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self._stage: str | None = None
        self._started = 0.0
        self._drawn = 0.0
        self._tenth = -1
        self._width = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        if stage != self._stage:
            self._stage, self._started, self._drawn, self._tenth = stage, now, -1.0, -1
        if total <= 0:  # nothing to do: done at once
            done = total = 1
        done = min(done, total)
        finished = done >= total
        if self.tty:
            if not finished and now - self._drawn < 0.1:
                return
            self._drawn = now
            line = self.line(stage, done, total, now - self._started)
            # spaces over what a longer line before left
            self.stream.write("\r" + line.ljust(self._width) + ("\n" if finished else ""))
            self._width = 0 if finished else len(line)
        else:
            tenth = done * 10 // total
            if tenth == self._tenth:
                return
            self._tenth = tenth
            self.stream.write(self.line(stage, done, total, now - self._started) + "\n")
        self.stream.flush()

    @staticmethod
    def line(stage: str, done: int, total: int, seconds: float) -> str:
        share = done / total
        filled = int(share * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        rate = f"  {done / seconds:,.0f}/s" if seconds > 0 and done else ""
        return f"  {stage:<12} [{bar}] {share:>4.0%}  {done:,}/{total:,}{rate}"
