"""Limits on input: the body size and the URL's length, as a pure ASGI middleware (413 or 414
problem+json before any parsing), and what every request body model refuses.

The other bounds live where the input is parsed: a batch holds at most 1,000 events, a page at
most 500 items, every text field has a max_length, and JSON nested deeper than the parser allows
is a 400 (errors.py); below that, every body model has a fixed shape, so nesting where a scalar
is expected is a 422."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from starlette.exceptions import HTTPException

from app.errors import PROBLEM_MEDIA_TYPE, field_error, problem_body

# No route needs more: the longest filter set of a listing is a few hundred bytes.
MAX_QUERY_BYTES = 4096
MAX_PATH_BYTES = 1024


class BodySizeLimit:
    def __init__(
        self,
        app,
        max_bytes: int,
        max_query_bytes: int = MAX_QUERY_BYTES,
        max_path_bytes: int = MAX_PATH_BYTES,
        path_max_bytes: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Bulk imports that need more than the general limit, by exact path.
        self.path_max_bytes = path_max_bytes or {}
        self.max_query_bytes = max_query_bytes
        self.max_path_bytes = max_path_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if (
            len(scope.get("query_string", b"")) > self.max_query_bytes
            or len(scope["path"]) > self.max_path_bytes
        ):
            return await _send_problem(
                send,
                414,
                "uri-too-long",
                "Request URI too long",
                f"The path must not exceed {self.max_path_bytes} characters and the query "
                f"string {self.max_query_bytes} bytes",
                scope["path"][: self.max_path_bytes],
            )
        max_bytes = self.path_max_bytes.get(scope["path"], self.max_bytes)
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    return await self._reject(scope, send, max_bytes)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, send, max_bytes)

    async def _reject(self, scope, send, max_bytes: int) -> None:
        await _send_problem(
            send,
            413,
            "payload-too-large",
            "Request body too large",
            f"The body must not exceed {max_bytes} bytes",
            scope.get("path"),
        )


async def _send_problem(
    send,
    status: int,
    type_: str,
    title: str,
    detail: str,
    path,
    *,
    errors: list[dict[str, Any]] | None = None,
    close: bool = False,
) -> None:
    body = json.dumps(problem_body(status, type_, title, detail, path, errors)).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TransportLimits:
    """What is bounded before any route: the number of header fields (431), control
    characters in the path or a query value (422 naming it), and the time a declared body may
    take to arrive (408, from the request's start; a client that trickles it is cut off).

    Installed in front of the direct ingest path (app/ratings/fastpath.py), which reads its
    body itself. The server bounds the head's size (app/transport.py)."""

    def __init__(self, app, *, max_header_count: int, body_timeout_seconds: float) -> None:
        self.app = app
        self.max_header_count = max_header_count
        self.body_timeout_seconds = body_timeout_seconds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope["headers"]
        if len(headers) > self.max_header_count:
            detail = f"More than {self.max_header_count} header fields"
            return await _send_problem(
                send,
                431,
                "request-header-fields-too-large",
                "Request header fields too large",
                detail,
                scope["path"],
                errors=[field_error("headers", detail, "too_large")],
                close=True,
            )
        at_fault = _control_in_target(scope)
        if at_fault is not None:
            field, where = at_fault
            message = f"must not contain control characters: {where}"
            return await _send_problem(
                send,
                422,
                "validation-error",
                "The request is not valid",
                f"{field}: {message}",
                None,
                errors=[field_error(field, message)],
            )
        for name, _ in headers:
            if name == b"content-length" or name == b"transfer-encoding":
                break
        else:  # no body
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_seconds
        complete = False
        started = False

        async def timed_receive():
            nonlocal complete
            if complete:
                return await receive()
            if _holds_whole_body(receive):  # the common case: nothing to wait for, no timer
                complete = True
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _BodyTimeout(self.body_timeout_seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except _BodyTimeout as exc:
            # Read outside a route (the direct ingest path): answered here.
            if not started:
                await _send_problem(
                    send, 408, "request-timeout", "Request timeout", exc.detail, scope["path"],
                    close=True,
                )  # fmt: skip


def _holds_whole_body(receive) -> bool:
    """Whether the server has the request's whole body already, so that `receive()` returns
    it without waiting: uvicorn's request cycles (httptools and h11) say so in `more_body`.
    Any other server: False (the read is timed)."""
    return getattr(getattr(receive, "__self__", None), "more_body", True) is False


def _control_in_target(scope) -> tuple[str, str] | None:
    """(field, where) of a control character in the decoded path or a query value."""
    path = scope["path"]
    where = None if path.isascii() and path.isprintable() else control_character(path)
    if where is not None:
        return "path", where
    query = scope.get("query_string", b"")
    if query and (b"%" in query or any(byte < 0x20 or byte == 0x7F for byte in query)):
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            where = control_character(name) or control_character(value)
            if where is not None:
                return f"query.{name}", where
    return None


class _BodyTimeout(HTTPException):
    """An HTTPException: read by a route, FastAPI passes it through to the 408 handler."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"The declared body did not arrive within {seconds:g} seconds",
            headers={"Connection": "close"},
        )


def install_transport_limits(app, settings) -> None:
    """Wrap the application's middleware stack in TransportLimits (call after
    fastpath.install, before observability.install: metrics and request ids stay outermost)."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: TransportLimits(  # type: ignore[method-assign]
        build(),
        max_header_count=settings.max_header_count,
        body_timeout_seconds=settings.body_timeout_seconds,
    )


class _TooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing passes it through as a 413."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


# Free text where a line break or a tab means something; every other text is one line.
MULTILINE_FIELDS = frozenset({"comment", "content", "note", "summary", "writingEvaluation"})
# C0 controls, DEL, C1 controls and lone surrogates: never text a person typed. A spreadsheet
# cannot hold most of them (an XLSX export would fail) and a terminal may act on them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """A description of the first control character in `value` (tab, LF and CR allowed in
    multi-line text), or None."""
    found = (_CONTROL if multiline else _CONTROL_SINGLE_LINE).search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start()}"


def _check_text(value: Any, multiline: bool) -> None:
    if isinstance(value, str):
        if value.isprintable():  # no control character (the common case: skip the search)
            return
        if "\x00" in value:
            # PostgreSQL text cannot hold U+0000; let through, the insert would fail with a 500.
            raise ValueError("must not contain the NUL character (U+0000)")
        where = control_character(value, multiline=multiline)
        if where is not None:
            allowed = " (tab and line breaks are allowed)" if multiline else ""
            raise ValueError(f"must not contain control characters{allowed}: {where}")
    elif isinstance(value, list | tuple | set | frozenset):
        # Lists of text; items of other kinds (a batch's events) are checked by their own model.
        for item in value:
            if isinstance(item, str):
                _check_text(item, multiline)


class InputModel(BaseModel):
    """A request body: unknown fields are refused, and so are control characters in any text
    (422 naming the field): C0 except tab, LF and CR in the free-text fields of
    MULTILINE_FIELDS, DEL, C1 and lone surrogates."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        _check_text(value, info.field_name in MULTILINE_FIELDS)
        return value
