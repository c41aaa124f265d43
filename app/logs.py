"""JSON log lines (one object a line, personal numbers masked) and the buffered access log.

`configure_logging` sets up what `serve` writes: the application's and uvicorn's lines on
stderr as they come, the access lines (app.observability writes one a request) in chunks."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json

access_log = logging.getLogger("haochaping.access")

# The request id of the request being served, for every log line written while serving it.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# Mainland mobile numbers and 18-character identity numbers: masked in any log text, as a last
# line of defence (nothing should log them in the first place).
_PERSONAL = re.compile(
    r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)|(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])"
)

_RECORD_FIELDS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


# A cheap first look: no run of 11 digits, nothing to mask.
_MAYBE_PERSONAL = re.compile(r"\d{11}")


def _mask(text_: str) -> str:
    return _PERSONAL.sub(lambda m: f"{m[1]}****{m[2]}" if m[1] else "******************", text_)


def _encode(entry: dict[str, Any]) -> str:
    """One JSON line; what JSON cannot hold as it is, as its str() (datetimes in ISO 8601)."""
    return to_json(entry, fallback=str).decode()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any extras."""

    _second = -1
    _stamp = ""

    def _time(self, created: float) -> str:
        # Access lines come thousands a second: format the date and time once per second.
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _mask(message) if _MAYBE_PERSONAL.search(message) else message,
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for name in record.__dict__.keys() - _RECORD_FIELDS:
            if name not in entry:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["exception"] = _mask(self.formatException(record.exc_info))
        return _encode(entry)

    def access_line(
        self, method: str, path: str, template: str, status: int, duration: float, request_id: str
    ) -> str:
        """What format() makes of the access log's record for this request."""
        message = f"{method} {path} {status}"
        return _encode(
            {
                "time": self._time(time.time()),
                "level": "info",
                "logger": access_log.name,
                "message": _mask(message) if _MAYBE_PERSONAL.search(message) else message,
                "request_id": request_id,
                "method": method,
                "path": path,
                "route": template,
                "status": status,
                "duration_ms": round(duration * 1000, 2),
            }
        )


class BufferedLineHandler(logging.StreamHandler):
    """A StreamHandler that writes its lines in chunks, as nginx's `access_log ... buffer=
    flush=`: when `max_bytes` have gathered, or at the latest `flush_seconds` after a line.

    For access lines, thousands a second: a write per line was a tenth of a plain POST's CPU.
    Lines still buffered when the process is killed (not stopped) are lost; a stop flushes."""

    def __init__(self, stream, flush_seconds: float = 1.0, max_bytes: int = 64 * 1024) -> None:
        super().__init__(stream)
        self.max_bytes = max_bytes
        self._lines: list[str] = []
        self._size = 0
        self._stopping = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_every, args=(flush_seconds,), name="access-log", daemon=True
        )
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:  # called holding self.lock
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._append(line)

    def add_line(self, line: str) -> None:
        """A line formatted already (log_access)."""
        with self.lock:
            self._append(line)

    def _append(self, line: str) -> None:
        line += self.terminator
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.max_bytes:
            self._write()

    def flush(self) -> None:
        with self.lock:
            self._write()

    def _write(self) -> None:
        if self._lines:
            lines, self._lines, self._size = self._lines, [], 0
            try:
                self.stream.write("".join(lines))
                self.stream.flush()
            except Exception:  # a closed or broken stream must not break requests
                pass

    def _flush_every(self, seconds: float) -> None:
        while not self._stopping.wait(seconds):
            self.flush()

    def close(self) -> None:
        self._stopping.set()
        self.flush()
        super().close()


def flush_access_log() -> None:
    """Write the buffered access lines now (at shutdown: a worker process of `serve --workers`
    ends with os._exit, which skips logging's own flush at exit)."""
    for handler in access_log.handlers:
        handler.flush()


def configure_logging(
    level: str = "info", *, access: bool = True, access_flush_seconds: float = 1.0
) -> None:
    """JSON lines on stderr for the application and uvicorn; access lines if `access`,
    written in chunks at least every `access_flush_seconds` (0: each line at once)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our access lines replace uvicorn's (which carry the query string).
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded server's start-up chatter (initdb output, pg_ctl calls) is not news.
    for name in ("pgserver", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    access_log.setLevel(logging.INFO if access else logging.WARNING)
    for previous in [h for h in access_log.handlers if isinstance(h, BufferedLineHandler)]:
        access_log.removeHandler(previous)
        previous.close()
    if access and access_flush_seconds > 0:
        buffered = BufferedLineHandler(sys.stderr, access_flush_seconds)
        buffered.setFormatter(handler.formatter)
        access_log.addHandler(buffered)
        access_log.propagate = False
    else:
        access_log.propagate = True
    # Neither the caller's frame nor thread and process names are logged: skip finding them.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def log_access(
    method: str, path: str, template: str, status: int, duration: float, request_id: str
) -> None:
    """The request's access line. As `serve` configures it (one buffered JSON handler, no
    filters), the line goes straight to the buffer: a LogRecord and logging's dispatch were
    half its cost. Any other set-up gets the same line through logging."""
    handlers = access_log.handlers
    if (
        len(handlers) == 1
        and type(handler := handlers[0]) is BufferedLineHandler
        and type(formatter := handler.formatter) is JsonFormatter
        and not (access_log.propagate or access_log.filters or handler.filters)
        and handler.level <= logging.INFO
    ):
        handler.add_line(
            formatter.access_line(method, path, template, status, duration, request_id)
        )
        return
    access_log.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "route": template,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        },
    )
