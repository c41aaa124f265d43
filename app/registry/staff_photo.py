"""Staff photos (工作人员照片): one optional JPEG or PNG per registered staff member, kept in the
database, shown on the tablet beside the name. The type is read from the bytes (never taken
from the sender's Content-Type), and a new upload gets a new random token: the URL the tablet
page loads (/kiosk/staff-photos/{token}) names one upload and can be cached for good."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ProblemError, ValidationProblem, field_error
from app.registry.models import Staff, StaffPhoto
from app.registry.staff import get_staff

MAX_PHOTO_BYTES = 512 * 1024
MEDIA_TYPES = ("image/jpeg", "image/png")


class PhotoTooLarge(ProblemError):
    status, type, title = 413, "payload-too-large", "The photo is too large"


class UnsupportedPhoto(ProblemError):
    status, type, title = 415, "unsupported-media-type", "Not a JPEG or PNG photo"


def sniff(data: bytes) -> str | None:
    """image/jpeg or image/png by the file's own signature, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


async def put_photo(
    session: AsyncSession, staff_id: str, data: bytes, declared: str | None, *, now: datetime
) -> StaffPhoto:
    """Store (or replace) a registered staff member's photo."""
    if (declared or "").split(";")[0].strip().lower() not in MEDIA_TYPES:
        raise UnsupportedPhoto("Send the photo as image/jpeg or image/png")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(f"A photo is at most {MAX_PHOTO_BYTES // 1024} KiB")
    kind = sniff(data)
    if kind is None:
        raise ValidationProblem(
            "The body is not a JPEG or PNG image",
            errors=[field_error("body", "not a JPEG or PNG image (by its bytes)", "not_image")],
        )
    await get_staff(session, staff_id)
    values = {"content_type": kind, "data": data, "token": secrets.token_urlsafe(24)}
    await session.execute(
        insert(StaffPhoto)
        .values(staff_id=staff_id, updated_at=now, **values)
        .on_conflict_do_update(
            index_elements=[StaffPhoto.staff_id], set_={**values, "updated_at": now}
        )
    )
    return await session.get(StaffPhoto, staff_id, populate_existing=True)


async def get_photo(session: AsyncSession, staff_id: str) -> StaffPhoto:
    photo = await session.get(StaffPhoto, staff_id)
    if photo is None:
        raise NotFound(f"No photo of staff member {staff_id!r}")
    return photo


async def delete_photo(session: AsyncSession, staff_id: str) -> None:
    result = await session.execute(delete(StaffPhoto).where(StaffPhoto.staff_id == staff_id))
    if not result.rowcount:
        raise NotFound(f"No photo of staff member {staff_id!r}")


async def photo_by_token(session: AsyncSession, token: str) -> StaffPhoto | None:
    return (
        await session.execute(select(StaffPhoto).where(StaffPhoto.token == token))
    ).scalar_one_or_none()


async def on_duty(session: AsyncSession, staff_id: str) -> dict[str, str | None]:
    """What the tablet shows of a staff id: the registered name and the photo's token (None
    for an unregistered id or one without a photo)."""
    row = (
        await session.execute(
            select(Staff.name, StaffPhoto.token)
            .outerjoin(StaffPhoto, StaffPhoto.staff_id == Staff.staff_id)
            .where(Staff.staff_id == staff_id)
        )
    ).first()
    return {"name": row.name if row else None, "photo_token": row.token if row else None}
