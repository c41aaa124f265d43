"""Instants as the API writes them: Beijing time with its offset, 2026-11-30T06:16:00+08:00.

The business time zone lives here (infrastructure, no domain imports) so that schemas,
hand-written serialisers and app.config can all take it from one place.

Instants are stored as timestamptz and read back in UTC; a rating made at 06:16 in Beijing
would read as the previous day at 22:16Z. Every response renders them at +08:00 instead: the
same instant, the day people see. Inputs still accept any offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import PlainSerializer

# Business time zone: every period, deadline and "day" is counted in Beijing time.
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
# Asia/Shanghai's offset all year since 1991 (no DST). Rendering at this fixed offset, not
# through the zone, keeps every string +08:00 and exact for any instant: the zone's offset
# before 1901 (+08:05:43) would be cut to whole minutes by pydantic's formatter.
BEIJING_OFFSET = timezone(timedelta(hours=8))


def to_local(value: datetime) -> datetime:
    """The same instant at +08:00 (about 0.25 µs).

    A naive value (never stored: columns are timestamptz) is returned unchanged rather than
    guessed at; so is one within hours of datetime.max/min, which +08:00 cannot represent."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(BEIJING_OFFSET)
    except OverflowError:
        return value


def local_iso(value: datetime) -> str:
    """ISO 8601 at +08:00, for serialisers written by hand (json.dumps); the same text pydantic
    writes for LocalDateTime."""
    return to_local(value).isoformat()


def json_default(value: object) -> object:
    """A `default=` for json.dumps that writes datetimes as local_iso and anything else as str."""
    if isinstance(value, datetime):
        return local_iso(value)
    return str(value)


# For every datetime in a response model: serialised at +08:00. The function returns a datetime
# (not text) so that the OpenAPI contract keeps `format: date-time` and pydantic's fast
# formatter writes it.
LocalDateTime = Annotated[datetime, PlainSerializer(to_local, return_type=datetime)]
