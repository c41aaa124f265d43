"""The request head bounded at the HTTP parser: uvicorn's httptools protocol answers 431 when a
request line and headers together pass a size, or the headers a count, before any application
code runs.

uvicorn bounds the head only in its h11 protocol (`h11_max_incomplete_event_size`, answered
with a bare 400); with httptools, its faster default, nothing is bounded: a 1 MB header or
5,000 headers reach the application, and a head that never ends grows in memory. Here the size
is `Config.h11_max_incomplete_event_size` (so one setting serves either protocol) and the count
is `max_header_count` set on the Config (`bounded_config`). A head still incomplete past the
count or the size is refused as it arrives (after each packet); a complete one is measured on
what was parsed, once, at its end.
"""

from __future__ import annotations

import json
from typing import Any

from app.errors import PROBLEM_MEDIA_TYPE, problem_body

DEFAULT_MAX_HEAD_BYTES = 16 * 1024
DEFAULT_MAX_HEADER_COUNT = 100


def problem_431(detail: str) -> bytes:
    """A complete HTTP/1.1 431 response (problem+json) that closes the connection."""
    body = json.dumps(
        problem_body(
            431,
            "request-header-fields-too-large",
            "Request header fields too large",
            detail,
            errors=[{"field": "headers", "message": detail, "code": "too_large"}],
        )
    ).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


def bounded_config(config: Any, max_header_count: int) -> Any:
    """`config` (a uvicorn.Config) with the header count the protocol enforces."""
    config.max_header_count = max_header_count
    return config


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools missing: uvicorn's h11 protocol bounds the size (with a 400)
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


if HttpToolsProtocol is not None:

    class BoundedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol with the request head bounded (431)."""

        def __init__(self, config, *args, **kwargs) -> None:
            super().__init__(config, *args, **kwargs)
            self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
            self.max_header_count = getattr(config, "max_header_count", DEFAULT_MAX_HEADER_COUNT)
            self._in_head = True
            self._head_received = 0  # bytes received while the head is incomplete
            self._refusal: str | None = None

        def data_received(self, data: bytes) -> None:
            if self._refusal is not None:
                return  # answered already; what follows is dropped until the close
            if self._in_head:
                self._head_received += len(data)
            super().data_received(data)
            if not self._in_head or self._refusal is not None:
                return
            # A head still incomplete: refused as it arrives.
            fault = self._head_fault(self._head_received)
            if fault is not None:
                self._refuse(fault)

        def on_message_begin(self) -> None:
            self._in_head = True
            self._head_received = 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            # Before uvicorn starts the application on this request; measured on what uvicorn
            # parsed (its url and headers), not header by header (a call each).
            parsed = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            self._refusal = self._head_fault(parsed)
            if self._refusal is not None:
                raise _HeadTooLarge(self._refusal)
            self._in_head = False
            super().on_headers_complete()

        def _head_fault(self, size: int) -> str | None:
            """Why the head so far is refused, or None: its field count first (whichever the
            packets' cut, too many fields are named as such), then its size in bytes."""
            if len(self.headers or ()) > self.max_header_count:
                return f"More than {self.max_header_count} header fields"
            if size > self.max_head_bytes:
                return f"The request line and headers exceed {self.max_head_bytes} bytes"
            return None

        def send_400_response(self, msg: str) -> None:
            # uvicorn's answer to a parser error; ours when the error is a bound.
            if self._refusal is None:
                return super().send_400_response(msg)
            self._write_431()

        def _refuse(self, detail: str) -> None:
            self._refusal = detail
            self._write_431()

        def _write_431(self) -> None:
            if self.transport.is_closing():
                return
            self.logger.warning("request refused with 431: %s", self._refusal)
            self.transport.write(problem_431(self._refusal or ""))
            # Half-close, then close shortly: closing at once with unread input would reset
            # the connection, and the client could lose the answer.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(1.0, self.transport.close)

    class _HeadTooLarge(Exception):
        pass

else:  # pragma: no cover
    BoundedHttpToolsProtocol = None  # type: ignore[assignment,misc]


def http_protocol() -> Any:
    """The `http` argument for uvicorn: the bounded httptools protocol, else "h11"."""
    return BoundedHttpToolsProtocol if BoundedHttpToolsProtocol is not None else "h11"
