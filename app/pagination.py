"""Keyset-pagination cursors: '|'-separated fields under base64url, opaque to clients."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from app.errors import ValidationProblem, field_error

T = TypeVar("T")


def encode_cursor(*fields: str | int | datetime) -> str:
    raw = "|".join(f.isoformat() if isinstance(f, datetime) else str(f) for f in fields)
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(
    cursor: str,
    parse: Callable[[list[str]], T],
    *,
    message: str = "not a cursor this API returned",
) -> T:
    """The key in a cursor: `parse` turns its fields into it, raising ValueError for fields
    this API did not make; then a 422 naming query.cursor."""
    try:
        return parse(base64.urlsafe_b64decode(cursor.encode()).decode().split("|"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationProblem(
            "Bad cursor", errors=[field_error("query.cursor", message)]
        ) from None


def row_id(raw: str) -> int:
    """A bigint row id from a cursor field (ValueError otherwise)."""
    value = int(raw)
    if not 0 < value < 2**63:
        raise ValueError(raw)
    return value
