import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.auth import service as auth
from app.auth.dependencies import AdminPrincipal, CurrentPrincipal
from app.db import Session
from app.registry import service
from app.registry.schemas import (
    DepartmentImport,
    DepartmentIn,
    DepartmentOut,
    DepartmentUpdate,
    DeviceCreated,
    DeviceIn,
    DeviceOut,
    DeviceUpdate,
    ImportResult,
    WindowIn,
    WindowOut,
    WindowUpdate,
)

router = APIRouter(prefix="/v1", tags=["registry"])

# The same rules as the columns (and as codes in an import): a bad path is a 422, not a 500.
DepartmentCode = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", examples=["SJ"])
]
WindowNo = Annotated[str, Path(min_length=1, max_length=32, examples=["A01"])]


@router.put(
    "/departments/{code}",
    response_model=DepartmentOut,
    responses={201: {"model": DepartmentOut, "description": "Created"}},
)
async def put_department(
    code: DepartmentCode,
    body: DepartmentIn,
    session: Session,
    response: Response,
    _: AdminPrincipal,
):
    """Create or update a department. Deactivate with `active: false`; history is kept."""
    department, created = await service.put_department(session, code, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return department


@router.patch("/departments/{code}", response_model=DepartmentOut)
async def patch_department(
    code: DepartmentCode, body: DepartmentUpdate, session: Session, _: AdminPrincipal
):
    """Change some fields of a department, e.g. `{"active": false}` to deactivate it."""
    return await service.patch_department(session, code, body)


@router.post("/departments/import", response_model=ImportResult)
async def import_departments(body: DepartmentImport, session: Session, _: AdminPrincipal):
    """Upsert a centre's department list (30–120 departments) in one call."""
    departments, created = await service.import_departments(session, body.departments)
    return {"created": created, "updated": len(departments) - created, "departments": departments}


@router.get("/departments", response_model=list[DepartmentOut])
async def list_departments(
    session: Session, _: CurrentPrincipal, active: bool | None = Query(default=None)
):
    """All departments, optionally only the active (or inactive) ones."""
    return await service.list_departments(session, active)


@router.get("/departments/{code}", response_model=DepartmentOut)
async def get_department(code: DepartmentCode, session: Session, _: CurrentPrincipal):
    return await service.get_department(session, code)


@router.get("/departments/{code}/windows", response_model=list[WindowOut])
async def list_windows(code: DepartmentCode, session: Session, _: CurrentPrincipal):
    """The service windows of a department."""
    return await service.list_windows(session, code)


@router.put(
    "/departments/{code}/windows/{window_no}",
    response_model=WindowOut,
    responses={201: {"model": WindowOut, "description": "Created"}},
)
async def put_window(
    code: DepartmentCode,
    window_no: WindowNo,
    body: WindowIn,
    session: Session,
    response: Response,
    _: AdminPrincipal,
):
    """Create or update a window of a department."""
    window, created = await service.put_window(session, code, window_no, body)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return window


@router.patch("/departments/{code}/windows/{window_no}", response_model=WindowOut)
async def patch_window(
    code: DepartmentCode,
    window_no: WindowNo,
    body: WindowUpdate,
    session: Session,
    _: AdminPrincipal,
):
    """Change some fields of a window, e.g. `{"active": false}` to close it."""
    return await service.patch_window(session, code, window_no, body)


@router.post("/devices", status_code=status.HTTP_201_CREATED, response_model=DeviceCreated)
async def register_device(body: DeviceIn, session: Session, _: AdminPrincipal):
    """Register a tablet evaluator at a window; the response carries its key, shown once."""
    client = await auth.create_client(
        session, name=f"device {body.serial_no}", role="device", department_code=None
    )
    device = await service.register_device(session, body, client.id)
    api_key, key = await auth.issue_key(session, client.id)
    return {**DeviceOut.model_validate(device).model_dump(), "key": key, "key_id": api_key.id}


@router.get("/devices", response_model=list[DeviceOut])
async def list_devices(
    session: Session,
    _: AdminPrincipal,
    department_code: str | None = Query(default=None, max_length=64),
):
    return await service.list_devices(session, department_code)


@router.patch("/devices/{device_id}", response_model=DeviceOut)
async def update_device(
    device_id: uuid.UUID, body: DeviceUpdate, session: Session, _: AdminPrincipal
):
    """Move a device to another window or deactivate it (`active: false`)."""
    return await service.update_device(session, device_id, body)
