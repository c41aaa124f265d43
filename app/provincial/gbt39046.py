"""Ratings as GB/T 39046-2020 §6.6 names them (评价数据), in CSV or JSON lines.

满意度代码 follows the standard's table A.8, 1 = 非常满意 … 5 = 非常不满意: the reverse of our
`level` and of the provincial `satisfaction` (1 = 非常不满意). Mapped by an explicit table, never
by arithmetic left to chance.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app import privacy
from app.privacy.masking import mask_name, mask_text
from app.timefmt import BUSINESS_TZ

# Our level (= satisfaction) -> 满意度代码 (GB/T 39046-2020 A.8).
SATISFACTION_CODE = {5: 1, 4: 2, 3: 3, 2: 4, 1: 5}
# Our channel -> 评价渠道 code (the interfaces' pf numbering; ours reported as 6 and 5).
CHANNEL_CODE = {
    "pc": 1,
    "mobile": 2,
    "qr_code": 3,
    "window_device": 4,
    "self_service": 5,
    "phone_callback": 6,
    "sms": 7,
    "hotline": 6,
    "onsite_survey": 5,
}
FIELDS = (
    "办件编号",
    "评价渠道",
    "评价人",
    "评价时间",
    "评价次数",
    "满意度代码",
    "文字评价",
    "行政区划",
)

_ROWS = text(
    """
    SELECT id, case_no, channel, rater_name, rated_at, assess_number, level, comment
      FROM rating
     WHERE rated_at >= :start AND rated_at < :end AND status = 'valid'
     ORDER BY rated_at, id
    """
)


def evaluation_time(instant: datetime) -> str:
    """评价时间: YYYYMMDDThhmmss in Beijing time."""
    return instant.astimezone(BUSINESS_TZ).strftime("%Y%m%dT%H%M%S")


def record(row: dict[str, Any], area_code: str | None) -> dict[str, Any]:
    """One rating as the standard's fields (the rater's name masked)."""
    ring = privacy.keyring()
    name = ring.decrypt(row["rater_name"], "rating.rater_name")
    comment = ring.open_text(row["comment"], "rating.comment")
    return {
        "办件编号": row["case_no"] or f"HCP{row['id']}",
        "评价渠道": CHANNEL_CODE[row["channel"]],
        "评价人": mask_name(name),
        "评价时间": evaluation_time(row["rated_at"]),
        "评价次数": row["assess_number"],
        "满意度代码": SATISFACTION_CODE[row["level"]],
        "文字评价": mask_text(comment, [name]),
        "行政区划": area_code,
    }


async def records(
    session: AsyncSession, start: datetime, end: datetime, area_code: str | None
) -> list[dict[str, Any]]:
    rows = await session.execute(_ROWS, {"start": start, "end": end})
    return [record(dict(r._mapping), area_code) for r in rows]


def as_csv(items: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: "" if v is None else v for k, v in item.items()})
    return "\ufeff" + out.getvalue()  # a BOM: spreadsheet programs then read UTF-8


def as_json_lines(items: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
