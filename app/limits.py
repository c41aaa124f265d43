"""Limits on input: the body size and the URL's length, as a pure ASGI middleware (413 or 414
problem+json before any parsing), and what every request body model refuses.

The other bounds live where the input is parsed: a batch holds at most 1,000 events, a page at
most 500 items, every text field has a max_length, and JSON nested deeper than the parser allows
is a 400 (errors.py); below that, every body model has a fixed shape, so nesting where a scalar
is expected is a 422."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from starlette.exceptions import HTTPException

from app.errors import PROBLEM_MEDIA_TYPE, problem_body

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
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
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
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    return await self._reject(scope, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope, send) -> None:
        await _send_problem(
            send,
            413,
            "payload-too-large",
            "Request body too large",
            f"The body must not exceed {self.max_bytes} bytes",
            scope.get("path"),
        )


async def _send_problem(send, status: int, type_: str, title: str, detail: str, path) -> None:
    body = json.dumps(problem_body(status, type_, title, detail, path)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing passes it through as a 413."""

    def __init__(self) -> None:
        super().__init__(413, "Request body too large")


class InputModel(BaseModel):
    """A request body: unknown fields are refused, and so is NUL in any text.

    PostgreSQL text cannot hold U+0000; let through, it would fail the insert with a 500."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
        return value
