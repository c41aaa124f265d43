"""The staff register's routes: the admin writes, every key reads."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.clock import Now
from app.db import Session
from app.registry import staff as service
from app.registry import staff_photo
from app.registry.schemas import StaffImport, StaffImportResult, StaffIn, StaffOut

router = APIRouter(prefix="/v1", tags=["registry"])

StaffIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$", examples=["0123"])
]
_PROBLEM = {"content": {"application/problem+json": {}}}


@router.put(
    "/staff/{staff_id}",
    response_model=StaffOut,
    responses={
        201: {"model": StaffOut, "description": "Created"},
        422: {"description": "Bad field or unknown department", **_PROBLEM},
    },
)
async def put_staff(
    staff_id: StaffIdPath, body: StaffIn, session: Session, response: Response, _: AdminPrincipal
):
    """Register or replace a staff member (工号 → name, department, window); deactivate with
    `active: false`. Ratings of an unregistered id still count (shown as the id)."""
    staff, created = await service.put_staff(session, staff_id, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return staff


@router.post(
    "/staff/import",
    response_model=StaffImportResult,
    responses={422: {"description": "Bad item (the problem names it)", **_PROBLEM}},
)
async def import_staff(body: StaffImport, session: Session, _: AdminPrincipal):
    """Upsert a centre's staff list in one call (all or nothing)."""
    staff, created = await service.import_staff(session, body.staff)
    return {"created": created, "updated": len(staff) - created, "staff": staff}


@router.get("/staff", response_model=list[StaffOut])
async def list_staff(
    session: Session,
    _: CurrentPrincipal,
    department_code: Annotated[str | None, Query(max_length=64)] = None,
    active: bool | None = None,
):
    """The register, optionally one department's or only the active (inactive) members."""
    return await service.list_staff(session, department_code=department_code, active=active)


@router.get(
    "/staff/{staff_id}",
    response_model=StaffOut,
    responses={404: {"description": "Not registered", **_PROBLEM}},
)
async def get_staff(staff_id: StaffIdPath, session: Session, _: CurrentPrincipal):
    """One registered staff member."""
    return await service.get_staff(session, staff_id)


_IMAGE = {"content": {"image/jpeg": {}, "image/png": {}}}


def photo_response(photo) -> Response:
    """The stored bytes under the type read from them (never sniffed again by a browser)."""
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={
            "Cache-Control": "private, no-cache",
            "ETag": f'"{photo.token}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.put(
    "/staff/{staff_id}/photo",
    status_code=status.HTTP_204_NO_CONTENT,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "maxLength": staff_photo.MAX_PHOTO_BYTES,
                    }
                }
                for kind in ("image/jpeg", "image/png")
            },
        }
    },
    responses={
        404: {"description": "Not registered", **_PROBLEM},
        413: {"description": "Over 512 KiB", **_PROBLEM},
        415: {"description": "Not sent as image/jpeg or image/png", **_PROBLEM},
        422: {"description": "The bytes are not a JPEG or PNG image", **_PROBLEM},
    },
)
async def put_photo(
    staff_id: StaffIdPath, request: Request, session: Session, now: Now, _: AdminPrincipal
):
    """A registered staff member's photo (JPEG or PNG, at most 512 KiB; its type is read from
    the bytes), shown on the tablet beside the name; replaces the earlier one."""
    await staff_photo.put_photo(
        session, staff_id, await request.body(), request.headers.get("content-type"), now=now
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/staff/{staff_id}/photo",
    response_class=Response,
    responses={200: {"description": "The photo", **_IMAGE}, 404: _PROBLEM},
)
async def get_photo(staff_id: StaffIdPath, session: Session, _: CurrentPrincipal):
    """A staff member's photo, as stored."""
    return photo_response(await staff_photo.get_photo(session, staff_id))


@router.delete(
    "/staff/{staff_id}/photo",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: _PROBLEM},
)
async def delete_photo(staff_id: StaffIdPath, session: Session, _: AdminPrincipal):
    """Remove a staff member's photo (the tablet then shows the name alone)."""
    await staff_photo.delete_photo(session, staff_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
